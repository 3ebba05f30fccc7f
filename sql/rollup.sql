-- gridkit rollups: the registry, the change log filled by statement
-- triggers on each source, and the SQL entry points. Definitions, refresh
-- and the coverage check are in Rust (src/rollup.rs over
-- crates/timeseries/src/rollup.rs).

-- Exact sums of floating-point columns, as rollups keep them: the same
-- numeric as sum(v::numeric) and sum(v::numeric * v::numeric), computed
-- without a numeric per row (src/exact_sum.rs).
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT * FROM (VALUES ('_exact_sum'), ('_exact_sum_squares')) f(name),
                           (VALUES ('double precision'), ('real')) t(arg) LOOP
        EXECUTE format('CREATE AGGREGATE gridkit.%I(%s) (
                            SFUNC = gridkit.%I, STYPE = internal, FINALFUNC = gridkit._exact_sum_final,
                            COMBINEFUNC = gridkit._exact_sum_combine, SERIALFUNC = gridkit._exact_sum_serialize,
                            DESERIALFUNC = gridkit._exact_sum_deserialize, PARALLEL = SAFE)',
                       a.name, a.arg, a.name || '_step');
    END LOOP;
END
$$;

CREATE TABLE gridkit.rollup (
    name          text PRIMARY KEY,
    relid         regclass NOT NULL UNIQUE,
    realtime      regclass NOT NULL,
    source        regclass NOT NULL,
    source_rollup text REFERENCES gridkit.rollup (name),
    raw_source    regclass NOT NULL,
    time_column   name NOT NULL,
    bucket        interval NOT NULL,
    group_by      text[] NOT NULL,
    aggregates    jsonb NOT NULL,
    timezone      text NOT NULL,
    watermark     timestamptz,
    refreshed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A hash-distributed Citus source's <source>_rollup_changes: its shard
    -- triggers log there, colocated with the rows they wrote, and a
    -- refresh moves the log into rollup_invalidation for every rollup of
    -- the source.
    citus_changes regclass
);
COMMENT ON TABLE gridkit.rollup IS 'Rollups: buckets before the watermark are materialized in the rollup table';
SELECT pg_catalog.pg_extension_config_dump('gridkit.rollup', '');

-- Time ranges of source rows changed since the last refresh, per rollup:
-- one row per writing statement (lower and upper are the least and greatest
-- time it touched, both included).
CREATE TABLE gridkit.rollup_invalidation (
    rollup text NOT NULL,
    lower  timestamptz NOT NULL,
    upper  timestamptz NOT NULL
);
CREATE INDEX ON gridkit.rollup_invalidation (rollup);
SELECT pg_catalog.pg_extension_config_dump('gridkit.rollup_invalidation', '');

