-- gridkit series reads and rewrites: the latest row per key kept by
-- statement triggers, freshness per key, history routed to raw rows or a
-- rollup by range, and atomic replacement of a time range.

CREATE TABLE gridkit.latest (
    source      regclass PRIMARY KEY,
    latest      regclass NOT NULL UNIQUE,
    key_columns text[] NOT NULL,
    time_column name NOT NULL,
    expected    interval NOT NULL
);
COMMENT ON TABLE gridkit.latest IS 'Sources with a <source>_latest table (one row per key), see gridkit.latest_enable';
SELECT pg_catalog.pg_extension_config_dump('gridkit.latest', '');

-- SQL fragments of a latest table: the key list, the key join of aliases
-- a and b, and the non-key column list.
CREATE FUNCTION gridkit._latest_sql(l gridkit.latest, OUT keys text, OUT key_join text, OUT key_not_null text,
                                    OUT cols text, OUT updates text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT string_agg(quote_ident(k), ', ') FROM unnest(l.key_columns) k),
           (SELECT string_agg(format('a.%1$I = b.%1$I', k), ' AND ') FROM unnest(l.key_columns) k),
           (SELECT string_agg(format('%I IS NOT NULL', k), ' AND ') FROM unnest(l.key_columns) k),
           (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
             WHERE a.attrelid = l.latest AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT string_agg(format('%1$I = EXCLUDED.%1$I', a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
             WHERE a.attrelid = l.latest AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> ALL (l.key_columns))
$$;

-- The statements replacing the latest rows of the keys in `keys_from`
-- (SQL of a relation with the key columns) by the newest source rows of
-- those keys. The trigger runs them itself: transition tables are visible
-- only to its own statements.
CREATE FUNCTION gridkit._latest_recompute_sql(l gridkit.latest, keys_from text) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record := gridkit._latest_sql(l);
    keys text := format('(SELECT DISTINCT %s FROM %s WHERE %s)', s.keys, keys_from, s.key_not_null);
    a_keys text := (SELECT string_agg('a.' || quote_ident(k), ', ') FROM unnest(l.key_columns) k);
BEGIN
    RETURN ARRAY[
        format('DELETE FROM %s a USING %s b WHERE %s', l.latest, keys, s.key_join),
        format('INSERT INTO %s (%s) SELECT DISTINCT ON (%s) %s FROM %s a JOIN %s b ON %s ORDER BY %s, a.%I DESC',
               l.latest, s.cols, a_keys,
               (SELECT string_agg('a.' || c, ', ') FROM unnest(string_to_array(s.cols, ', ')) c),
               l.source, keys, s.key_join, a_keys, l.time_column)];
END
$$;

-- The statement trigger keeping a latest table: inserts upsert the newest
-- row per key of the statement (newer than what is kept); updates and
-- deletes recompute their keys from the source.
--
-- On a hash-distributed Citus source it runs on each shard, on the worker
-- holding it (gridkit.latest is the coordinator's alone: its arguments
-- say the latest table, the distribution column, the keys and the time
-- column). The latest table is distributed colocated with the source, so
-- the keys a shard's statement wrote have their latest rows in the
-- colocated shard on the same node: the trigger keeps that shard from
-- this shard's rows, in the write's own transaction there. TRUNCATE,
-- which Citus runs on the coordinator only, truncates the whole table.
CREATE FUNCTION gridkit._latest_track() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l gridkit.latest;
    s record;
    stmt text;
    shard regclass;
BEGIN
    IF TG_NARGS = 4 AND TG_OP <> 'TRUNCATE' THEN
        EXECUTE format('SELECT gridkit._shard_of(%L::regclass, %I) FROM %I LIMIT 1', TG_ARGV[0], TG_ARGV[1],
                       CASE TG_OP WHEN 'DELETE' THEN 'gridkit_old' ELSE 'gridkit_new' END) INTO shard;
        IF shard IS NULL THEN
            RETURN NULL;
        END IF;
        l := ROW(TG_RELID::regclass, shard, TG_ARGV[2]::text[], TG_ARGV[3]::name, interval '0');
    ELSE
        SELECT * INTO l FROM gridkit.latest WHERE source = TG_RELID;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    s := gridkit._latest_sql(l);
    IF TG_OP = 'INSERT' THEN
        -- The newest row per key by a hash aggregate and a join, not a sort
        -- of the whole batch (a COPY of millions of rows fires this once).
        EXECUTE format('INSERT INTO %1$s AS cur (%2$s)
                        SELECT DISTINCT ON (%3$s) %4$s FROM gridkit_new a
                          JOIN (SELECT %3$s, max(%5$I) AS gridkit_t FROM gridkit_new WHERE %6$s GROUP BY %3$s) b
                            ON %7$s AND a.%5$I = b.gridkit_t
                         ORDER BY %8$s
                        ON CONFLICT (%3$s) DO UPDATE SET %9$s WHERE EXCLUDED.%5$I >= cur.%5$I',
                       l.latest, s.cols, s.keys,
                       (SELECT string_agg('a.' || c, ', ') FROM unnest(string_to_array(s.cols, ', ')) c),
                       l.time_column, s.key_not_null, s.key_join,
                       (SELECT string_agg('a.' || quote_ident(k), ', ') FROM unnest(l.key_columns) k),
                       coalesce(s.updates, format('%1$I = EXCLUDED.%1$I', l.time_column)));
    ELSIF TG_OP IN ('UPDATE', 'DELETE') THEN
        FOREACH stmt IN ARRAY gridkit._latest_recompute_sql(l, CASE TG_OP WHEN 'DELETE' THEN 'gridkit_old'
                ELSE format('(SELECT %1$s FROM gridkit_old UNION SELECT %1$s FROM gridkit_new) u', s.keys) END) LOOP
            EXECUTE stmt;
        END LOOP;
    ELSE
        EXECUTE format('TRUNCATE %s', l.latest);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION gridkit.latest_enable(source regclass, key_columns text[], expected interval DEFAULT '1 hour')
RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(source);
    nsp name;
    rel name;
    tbl text;
    k text;
    l gridkit.latest;
    s record;
    citus text;
    distribution name;
BEGIN
    PERFORM gridkit._require_primary('gridkit.latest_enable');
    IF key_columns IS NULL OR cardinality(key_columns) = 0 OR expected IS NULL THEN
        RAISE EXCEPTION 'latest_enable: key_columns must name at least one column, expected must not be NULL'
            USING ERRCODE = '22023';
    END IF;
    IF expected <= interval '0' THEN
        RAISE EXCEPTION 'expected must be a positive interval, not %', expected USING ERRCODE = '22023';
    END IF;
    FOREACH k IN ARRAY key_columns LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = source AND a.attname = k AND a.attnum > 0
                          AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'column "%" of % does not exist', k, source USING ERRCODE = '42703';
        END IF;
        IF k = t.time_column THEN
            RAISE EXCEPTION 'the time column % cannot be a key', k USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM gridkit.latest x WHERE x.source = latest_enable.source) THEN
        RAISE EXCEPTION 'latest values of % are kept already', source USING ERRCODE = '42710',
            HINT = 'gridkit.latest_disable it first to change the keys.';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    tbl := format('%I.%I', nsp, left(rel, 56) || '_latest');
    citus := gridkit._citus_table(source);
    IF citus IS NOT NULL THEN
        distribution := gridkit._citus_distribution_column(source);
        IF distribution IS NULL THEN
            RAISE EXCEPTION 'latest values of a Citus table (%) are not supported', citus USING ERRCODE = '0A000',
                DETAIL = 'gridkit keeps a Citus table''s latest rows in a table colocated with it by its distribution column; a '
                         || citus || ' table has none (only tables distributed by hash do).',
                HINT = 'Distribute the table by hash (create_distributed_table), or keep it local.';
        END IF;
        IF distribution <> ALL (key_columns) THEN
            RAISE EXCEPTION 'latest values of % must be kept by keys that include its distribution column %', source, distribution
                USING ERRCODE = '0A000',
                DETAIL = 'The latest table is distributed colocated with the source: each key''s row must live on the node of that key''s rows.',
                HINT = format('Add %s to the keys: gridkit.latest_enable(%L, %L).', distribution, source,
                              array_append(key_columns, distribution::text));
        END IF;
        PERFORM gridkit._require_citus_coordinator('a latest table');
    END IF;
    EXECUTE format('CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS)', tbl, source);
    -- gridkit's trigger writes it with gridkit's owner's rights, so nobody
    -- else may own it (an owner's trigger on it would run with those
    -- rights); the source's owner reads it.
    EXECUTE format('ALTER TABLE %s OWNER TO %I', tbl,
                   (SELECT pg_catalog.pg_get_userbyid(e.extowner) FROM pg_catalog.pg_extension e WHERE e.extname = 'gridkit'));
    EXECUTE format('GRANT SELECT ON %s TO %I', tbl,
                   (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.oid = source));
    EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (%s)', tbl,
                   (SELECT string_agg(quote_ident(x), ', ') FROM unnest(key_columns) x));
    IF citus IS NOT NULL THEN
        PERFORM create_distributed_table(tbl, distribution, colocate_with => source::text);
    END IF;
    INSERT INTO gridkit.latest VALUES (source, tbl::regclass, key_columns, t.time_column, expected)
    RETURNING * INTO l;
    s := gridkit._latest_sql(l);
    EXECUTE format('INSERT INTO %s (%s) SELECT DISTINCT ON (%s) %s FROM %s WHERE %s ORDER BY %s, %I DESC',
                   tbl, s.cols, s.keys, s.cols, source, s.key_not_null, s.keys, t.time_column);
    -- On Citus the triggers run on the shards, where gridkit.latest is
    -- empty: their arguments say what it would.
    PERFORM gridkit._change_triggers_add(source, 'gridkit_latest', 'gridkit._latest_track',
            CASE WHEN citus IS NULL THEN ''
                 ELSE format('%L, %L, %L, %L', tbl, distribution, key_columns, t.time_column) END);
    RETURN tbl::regclass;
