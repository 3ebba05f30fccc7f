-- gridkit indices: the safety constants, the SQL entry points of the
-- safety index (formulas in Rust, crates/indices; docs/INDICES.md) and the
-- aggregates rollups use.

CREATE TABLE gridkit.safety_constants (
    id                 bigserial PRIMARY KEY,
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz NOT NULL,
    vru_events_max     double precision NOT NULL,
    vehicle_events_max double precision NOT NULL,
    volume_max         double precision NOT NULL,
    speed_variance_max double precision NOT NULL,
    hard_braking_max   double precision NOT NULL,
    speed_p85          double precision NOT NULL,
    source             regclass,
    reference_from     timestamptz,
    reference_to       timestamptz,
    reference_rows     bigint,
    computed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (valid_from < valid_until)
);
COMMENT ON TABLE gridkit.safety_constants IS
    'System-wide normalization constants of the safety index and when they apply (newest computed wins on overlap)';
SELECT pg_catalog.pg_extension_config_dump('gridkit.safety_constants', '');
SELECT pg_catalog.pg_extension_config_dump('gridkit.safety_constants_id_seq', '');

CREATE FUNCTION gridkit.safety_constants_compute(
    source regclass,
    valid_from timestamptz,
    valid_until timestamptz,
    reference_from timestamptz DEFAULT NULL,
    reference_to timestamptz DEFAULT NULL
) RETURNS gridkit.safety_constants
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rf timestamptz := coalesce(reference_from, valid_from);
    rt timestamptz := coalesce(reference_to, valid_until);
    c gridkit.safety_constants;