-- The statement trigger on every rollup source and on each of its
-- partitions (a statement that names a partition fires that partition's
-- statement triggers, not the parent's). SECURITY DEFINER: whoever may
-- write the source may log its changes.
CREATE FUNCTION gridkit._rollup_log() RETURNS trigger
LANGUAGE c SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', '_rollup_log_wrapper';

-- On a Citus worker, from the rollup trigger of a source's shard: logs a
-- changed time range into the shard of the source's change table that is
-- colocated with the written shard (the one holding distribution value
-- `key`), on this node, in this node's part of the transaction. Citus's
-- functions are reached by dynamic SQL only (gridkit runs without Citus).
CREATE FUNCTION gridkit._rollup_log_shard(changes regclass, key anyelement, lower timestamptz, upper timestamptz)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('INSERT INTO %s (key, lower, upper) VALUES ($1, $2, $3)', gridkit._shard_of(changes, key))
      USING key, lower, upper;
END
$$;
REVOKE ALL ON FUNCTION gridkit._rollup_log_shard(regclass, anyelement, timestamptz, timestamptz) FROM PUBLIC;

-- The four statement triggers that see every change to a table, with its
-- transition tables: <prefix>_insert (gridkit_new), _update (gridkit_old
-- and gridkit_new), _delete (gridkit_old) and _truncate, each calling
-- `fn_name` with `args` (SQL text). Rollups and latest values both keep
-- themselves up to date this way. On a Citus table Citus puts them on
-- every shard; it refuses triggers on its tables unless told they are
-- safe, and gridkit's are: each touches only the shard it fires on and
-- the colocated shard of its own log or latest table, on the same node.
-- (Without Citus the setting is a placeholder that nothing reads.)
CREATE FUNCTION gridkit._change_triggers_add(t regclass, prefix text, fn_name text, args text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET citus.enable_unsafe_triggers = on
AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER %1$I AFTER INSERT ON %2$s REFERENCING NEW TABLE AS gridkit_new
                    FOR EACH STATEMENT EXECUTE FUNCTION %3$s(%4$s)', prefix || '_insert', t, fn_name, args);
    EXECUTE format('CREATE TRIGGER %1$I AFTER UPDATE ON %2$s REFERENCING OLD TABLE AS gridkit_old NEW TABLE AS gridkit_new
                    FOR EACH STATEMENT EXECUTE FUNCTION %3$s(%4$s)', prefix || '_update', t, fn_name, args);
    EXECUTE format('CREATE TRIGGER %1$I AFTER DELETE ON %2$s REFERENCING OLD TABLE AS gridkit_old
                    FOR EACH STATEMENT EXECUTE FUNCTION %3$s(%4$s)', prefix || '_delete', t, fn_name, args);
    EXECUTE format('CREATE TRIGGER %1$I AFTER TRUNCATE ON %2$s
                    FOR EACH STATEMENT EXECUTE FUNCTION %3$s(%4$s)', prefix || '_truncate', t, fn_name, args);
END
$$;

CREATE FUNCTION gridkit._change_triggers_drop(t regclass, prefix text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET citus.enable_unsafe_triggers = on
AS $$
DECLARE
    op text;
BEGIN
    FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', prefix || '_' || op, t);
    END LOOP;
END
$$;

-- Puts the change-logging triggers on a rollup source and its partitions
-- (those missing them; partitions made later get them when attached).
-- On a hash-distributed Citus source Citus puts the INSERT, UPDATE and
-- DELETE triggers on every shard, where they log to the colocated change
-- table (their arguments name it and the distribution column); it makes
-- no TRUNCATE trigger on shards, so TRUNCATE is logged on the coordinator
-- as for a plain table.
CREATE FUNCTION gridkit._rollup_watch(source regclass, time_column name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
    args text := quote_literal(time_column);
    changes regclass;
BEGIN
    SELECT r.citus_changes INTO changes FROM gridkit.rollup r
     WHERE r.source = _rollup_watch.source AND r.citus_changes IS NOT NULL LIMIT 1;
    IF changes IS NOT NULL THEN
        args := format('%s, %L, %L', args, changes, gridkit._citus_distribution_column(source));
    END IF;
    FOR t IN SELECT source UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = source LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = t AND tgname = 'gridkit_rollup_insert');
        PERFORM gridkit._change_triggers_add(t, 'gridkit_rollup', 'gridkit._rollup_log', args);
    END LOOP;
END
$$;

-- Moves what the shards of a Citus source logged into rollup_invalidation,
-- one row per rollup of the source, in the caller's distributed
-- transaction: a refresh that aborts puts the log back with it.
CREATE FUNCTION gridkit._rollup_take_citus_changes(changes regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    taken bigint;
BEGIN
    EXECUTE format('WITH taken AS (DELETE FROM %s RETURNING lower, upper)
                    INSERT INTO gridkit.rollup_invalidation (rollup, lower, upper)
                    SELECT r.name, t.lower, t.upper FROM taken t CROSS JOIN gridkit.rollup r
                     WHERE r.citus_changes = $1', changes) USING changes;
    GET DIAGNOSTICS taken = ROW_COUNT;
    RETURN taken;
END
$$;

-- Changes of a rollup not yet applied: its own log, and on a Citus source
-- what the shards logged since the last refresh of any of its rollups.
CREATE FUNCTION gridkit._rollup_pending(rollup text) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
    changes regclass;
    on_shards bigint := 0;
BEGIN
    SELECT count(*) INTO n FROM gridkit.rollup_invalidation i WHERE i.rollup = _rollup_pending.rollup;
    SELECT r.citus_changes INTO changes FROM gridkit.rollup r WHERE r.name = _rollup_pending.rollup;
    IF changes IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM %s', changes) INTO on_shards;
    END IF;
    RETURN n + on_shards;
END
$$;

-- The guard of every realtime view (it reads the rollup and the source as
-- the view's owner): its reader must be able to read all of the raw source,
-- which the buckets aggregate. True, or 42501 saying why.
CREATE FUNCTION gridkit._rollup_readable(rollup text) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    raw regclass;
BEGIN
    SELECT r.raw_source INTO raw FROM gridkit.rollup r WHERE r.name = rollup;
    IF raw IS NULL THEN
        RAISE EXCEPTION 'rollup "%" does not exist', rollup USING ERRCODE = '42704';
    END IF;
    IF gridkit._relation_access(raw) <> 'full' THEN
        RAISE EXCEPTION 'rollup "%" cannot be shown to role %: its buckets aggregate every row of %, and the role may not read all of them',
              rollup, current_user, raw USING ERRCODE = '42501',
              HINT = 'Read the source itself, which shows the role its own rows, or give it SELECT on every column and no row-level security limiting it.';
    END IF;
    RETURN true;
END
$$;

CREATE FUNCTION gridkit.rollup_create(
    name text,
    source regclass,
    time_column name,
    bucket interval,
    group_by text[],
    aggregates jsonb,
    timezone text DEFAULT 'UTC'
) RETURNS regclass
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR source IS NULL OR time_column IS NULL OR bucket IS NULL OR group_by IS NULL
       OR aggregates IS NULL OR timezone IS NULL THEN
        RAISE EXCEPTION 'rollup_create: no argument may be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN gridkit._rollup_create(name, source::oid, time_column::text, bucket, group_by, aggregates, timezone)::regclass;
END
$$;
COMMENT ON FUNCTION gridkit.rollup_create(text, regclass, name, interval, text[], jsonb, text) IS
    'Creates a rollup table (and a <name>_realtime view) of per-bucket aggregates kept up to date by rollup_refresh';

CREATE FUNCTION gridkit.rollup_drop(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r gridkit.rollup;
    dependent text;
BEGIN
    PERFORM gridkit._require_primary('gridkit.rollup_drop');
    SELECT * INTO r FROM gridkit.rollup WHERE rollup.name = rollup_drop.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rollup "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    SELECT string_agg(d.name, ', ') INTO dependent FROM gridkit.rollup d WHERE d.source_rollup = r.name;
    IF dependent IS NOT NULL THEN
        RAISE EXCEPTION 'rollup "%" is the source of rollup %', name, dependent USING ERRCODE = '2BP01',
            HINT = 'Drop those rollups first.';
    END IF;
    DELETE FROM gridkit.rollup WHERE rollup.name = r.name;
    DELETE FROM gridkit.rollup_invalidation WHERE rollup = r.name;
    EXECUTE format('DROP VIEW IF EXISTS %s', r.realtime);
    EXECUTE format('DROP TABLE IF EXISTS %s', r.relid);
    IF NOT EXISTS (SELECT 1 FROM gridkit.rollup o WHERE o.source = r.source) THEN
        PERFORM gridkit._change_triggers_drop(t, 'gridkit_rollup')
           FROM (SELECT r.source UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = r.source) x(t);
        IF r.citus_changes IS NOT NULL THEN
            EXECUTE format('DROP TABLE %s', r.citus_changes);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION gridkit.rollup_drop(text) IS 'Drops a rollup: its table, its realtime view and its change log';

CREATE VIEW gridkit.rollups AS
SELECT r.name, r.relid AS "table", r.realtime, r.source, r.source_rollup, r.time_column, r.bucket, r.timezone,
       r.group_by, r.aggregates, r.watermark, r.refreshed_at,
       gridkit._rollup_pending(r.name) AS pending_changes
  FROM gridkit.rollup r;
COMMENT ON VIEW gridkit.rollups IS 'Rollups with their watermark and the number of source changes not yet applied';

-- Rollups in the order a refresh must take them: sources first.
CREATE FUNCTION gridkit._rollups_in_order() RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE chain(name, depth) AS (
        SELECT r.name, 0 FROM gridkit.rollup r WHERE r.source_rollup IS NULL
        UNION ALL
        SELECT r.name, c.depth + 1 FROM gridkit.rollup r JOIN chain c ON r.source_rollup = c.name
    )
    SELECT name FROM chain ORDER BY depth, name
$$;

GRANT SELECT ON gridkit.rollup, gridkit.rollups TO PUBLIC;
REVOKE ALL ON FUNCTION gridkit.rollup_create(text, regclass, name, interval, text[], jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._rollup_create(text, oid, text, interval, text[], jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.rollup_drop(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.rollup_refresh(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._rollup_watch(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._rollup_take_citus_changes(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._change_triggers_add(regclass, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._change_triggers_drop(regclass, text) FROM PUBLIC;