END
$$;
COMMENT ON FUNCTION gridkit.latest_enable(regclass, text[], interval) IS
    'Keeps a <source>_latest table with the newest row per key, maintained by statement triggers';

CREATE FUNCTION gridkit.latest_disable(source regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l gridkit.latest;
BEGIN
    PERFORM gridkit._require_primary('gridkit.latest_disable');
    DELETE FROM gridkit.latest x WHERE x.source = latest_disable.source RETURNING * INTO l;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'latest values of % are not kept', source USING ERRCODE = '42704';
    END IF;
    PERFORM gridkit._change_triggers_drop(source, 'gridkit_latest');
    EXECUTE format('DROP TABLE %s', l.latest);
END
$$;

-- Per key of every latest table: the last time, its age and a status
-- against the source's expected interval: live (age within it), delayed
-- (within three), stale (older); a source with no row at all shows one
-- row with no key and status 'no data'.
CREATE FUNCTION gridkit._freshness() RETURNS TABLE (source regclass, key jsonb, last_time timestamptz, age interval, status text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l gridkit.latest;
    n bigint;
BEGIN
    -- A latest table holds every key's row: shown only to a role that reads
    -- all of the source (no row-level security, every column).
    FOR l IN SELECT * FROM gridkit.latest
              WHERE gridkit._relation_access(latest.source) = 'full'
              ORDER BY latest.source::text LOOP
        n := 0;
        FOR source, key, last_time IN EXECUTE format('SELECT $1, jsonb_build_object(%s), %I FROM %s ORDER BY 2',
                (SELECT string_agg(format('%L, %I', k, k), ', ') FROM unnest(l.key_columns) k), l.time_column, l.latest)
              USING l.source LOOP
            n := n + 1;
            age := now() - last_time;
            status := CASE WHEN age <= l.expected THEN 'live' WHEN age <= 3 * l.expected THEN 'delayed' ELSE 'stale' END;
            RETURN NEXT;
        END LOOP;
        IF n = 0 THEN
            source := l.source; key := NULL; last_time := NULL; age := NULL; status := 'no data';
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
CREATE VIEW gridkit.freshness AS SELECT * FROM gridkit._freshness();
COMMENT ON VIEW gridkit.freshness IS
    'Per key of every source with latest values: last time, age, and live / delayed / stale / no data';

-- One key's series over [from, to): raw rows when there are at most
-- max_points of them (and retention kept them), else the finest rollup of
-- the source whose buckets over the range number at most max_points (read
-- through its realtime view, so the last hours are there too), else the
-- coarsest rollup merged into max_points equal steps. A rollup qualifies
-- when it groups by every key column, keeps the value's sum and count, and
-- still holds the range.
-- The smallest step of a round length (1 s ... 1 day, then whole days)
-- at least `stride` long: a gap fill's default when history reads raw rows.
CREATE FUNCTION gridkit._history_nice_step(stride interval) RETURNS interval
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT s FROM unnest('{1 s,5 s,10 s,15 s,30 s,1 min,5 min,10 min,15 min,30 min,1 h,2 h,3 h,6 h,12 h,1 day}'::interval[]) s
          WHERE s >= $1 ORDER BY s LIMIT 1),
        make_interval(days => ceil(extract(epoch FROM $1) / 86400)::int))