BEGIN
    PERFORM gridkit._require_primary('gridkit.safety_constants_compute');
    IF source IS NULL OR valid_from IS NULL OR valid_until IS NULL THEN
        RAISE EXCEPTION 'safety_constants_compute: source, valid_from and valid_until must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF valid_from >= valid_until OR rf >= rt THEN
        RAISE EXCEPTION 'safety_constants_compute: a window must start before it ends' USING ERRCODE = '22023';
    END IF;
    EXECUTE format('SELECT count(*), max(vru_events), max(vehicle_events), max(volume), max(speed_variance), max(hard_braking),
                           percentile_cont(0.85) WITHIN GROUP (ORDER BY avg_speed)
                      FROM %s WHERE ts >= $1 AND ts < $2', source)
       INTO c.reference_rows, c.vru_events_max, c.vehicle_events_max, c.volume_max, c.speed_variance_max,
            c.hard_braking_max, c.speed_p85
      USING rf, rt;
    IF c.reference_rows = 0 THEN
        RAISE EXCEPTION 'safety_constants_compute: % has no rows in [%, %)', source, rf, rt USING ERRCODE = '22023';
    END IF;
    IF least(c.vru_events_max, c.vehicle_events_max, c.volume_max, c.hard_braking_max) < 0
       OR c.speed_variance_max < 0 OR c.speed_p85 < 0 THEN
        RAISE EXCEPTION 'safety_constants_compute: % holds negative values in [%, %)', source, rf, rt USING ERRCODE = '22023';
    END IF;
    -- Missing speeds everywhere: no speeding or variance term.
    INSERT INTO gridkit.safety_constants (valid_from, valid_until, vru_events_max, vehicle_events_max, volume_max,
                                          speed_variance_max, hard_braking_max, speed_p85, source, reference_from,
                                          reference_to, reference_rows)
    VALUES (valid_from, valid_until, coalesce(c.vru_events_max, 0), coalesce(c.vehicle_events_max, 0),
            coalesce(c.volume_max, 0), coalesce(c.speed_variance_max, 0), coalesce(c.hard_braking_max, 0),
            coalesce(c.speed_p85, 0), source, rf, rt, c.reference_rows)
    RETURNING * INTO c;
    RETURN c;
END
$$;
COMMENT ON FUNCTION gridkit.safety_constants_compute(regclass, timestamptz, timestamptz, timestamptz, timestamptz) IS
    'Computes the safety index constants over a reference window of a minute-level table and stores them with their validity';

CREATE FUNCTION gridkit.safety_compute(
    source regclass,
    target regclass,
    "from" timestamptz,
    "to" timestamptz,
    method text DEFAULT 'blend',
    k double precision DEFAULT 50,
    timezone text DEFAULT 'UTC'
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL OR target IS NULL OR "from" IS NULL OR "to" IS NULL OR method IS NULL OR k IS NULL OR timezone IS NULL THEN
        RAISE EXCEPTION 'safety_compute: no argument may be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN gridkit._safety_compute(source::oid, target::oid, "from", "to", method, k, timezone);
END
$$;
COMMENT ON FUNCTION gridkit.safety_compute(regclass, regclass, timestamptz, timestamptz, text, double precision, text) IS
    'Computes the safety indices (raw and adjusted) of every minute of a range in one pass and writes them to a target table';

-- A target table with the columns safety_compute writes; an unqualified
-- name goes where the caller's CREATE TABLE would put it.
CREATE FUNCTION gridkit.safety_target_create(target text) RETURNS regclass
LANGUAGE plpgsql
AS $$
DECLARE
    -- The name as the caller wrote it, each part quoted (parse_ident raises
    -- 22023-class errors on anything that is not a name).
    qualified text := (SELECT string_agg(quote_ident(part), '.') FROM unnest(parse_ident(target)) part);
BEGIN
    PERFORM gridkit._require_primary('gridkit.safety_target_create');
    EXECUTE format('CREATE TABLE %s (
        ts timestamptz NOT NULL, intersection_id integer NOT NULL, traffic_volume integer NOT NULL,
        vru_event_count integer NOT NULL, vehicle_event_count integer NOT NULL,
        vru_index double precision NOT NULL, vru_index_eb double precision NOT NULL,
        vehicle_index double precision NOT NULL, vehicle_index_eb double precision NOT NULL,
        combined_index double precision NOT NULL, combined_index_eb double precision NOT NULL,
        PRIMARY KEY (intersection_id, ts))', qualified);
    RETURN qualified::regclass;
END
$$;

-- Minutes at high risk: an adjusted combined index above 75.
CREATE FUNCTION gridkit._high_risk_step(n bigint, x double precision) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT n + (coalesce(x, 0) > 75)::int $$;
CREATE AGGREGATE gridkit.high_risk_minutes(double precision) (
    SFUNC = gridkit._high_risk_step, STYPE = bigint, INITCOND = '0', COMBINEFUNC = pg_catalog.int8pl, PARALLEL = SAFE
);
COMMENT ON AGGREGATE gridkit.high_risk_minutes(double precision) IS 'Number of values above 75 (high-risk minutes)';

-- The share of the expected rows present in [from, to) at one row per step,
-- in [0, 1].
CREATE FUNCTION gridkit.data_quality(present bigint, "from" timestamptz, "to" timestamptz, step interval DEFAULT '1 minute')
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN $2 >= $3 OR $4 <= interval '0' THEN NULL
                ELSE least(1.0, greatest(0.0, $1 / (extract(epoch FROM $3 - $2) / extract(epoch FROM $4))))::float8 END
$$;
COMMENT ON FUNCTION gridkit.data_quality(bigint, timestamptz, timestamptz, interval) IS
    'Share of expected rows present in a period (one row per step expected), between 0 and 1';

-- Congestion. Column names are the caller's; every result carries the ISO
-- (when an ISO column is named) and zone keys.

-- Per zone, local hour of day and month: mean, mean absolute and maximum
-- absolute congestion component, and the hours behind them.
CREATE FUNCTION gridkit.congestion_zone_stats(
    source regclass,
    "from" timestamptz,
    "to" timestamptz,
    zone_column name DEFAULT 'zone',
    iso_column name DEFAULT NULL,
    time_column name DEFAULT 'ts',
    congestion_column name DEFAULT 'congestion',
    timezone text DEFAULT 'UTC'
) RETURNS TABLE (iso text, zone text, hour_local integer, month integer, avg_congestion double precision,
                 avg_abs_congestion double precision, max_abs_congestion double precision, hours bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM gridkit._ts_check_window("from", "to");
    PERFORM pg_catalog.timezone(congestion_zone_stats.timezone, now());
    RETURN QUERY EXECUTE format(
        'SELECT %1$s, %2$I::text, date_part(''hour'', timezone($3, %3$I))::int, date_part(''month'', timezone($3, %3$I))::int,
                avg(%4$I)::float8, avg(abs(%4$I))::float8, max(abs(%4$I))::float8, count(%4$I)
           FROM %5$s WHERE %3$I >= $1 AND %3$I < $2 AND %2$I IS NOT NULL
          GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4, 3',
        CASE WHEN iso_column IS NULL THEN 'NULL::text' ELSE format('%I::text', iso_column) END,
        zone_column, time_column, congestion_column, source)
      USING "from", "to", congestion_zone_stats.timezone;
END
$$;
COMMENT ON FUNCTION gridkit.congestion_zone_stats(regclass, timestamptz, timestamptz, name, name, name, name, text) IS
    'Per zone, local hour and month: average, average absolute and maximum absolute congestion component';

CREATE FUNCTION gridkit.zone_classify(
    source regclass,
    "from" timestamptz,
    "to" timestamptz,
    zone_column name DEFAULT 'zone',
    iso_column name DEFAULT NULL,
    time_column name DEFAULT 'ts',
    lmp_column name DEFAULT 'lmp',
    energy_column name DEFAULT 'energy',
    congestion_column name DEFAULT 'congestion',
    loss_column name DEFAULT 'loss',
    threshold double precision DEFAULT 5,
    timezone text DEFAULT 'UTC'
) RETURNS TABLE (iso text, zone text, hours bigint, congestion_ratio double precision,
                 congestion_volatility double precision, congested_share double precision, peak_share double precision,
                 energy_deviation double precision, energy_volatility double precision, loss_ratio double precision,
                 high_energy_share double precision, transmission_score double precision,
                 generation_score double precision, classification text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL OR "from" IS NULL OR "to" IS NULL OR zone_column IS NULL OR time_column IS NULL OR lmp_column IS NULL
       OR energy_column IS NULL OR congestion_column IS NULL OR loss_column IS NULL OR threshold IS NULL OR timezone IS NULL THEN
        RAISE EXCEPTION 'zone_classify: only iso_column may be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY SELECT * FROM gridkit._zone_classify(source::oid, "from", "to", zone_column::text, iso_column::text,
        time_column::text, lmp_column::text, energy_column::text, congestion_column::text, loss_column::text,
        threshold, timezone);
END
$$;
COMMENT ON FUNCTION gridkit.zone_classify(regclass, timestamptz, timestamptz, name, name, name, name, name, name, name, double precision, text) IS
    'Per zone: transmission and generation scores from LMP components, normalized across the ISO''s zones, and a classification';

CREATE FUNCTION gridkit.pnode_severity(
    source regclass,
    "from" timestamptz,
    "to" timestamptz,
    node_column name DEFAULT 'pnode_id',
    zone_column name DEFAULT 'zone',
    iso_column name DEFAULT NULL,
    time_column name DEFAULT 'ts',
    congestion_column name DEFAULT 'congestion',
    min_hours integer DEFAULT 168,
    threshold double precision DEFAULT 5
) RETURNS TABLE (iso text, zone text, pnode text, hours bigint, avg_abs_congestion double precision,
                 congested_share double precision, severity_score double precision, tier text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL OR "from" IS NULL OR "to" IS NULL OR node_column IS NULL OR zone_column IS NULL OR time_column IS NULL
       OR congestion_column IS NULL OR min_hours IS NULL OR threshold IS NULL THEN
        RAISE EXCEPTION 'pnode_severity: only iso_column may be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN QUERY SELECT * FROM gridkit._pnode_severity(source::oid, "from", "to", node_column::text, zone_column::text,
        iso_column::text, time_column::text, congestion_column::text, min_hours, threshold);
END
$$;
COMMENT ON FUNCTION gridkit.pnode_severity(regclass, timestamptz, timestamptz, name, name, name, name, name, integer, double precision) IS
    'Per pricing node: severity score in [0, 1] within its zone and a tier (critical, elevated, moderate, low)';

GRANT SELECT ON gridkit.safety_constants TO PUBLIC;
REVOKE ALL ON FUNCTION gridkit.safety_constants_compute(regclass, timestamptz, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.safety_compute(regclass, regclass, timestamptz, timestamptz, text, double precision, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._safety_compute(oid, oid, timestamptz, timestamptz, text, double precision, text) FROM PUBLIC;