$$;

-- The steps of a gap fill over [from, to): steps with days or months
-- follow the calendar of `tz` (a local day is 23 or 25 hours across a
-- daylight-saving change) from the local day or month holding `from`;
-- shorter steps are fixed lengths from the local midnight (so hours in a
-- zone half an hour off UTC start at :30 UTC).
CREATE FUNCTION gridkit._history_grid("from" timestamptz, "to" timestamptz, step interval, tz text)
RETURNS TABLE (start timestamptz, next timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    local_from timestamp;
    calendar boolean := extract(year FROM step) <> 0 OR extract(month FROM step) <> 0 OR extract(day FROM step) <> 0;
    base timestamp;
    first timestamptz;
BEGIN
    IF step <= interval '0' THEN
        RAISE EXCEPTION 'history: step must be positive, not %', step USING ERRCODE = '22023';
    END IF;
    BEGIN
        local_from := "from" AT TIME ZONE tz;
    EXCEPTION WHEN invalid_parameter_value THEN
        RAISE EXCEPTION 'history: unknown time zone %', quote_literal(tz) USING ERRCODE = '22023';
    END;
    -- (A month counts 30 days here: the bound only stops runaway grids.)
    IF extract(epoch FROM "to" - "from") / extract(epoch FROM step) > 100000 THEN
        RAISE EXCEPTION 'history: % steps of % over the range; at most 100000',
            ceil(extract(epoch FROM "to" - "from") / extract(epoch FROM step)), step USING ERRCODE = '22023';
    END IF;
    IF calendar THEN
        base := CASE WHEN extract(year FROM step) <> 0 OR extract(month FROM step) <> 0
                     THEN date_trunc('month', local_from) ELSE date_trunc('day', local_from) END;
        RETURN QUERY SELECT s AT TIME ZONE tz, (s + step) AT TIME ZONE tz
                       FROM generate_series(base, "to" AT TIME ZONE tz, step) s
                      WHERE (s + step) AT TIME ZONE tz > "from" AND s AT TIME ZONE tz < "to";
    ELSE
        first := date_bin(step, "from", date_trunc('day', local_from) AT TIME ZONE tz);
        RETURN QUERY SELECT s, s + step FROM generate_series(first, "to" - interval '1 microsecond', step) s;
    END IF;
END
$$;

-- history's rows gap-filled: one row per step of the grid, the rows of a
-- step merged (count-weighted average, min, max,
-- count), and a step without rows NULL ('null') or carrying the last value
-- before it ('locf'; before the first row of the range, the source's last
-- value before it), with count 0.
CREATE FUNCTION gridkit._history_filled(q text, args text[], fill text, step interval, tz text,
                                        "from" timestamptz, "to" timestamptz, seed_q text)
RETURNS TABLE (bucket timestamptz, avg double precision, min double precision, max double precision, count bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seed double precision;
BEGIN
    IF fill = 'locf' AND seed_q IS NOT NULL THEN
        SELECT h.avg INTO seed FROM gridkit._history_rows(seed_q, args) h;
    END IF;
    RETURN QUERY
    WITH grid AS MATERIALIZED (SELECT g.start, g.next FROM gridkit._history_grid("from", "to", step, tz) g),
         base AS (SELECT * FROM gridkit._history_rows(q, args)),
         binned AS (SELECT gr.start,
                           sum(b.avg * b.count) FILTER (WHERE b.avg IS NOT NULL)
                             / nullif(sum(b.count) FILTER (WHERE b.avg IS NOT NULL), 0) AS avg,
                           min(b.min) AS min, max(b.max) AS max, sum(b.count)::bigint AS count
                      FROM grid gr JOIN base b ON b.bucket >= gr.start AND b.bucket < gr.next
                     GROUP BY gr.start),
         joined AS (SELECT gr.start, bn.avg, bn.min, bn.max, coalesce(bn.count, 0)::bigint AS count,
                           count(bn.avg) OVER (ORDER BY gr.start) AS grp
                      FROM grid gr LEFT JOIN binned bn ON bn.start = gr.start)
    SELECT j.start,
           CASE WHEN fill = 'locf' THEN coalesce(first_value(j.avg) OVER w, seed) ELSE j.avg END,
           CASE WHEN fill = 'locf' THEN coalesce(first_value(j.min) OVER w, seed) ELSE j.min END,
           CASE WHEN fill = 'locf' THEN coalesce(first_value(j.max) OVER w, seed) ELSE j.max END,
           j.count
      FROM joined j
    WINDOW w AS (PARTITION BY j.grp ORDER BY j.start)
     ORDER BY j.start;
END
$$;

CREATE FUNCTION gridkit.history(
    source regclass,
    key jsonb,
    "from" timestamptz,
    "to" timestamptz,
    max_points integer DEFAULT 2000,
    value_column name DEFAULT NULL,
    fill text DEFAULT NULL,
    step interval DEFAULT NULL,
    timezone text DEFAULT NULL
) RETURNS TABLE (bucket timestamptz, avg double precision, min double precision, max double precision, count bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(source);
    v text := value_column;
    k text;
    col_type text;
    filter text := 'true';
    -- Every value goes in as a parameter (text, cast in the statement), so
    -- each statement's text depends only on the shape of the call and its
    -- plan is kept (gridkit._history_rows, src/series.rs): $1 from, $2 to,
    -- $3 a row limit, $4 a stride, $5 the watermark, $6 the first bucket,
    -- $7 where live rows start; key values from $8.
    args text[] := ARRAY[gridkit._ts_literal("from"), gridkit._ts_literal("to"), NULL, NULL, NULL, NULL, NULL];
    r record;
    chosen record;
    have_tier boolean := false;
    n bigint;
    span double precision;
    stride interval;
    grouping text;
    rollups_readable boolean;
    -- The statement that reads the rows; for a gap fill, the one that
    -- reads the last value before the range ('locf').
    q text;
    seed_q text;
BEGIN
    IF key IS NULL OR jsonb_typeof(key) <> 'object' THEN
        RAISE EXCEPTION 'history: key must be a JSON object of column to value, e.g. {"ba": "CISO"}' USING ERRCODE = '22023';
    END IF;
    PERFORM gridkit._ts_check_window("from", "to");
    IF max_points IS NULL OR max_points < 1 OR max_points > 100000 THEN
        RAISE EXCEPTION 'history: max_points must be between 1 and 100000, not %', max_points USING ERRCODE = '22023';
    END IF;
    IF fill IS NOT NULL AND fill NOT IN ('null', 'locf') THEN
        RAISE EXCEPTION 'history: fill must be ''null'' or ''locf'', not %', quote_literal(fill) USING ERRCODE = '22023';
    END IF;
    IF fill IS NULL AND (step IS NOT NULL OR timezone IS NOT NULL) THEN
        RAISE EXCEPTION 'history: step and timezone place the steps of a gap fill, which fill => ''null'' or ''locf'' asks for'
            USING ERRCODE = '22023';
    END IF;
    span := extract(epoch FROM "to" - "from");
    stride := make_interval(secs => ceil(span / max_points));
    FOR k IN SELECT jsonb_object_keys(key) LOOP
        SELECT format_type(a.atttypid, a.atttypmod) INTO col_type
          FROM pg_attribute a WHERE a.attrelid = source AND a.attname = k AND a.attnum > 0 AND NOT a.attisdropped;
        IF col_type IS NULL THEN
            RAISE EXCEPTION 'column "%" of % does not exist', k, source USING ERRCODE = '42703';
        END IF;
        IF jsonb_typeof(key -> k) = 'null' THEN
            filter := filter || format(' AND %I IS NULL', k);
        ELSE
            args := args || (key ->> k);
            filter := filter || format(' AND %I = $%s::%s', k, cardinality(args), col_type);
        END IF;
    END LOOP;
    IF v IS NULL THEN
        -- The one column the source's rollups keep a sum and count of, or
        -- the one numeric column that is neither key nor time.
        SELECT min(substr(a.attname, 6)), count(DISTINCT substr(a.attname, 6)) INTO v, n
          FROM gridkit.rollup ro JOIN pg_attribute a ON a.attrelid = ro.relid
         WHERE ro.raw_source = history.source AND a.attname LIKE E'\\_sum\\_%' AND NOT a.attisdropped;
        IF n = 0 THEN
            SELECT min(a.attname), count(*) INTO v, n FROM pg_attribute a
             WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped
               AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                                  'float8'::regtype, 'numeric'::regtype)
               AND a.attname <> t.time_column AND NOT key ? a.attname;
        END IF;
        IF n <> 1 THEN
            RAISE EXCEPTION 'history: % has % candidate value columns', source, n USING ERRCODE = '22023',
                HINT = 'Name one with value_column => ''...''.';
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = source AND a.attname = v AND a.attnum > 0
                         AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of % does not exist', v, source USING ERRCODE = '42703';
    END IF;

    IF fill = 'locf' THEN
        seed_q := format('SELECT %1$I::timestamptz, %2$I::float8, %2$I::float8, %2$I::float8, 1::bigint FROM %3$s
                           WHERE %4$s AND %1$I < $1::timestamptz AND %2$I IS NOT NULL ORDER BY %1$I DESC LIMIT 1',
                         t.time_column, v, source, filter);
    END IF;

    -- Raw rows, when few enough and still there.
    IF t.dropped_before IS NULL OR t.dropped_before <= "from" THEN
        args[3] := (max_points + 1)::text;
        n := gridkit._history_count(format('SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s AND %I >= $1::timestamptz
                                                                   AND %I < $2::timestamptz LIMIT $3::bigint) x',
                                           source, filter, t.time_column, t.time_column), args);
        IF n <= max_points THEN
            q := format('SELECT %1$I::timestamptz, %2$I::float8, %2$I::float8, %2$I::float8, (%2$I IS NOT NULL)::int::bigint
                           FROM %3$s WHERE %4$s AND %1$I >= $1::timestamptz AND %1$I < $2::timestamptz ORDER BY 1',
                        t.time_column, v, source, filter);
            IF fill IS NULL THEN
                RETURN QUERY SELECT * FROM gridkit._history_rows(q, args);
            ELSE
                RETURN QUERY SELECT * FROM gridkit._history_filled(q, args, fill, coalesce(step, gridkit._history_nice_step(stride)),
                    coalesce(timezone, current_setting('TimeZone')), "from", "to", seed_q);
            END IF;
            RETURN;
        END IF;
    END IF;

    -- A rollup aggregates every row of the source: not for a role that sees
    -- only some (it gets its own rows in steps).
    rollups_readable := gridkit._relation_access(history.source) = 'full';
    FOR r IN SELECT ro.name, ro.relid, ro.watermark, extract(epoch FROM ro.bucket) AS width, ro.bucket, ro.timezone,
                    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ro.relid AND a.attname = '_min_' || v) AS has_min,
                    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ro.relid AND a.attname = '_max_' || v) AS has_max
               FROM gridkit.rollup ro LEFT JOIN gridkit.ts_table tt ON tt.relid = ro.relid
              WHERE ro.raw_source = history.source
                AND rollups_readable
                AND ARRAY(SELECT jsonb_object_keys(key)) <@ ro.group_by
                AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ro.relid AND a.attname = '_sum_' || v)
                AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ro.relid AND a.attname = '_count_' || v)
                AND (tt.dropped_before IS NULL OR tt.dropped_before <= "from")
              ORDER BY ro.bucket LOOP
        chosen := r;
        have_tier := true;
        EXIT WHEN extract(epoch FROM "to" - "from") / r.width <= max_points;
    END LOOP;

    IF NOT have_tier THEN
        -- No rollup holds the range: what raw rows are left, in steps.
        args[4] := stride::text;
        q := format('SELECT date_bin($4::interval, %1$I, $1::timestamptz), avg(%2$I)::float8, min(%2$I)::float8, max(%2$I)::float8,
                            count(%2$I) FROM %3$s WHERE %4$s AND %1$I >= $1::timestamptz AND %1$I < $2::timestamptz GROUP BY 1 ORDER BY 1',
                    t.time_column, v, source, filter);
        IF fill IS NULL THEN
            RETURN QUERY SELECT * FROM gridkit._history_rows(q, args);
        ELSE
            RETURN QUERY SELECT * FROM gridkit._history_filled(q, args, fill, coalesce(step, gridkit._history_nice_step(stride)),
                coalesce(timezone, current_setting('TimeZone')), "from", "to", seed_q);
        END IF;
        RETURN;
    END IF;
    args[4] := stride::text;
    grouping := CASE WHEN span / chosen.width <= max_points THEN 'bucket' ELSE 'date_bin($4::interval, bucket, $1::timestamptz)' END;
    -- Every bucket overlapping the range (the first may start before it).
    -- Materialized buckets before the watermark, then the source's rows
    -- after it aggregated on the fly (what the realtime view does, but with
    -- the bounds as parameters: the executor prunes partitions instead of
    -- reading every one).
    args[5] := gridkit._ts_literal(coalesce(chosen.watermark, '-infinity'));
    args[6] := ("from" - chosen.bucket)::text;
    -- A rollup never refreshed has no watermark: everything is live.
    args[7] := gridkit._ts_literal(CASE WHEN chosen.watermark IS NULL THEN "from" ELSE least(chosen.watermark, "to") END);
    q := format('SELECT %1$s, (sum(%2$I) / nullif(sum(%3$I), 0))::float8, %4$s, %5$s, sum(%3$I)::bigint
                  FROM (SELECT * FROM %6$s WHERE bucket < $5::timestamptz
                        UNION ALL
                        SELECT * FROM (%8$s) l) b
                 WHERE %7$s AND bucket > $6::timestamptz AND bucket < $2::timestamptz GROUP BY 1 ORDER BY 1',
               grouping, '_sum_' || v, '_count_' || v,
               CASE WHEN chosen.has_min THEN format('min(%I)::float8', '_min_' || v) ELSE 'NULL::float8' END,
               CASE WHEN chosen.has_max THEN format('max(%I)::float8', '_max_' || v) ELSE 'NULL::float8' END,
               chosen.relid, filter,
               CASE WHEN chosen.watermark IS NULL OR chosen.watermark < "to"
                    THEN gridkit._rollup_live_sql(chosen.name, '$7::timestamptz', '$2::timestamptz')
                    ELSE format('SELECT * FROM %s WHERE false', chosen.relid) END);
    IF fill IS NULL THEN
        RETURN QUERY SELECT * FROM gridkit._history_rows(q, args);
    ELSE
        RETURN QUERY SELECT * FROM gridkit._history_filled(q, args, fill,
            coalesce(step, CASE WHEN grouping = 'bucket' THEN chosen.bucket ELSE gridkit._history_nice_step(stride) END),
            coalesce(timezone, chosen.timezone), "from", "to", seed_q);
    END IF;
END
$$;
COMMENT ON FUNCTION gridkit.history(regclass, jsonb, timestamptz, timestamptz, integer, name, text, interval, text) IS
    'One key''s series over a range: raw rows, or the finest rollup that fits max_points (bucket, avg, min, max, count)';

-- Swaps in `staging`'s rows for [from, to) of a managed table, in one
-- transaction (writers wait; readers see the old rows until commit). The
-- delete and insert go through the table, so rollups and latest values see
-- the change. Returns the rows inserted.
CREATE FUNCTION gridkit.replace_range(target regclass, "from" timestamptz, "to" timestamptz, staging regclass)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(target);
    cols text;
    missing text;
    outside bigint;
    staged bigint;
    n bigint;
BEGIN
    PERFORM gridkit._require_primary('gridkit.replace_range');
    IF "from" IS NULL OR "to" IS NULL OR staging IS NULL THEN
        RAISE EXCEPTION 'replace_range: no argument may be NULL' USING ERRCODE = '22004';
    END IF;
    IF "from" >= "to" THEN
        RAISE EXCEPTION 'replace_range: "from" (%) must be before "to" (%)', "from", "to" USING ERRCODE = '22023';
    END IF;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    SELECT string_agg(quote_ident(a.attname), ', ') INTO missing
      FROM pg_attribute a
     WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
       AND NOT EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = staging AND b.attname = a.attname
                          AND b.attnum > 0 AND NOT b.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'staging table % lacks column(s) % of %', staging, missing, target USING ERRCODE = '42703';
    END IF;
    -- The staging rows are copied before any row of the target is deleted:
    -- a staging view or function may read the target itself (a fixed copy
    -- of the range, or the target named as its own staging), and would see
    -- nothing once the range is gone. The lock comes first, so no write
    -- lands between the copy and the delete.
    EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', target);
    IF pg_catalog.to_regclass('pg_temp.gridkit_replace_range_rows') IS NOT NULL THEN
        DROP TABLE pg_temp.gridkit_replace_range_rows;
    END IF;
    EXECUTE format('CREATE TEMP TABLE gridkit_replace_range_rows ON COMMIT DROP AS SELECT %s FROM %s', cols, staging);
    GET DIAGNOSTICS staged = ROW_COUNT;
    EXECUTE format('SELECT count(*) FROM pg_temp.gridkit_replace_range_rows WHERE NOT (%I >= $1 AND %I < $2) OR %I IS NULL',
                   t.time_column, t.time_column, t.time_column) INTO outside USING "from", "to";
    IF outside > 0 THEN
        RAISE EXCEPTION 'staging table % holds % row(s) outside [%, %)', staging, outside, "from", "to"
            USING ERRCODE = '22023';
    END IF;
    EXECUTE format('DELETE FROM %s WHERE %I >= $1 AND %I < $2', target, t.time_column, t.time_column)
      USING "from", "to";
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.gridkit_replace_range_rows',
                   target, cols, cols);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> staged THEN
        RAISE EXCEPTION 'replace_range: wrote % of % staged rows', n, staged USING ERRCODE = 'XX000';
    END IF;
    DROP TABLE pg_temp.gridkit_replace_range_rows;
    RETURN n;
END
$$;
COMMENT ON FUNCTION gridkit.replace_range(regclass, timestamptz, timestamptz, regclass) IS
    'Replaces the rows of [from, to) of a time-series table by a staging table''s, atomically; rollups are invalidated';

GRANT SELECT ON gridkit.latest, gridkit.freshness TO PUBLIC;
REVOKE ALL ON FUNCTION gridkit.latest_enable(regclass, text[], interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.latest_disable(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.replace_range(regclass, timestamptz, timestamptz, regclass) FROM PUBLIC;
