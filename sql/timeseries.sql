-- gridkit time series: partitioned tables kept ahead of time, late rows
-- moved into their partitions, retention by dropping whole partitions, and
-- one maintenance job for pg_cron. Partition arithmetic is in Rust
-- (gridkit._ts_partition_*); this file does the DDL.

CREATE TABLE gridkit.ts_table (
    relid              regclass PRIMARY KEY,
    time_column        name NOT NULL,
    partition_interval interval NOT NULL,
    premake            integer NOT NULL,
    keep               interval,
    -- Retention has dropped the rows before this instant: rollups do not
    -- re-materialize buckets older than it.
    dropped_before     timestamptz,
    -- Where retention archives a partition before dropping it: a directory
    -- inside gridkit.archive_directory (NULL: it does not).
    archive            text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gridkit.ts_table IS 'Time-series tables managed by gridkit; see gridkit.ts_create and gridkit.retention_set';
SELECT pg_catalog.pg_extension_config_dump('gridkit.ts_table', '');

-- A managed table that is dropped stops being managed.
CREATE FUNCTION gridkit._ts_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM gridkit.ts_table t
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 AND t.relid::oid = d.objid;
    IF to_regclass('gridkit.rollup') IS NOT NULL THEN
        -- A rollup whose table or source is gone stops being a rollup, and
        -- so do the rollups built on it; tables that remain stay as data.
        -- (One statement: DDL here would fire this trigger again.)
        WITH RECURSIVE gone(name) AS (
            SELECT r.name FROM gridkit.rollup r, pg_event_trigger_dropped_objects() d
             WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
               AND d.objid IN (r.relid::oid, r.source::oid)
            UNION
            SELECT r.name FROM gridkit.rollup r JOIN gone g ON r.source_rollup = g.name
        ), log AS (
            DELETE FROM gridkit.rollup_invalidation i USING gone g WHERE i.rollup = g.name
        )
        DELETE FROM gridkit.rollup r USING gone g WHERE r.name = g.name;
    END IF;
    IF to_regclass('gridkit.archives') IS NOT NULL THEN
        -- A restored partition dropped: its rows are in their files again.
        UPDATE gridkit.archives a SET restored_into = NULL, restored_at = NULL, kept_until = NULL
          FROM pg_event_trigger_dropped_objects() d
         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 AND a.restored_into = d.objid;
    END IF;
    IF to_regclass('gridkit.latest') IS NOT NULL THEN
        DELETE FROM gridkit.latest l
         USING pg_event_trigger_dropped_objects() d
         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
           AND d.objid IN (l.source::oid, l.latest::oid);
    END IF;
END
$$;
CREATE EVENT TRIGGER gridkit_ts_dropped ON sql_drop EXECUTE FUNCTION gridkit._ts_dropped();

-- One row per step of every maintenance run: what it did or why it failed.
CREATE TABLE gridkit.job_runs (
    id       bigserial PRIMARY KEY,
    job      text NOT NULL,
    target   text,
    started  timestamptz NOT NULL,
    finished timestamptz,
    rows     bigint,
    error    text
);
COMMENT ON TABLE gridkit.job_runs IS 'Log of gridkit.run_maintenance: one row per step (premake, late rows, refresh, retention)';

-- The partitions of a table with their bounds (NULL for MINVALUE/MAXVALUE),
-- read back from the catalog so partitions made by hand count too. The
-- bounds are deparsed and parsed back in one fixed style and zone: under,
-- say, DateStyle Postgres in Asia/Kolkata a bound would print as "IST" and
-- parse back as Israel time.
CREATE FUNCTION gridkit.ts_partitions(source regclass)
RETURNS TABLE (partition regclass, lower timestamptz, upper timestamptz, is_default boolean)
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp SET DateStyle = 'ISO, YMD' SET TimeZone = 'UTC'
AS $$
    SELECT c.oid::regclass,
           (regexp_match(b.bound, E'FROM \\(''([^'']*)''\\)'))[1]::timestamptz,
           (regexp_match(b.bound, E'TO \\(''([^'']*)''\\)'))[1]::timestamptz,
           b.bound = 'DEFAULT'
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
      CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound) b
     WHERE i.inhparent = $1
     ORDER BY 2 NULLS FIRST
$$;
COMMENT ON FUNCTION gridkit.ts_partitions(regclass) IS 'The partitions of a table and their time bounds';

-- A timestamptz as a literal that reads back the same whatever the
-- session's DateStyle and TimeZone (UTC, ISO 8601).
CREATE FUNCTION gridkit._ts_literal(ts timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN NOT pg_catalog.isfinite($1) THEN $1::text  -- 'infinity' in every style
                ELSE pg_catalog.to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00"')
                     || CASE WHEN $1 AT TIME ZONE 'UTC' < '0001-01-01' THEN ' BC' ELSE '' END END
$$;

-- Whether a partition (other than the default) overlaps [lo, hi).
CREATE FUNCTION gridkit._ts_range_taken(source regclass, lo timestamptz, hi timestamptz) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM gridkit.ts_partitions($1) p
                    WHERE NOT p.is_default AND coalesce(p.lower < $3, true) AND coalesce(p.upper > $2, true))
$$;

-- The managed table's row, or an error naming what to do.
CREATE FUNCTION gridkit._ts_row(source regclass) RETURNS gridkit.ts_table
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table;
BEGIN
    SELECT * INTO t FROM gridkit.ts_table WHERE relid = source;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a gridkit time-series table', source USING ERRCODE = '42704',
            HINT = 'Call gridkit.ts_create first.';
    END IF;
    RETURN t;
END
$$;

-- Creates the partition of `source` starting at `lo`, moving into it the
-- rows of the default partition that belong there. Returns the rows moved.
CREATE FUNCTION gridkit._ts_add_partition(source regclass, lo timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(source);
    hi timestamptz := gridkit._ts_partition_next(lo, t.partition_interval);
    nsp name;
    rel name;
    part text;
    def regclass;
    cols text;
    moved bigint := 0;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    part := format('%I.%I', nsp, left(rel, 40) || '_' || gridkit._ts_partition_suffix(lo, t.partition_interval));
    -- Writers to the table wait until this commits (readers do not): an
    -- insert routed to the default partition before the new partition is
    -- attached would otherwise fail its partition check afterwards, and no
    -- row for the range can land in the default partition during the move.
    EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', source);
    SELECT p.partition INTO def FROM gridkit.ts_partitions(source) p WHERE p.is_default;
    EXECUTE format('CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                   'INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMPRESSION)', part, source);
    -- The partition belongs to the table's owner (so the owner may add
    -- triggers to it, and the move below, run as the owner, may write it).
    EXECUTE format('ALTER TABLE %s OWNER TO %I', part,
                   (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.oid = source));
    IF def IS NOT NULL THEN
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
        -- The move fires the table's triggers and evaluates its constraints
        -- and index expressions: as the table's owner, never as whoever runs
        -- maintenance (src/timeseries.rs).
        moved := gridkit._ts_run_as_owner(source,
            format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING %s) '
                   'INSERT INTO %s (%s) SELECT %s FROM moved',
                   def, t.time_column, t.time_column, cols, part, cols, cols),
            lo, hi);
    END IF;
    -- ATTACH builds the parent's indexes on the new partition.
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)', source, part,
                   gridkit._ts_literal(lo), gridkit._ts_literal(hi));
    -- On a Citus table, ATTACH copied the rows into the new partition's
    -- shards and left them in its coordinator heap too: they go.
    IF moved > 0 AND gridkit._citus_table(source) IS NOT NULL THEN
        EXECUTE 'SELECT truncate_local_data_after_distributing_table($1)' USING part::regclass;
    END IF;
    -- A new partition of a rollup source logs its changes too.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = source AND tgname = 'gridkit_rollup_insert') THEN
        PERFORM gridkit._rollup_watch(source, t.time_column);
    END IF;
    RETURN moved;
END
$$;

-- The partitions covering [lo, hi) that are missing; returns how many were
-- created (a rollup refresh makes room before it writes old buckets).
CREATE FUNCTION gridkit._ts_make_range(source regclass, lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(source);
    p timestamptz := gridkit._ts_partition_start(lo, t.partition_interval);
    created integer := 0;
BEGIN
    WHILE p < hi LOOP
        IF NOT gridkit._ts_range_taken(source, p, gridkit._ts_partition_next(p, t.partition_interval)) THEN
            PERFORM gridkit._ts_add_partition(source, p);
            created := created + 1;
        END IF;
        p := gridkit._ts_partition_next(p, t.partition_interval);
    END LOOP;
    RETURN created;
END
$$;

-- Partitions from the one holding now() to `premake` ahead; returns how many
-- were created.
CREATE FUNCTION gridkit.ts_premake(source regclass) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(source);
    lo timestamptz := gridkit._ts_partition_start(now(), t.partition_interval);
    hi timestamptz := lo;
BEGIN
    PERFORM gridkit._require_primary('gridkit.ts_premake');
    FOR i IN 0..t.premake LOOP
        hi := gridkit._ts_partition_next(hi, t.partition_interval);
    END LOOP;
    RETURN gridkit._ts_make_range(source, lo, hi);
END
$$;
COMMENT ON FUNCTION gridkit.ts_premake(regclass) IS 'Creates the partitions from now to premake intervals ahead';

-- Rows that landed in the default partition (late, backfilled or early)
-- moved into partitions of their own; returns the rows moved.
CREATE FUNCTION gridkit.ts_move_default_rows(source regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(source);
    def regclass;
    lo timestamptz;
    moved bigint := 0;
BEGIN
    PERFORM gridkit._require_primary('gridkit.ts_move_default_rows');
    SELECT p.partition INTO def FROM gridkit.ts_partitions(source) p WHERE p.is_default;
    IF def IS NULL THEN
        RETURN 0;
    END IF;
    FOR lo IN EXECUTE format('SELECT DISTINCT gridkit._ts_partition_start(%I, $1) FROM %s WHERE %I IS NOT NULL ORDER BY 1',
                                t.time_column, def, t.time_column) USING t.partition_interval LOOP
        -- A range someone partitioned by hand differently is left alone.
        IF NOT gridkit._ts_range_taken(source, lo, gridkit._ts_partition_next(lo, t.partition_interval)) THEN
            moved := moved + gridkit._ts_add_partition(source, lo);
        END IF;
    END LOOP;
    RETURN moved;
END
$$;
COMMENT ON FUNCTION gridkit.ts_move_default_rows(regclass) IS
    'Moves rows of the default partition into partitions of their own, creating them';

-- Drops the partitions wholly older than now() - keep; returns the rows
-- they held (counted exactly when archived; else as the statistics
-- estimate them, when there are any). A partition whose buckets some rollup
-- has not materialized yet is kept (with a NOTICE) until a refresh has: no
-- raw row is lost to a rollup. With an archive directory, each partition's
-- rows are written to Parquet, checked and listed before it is dropped, in
-- this transaction (src/timeseries/archive.rs); a partition restored from
-- its archives stays until its kept_until. Row security is off: an archive
-- holds every row, or archiving fails.
CREATE FUNCTION gridkit.ts_apply_retention(source regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET row_security = off
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(source);
    p record;
    n bigint;
    dropped bigint := 0;
BEGIN
    PERFORM gridkit._require_primary('gridkit.ts_apply_retention');
    IF t.keep IS NULL THEN
        RETURN 0;
    END IF;
    -- No writes (and so no new changes for rollups to apply) between the
    -- coverage check and the drop.
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', source);
    FOR p IN SELECT * FROM gridkit.ts_partitions(source) x
              WHERE NOT x.is_default AND x.upper IS NOT NULL AND x.upper <= now() - t.keep
              ORDER BY x.upper LOOP
        IF NOT gridkit._rollup_covers(source::oid, p.upper) THEN
            RAISE NOTICE 'gridkit: % kept: a rollup of % has not materialized its rows yet', p.partition, source;
            EXIT;
        END IF;
        CONTINUE WHEN EXISTS (SELECT 1 FROM gridkit.archives a
                               WHERE a.restored_into = p.partition::oid AND a.kept_until > now());
        IF t.archive IS NOT NULL THEN
            n := gridkit._archive_partition(source::oid, p.partition::oid, p.lower, p.upper, t.archive);
        ELSE
            -- The planner's row estimate when the partition has statistics:
            -- counting a day of rows would cost more than dropping them.
            SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END INTO n
              FROM pg_catalog.pg_class c WHERE c.oid = p.partition;
            IF n IS NULL THEN
                EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO n;
            END IF;
        END IF;
        EXECUTE format('DROP TABLE %s', p.partition);
        UPDATE gridkit.ts_table SET dropped_before = greatest(dropped_before, p.upper) WHERE relid = source;
        dropped := dropped + n;
    END LOOP;
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION gridkit.ts_apply_retention(regclass) IS 'Drops the partitions older than the retention period';

CREATE FUNCTION gridkit.ts_create(
    source regclass,
    time_column name,
    partition_interval interval DEFAULT '1 day',
    premake integer DEFAULT 3
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    strategy "char";
    key_count smallint;
    key_column name;
    key_type regtype;
    nsp name;
    rel name;
BEGIN
    PERFORM gridkit._require_primary('gridkit.ts_create');
    IF source IS NULL OR time_column IS NULL OR partition_interval IS NULL OR premake IS NULL THEN
        RAISE EXCEPTION 'ts_create: no argument may be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT pt.partstrat, pt.partnatts, a.attname, a.atttypid::regtype INTO strategy, key_count, key_column, key_type
      FROM pg_catalog.pg_partitioned_table pt
      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
     WHERE pt.partrelid = source;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a partitioned table', source USING ERRCODE = '22023',
            HINT = format('Declare it with PARTITION BY RANGE (%I), or move a plain table''s rows into such a table.', time_column);
    END IF;
    IF strategy <> 'r' OR key_count <> 1 OR key_column IS DISTINCT FROM time_column THEN
        RAISE EXCEPTION '% is not partitioned by range on % alone', source, time_column USING ERRCODE = '22023',
            HINT = format('Declare it with PARTITION BY RANGE (%I).', time_column);
    END IF;
    IF key_type <> 'timestamp with time zone'::regtype THEN
        RAISE EXCEPTION 'column % of % is %; a time-series column must be timestamp with time zone',
            time_column, source, key_type USING ERRCODE = '22023';
    END IF;
    IF premake < 0 OR premake > 1000 THEN
        RAISE EXCEPTION 'premake must be between 0 and 1000, not %', premake USING ERRCODE = '22023';
    END IF;
    PERFORM gridkit._ts_check_interval(partition_interval);
    IF EXISTS (SELECT 1 FROM gridkit.ts_table t WHERE t.relid = source AND t.partition_interval <> ts_create.partition_interval)
       AND EXISTS (SELECT 1 FROM gridkit.ts_partitions(source) p WHERE NOT p.is_default) THEN
        RAISE EXCEPTION '% already has partitions of %', source,
            (SELECT t.partition_interval FROM gridkit.ts_table t WHERE t.relid = source) USING ERRCODE = '22023';
    END IF;
    INSERT INTO gridkit.ts_table AS t (relid, time_column, partition_interval, premake)
    VALUES (source, time_column, partition_interval, premake)
    ON CONFLICT (relid) DO UPDATE SET time_column = EXCLUDED.time_column,
        partition_interval = EXCLUDED.partition_interval, premake = EXCLUDED.premake;
    -- Rows outside every partition go to the default one instead of
    -- failing; maintenance moves them into partitions of their own.
    IF NOT EXISTS (SELECT 1 FROM gridkit.ts_partitions(source) p WHERE p.is_default) THEN
        SELECT n.nspname, c.relname INTO nsp, rel
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', nsp, left(rel, 40) || '_default', source);
        -- Partitions belong to the table's owner, whoever made them.
        EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', nsp, left(rel, 40) || '_default',
                       (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.oid = source));
    END IF;
    PERFORM gridkit.ts_premake(source);
    PERFORM gridkit.ts_move_default_rows(source);
END
$$;
COMMENT ON FUNCTION gridkit.ts_create(regclass, name, interval, integer) IS
    'Manages a table partitioned by range on a timestamptz column: partitions ahead, late rows, retention';

-- A plain table turned into a managed partitioned one, in one transaction:
-- same columns, defaults, constraints and indexes, every row copied and
-- counted. The original is kept, renamed, for the user to drop.
CREATE FUNCTION gridkit.ts_convert(
    source regclass,
    time_column name,
    partition_interval interval DEFAULT '1 day',
    premake integer DEFAULT 3
) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp name;
    rel name;
    kind "char";
    col_type regtype;
    kept text;
    cols text;
    converted regclass;
    idx record;
    before bigint;
    after bigint;
    citus text;
    distribution name;
    identity boolean;
BEGIN
    PERFORM gridkit._require_primary('gridkit.ts_convert');
    IF source IS NULL OR time_column IS NULL OR partition_interval IS NULL OR premake IS NULL THEN
        RAISE EXCEPTION 'ts_convert: no argument may be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT n.nspname, c.relname, c.relkind INTO nsp, rel, kind
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    IF kind <> 'r' THEN
        RAISE EXCEPTION '% is not a plain table', source USING ERRCODE = '22023',
            HINT = 'A partitioned table is managed with gridkit.ts_create.';
    END IF;
    SELECT a.atttypid::regtype INTO col_type
      FROM pg_catalog.pg_attribute a WHERE a.attrelid = source AND a.attname = time_column AND NOT a.attisdropped;
    IF col_type IS NULL THEN
        RAISE EXCEPTION 'column % of % does not exist', time_column, source USING ERRCODE = '42703';
    END IF;
    IF col_type <> 'timestamp with time zone'::regtype THEN
        RAISE EXCEPTION 'column % of % is %; a time-series column must be timestamp with time zone',
            time_column, source, col_type USING ERRCODE = '22023';
    END IF;
    -- A partitioned table's unique keys must include the partition column.
    FOR idx IN SELECT i.indexrelid::regclass AS name FROM pg_catalog.pg_index i
                WHERE i.indrelid = source AND i.indisunique
                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                   WHERE a.attrelid = source AND a.attname = time_column
                                     AND a.attnum = ANY (i.indkey::int2[])) LOOP
        RAISE EXCEPTION 'unique index % of % does not include %', idx.name, source, time_column
            USING ERRCODE = '22023',
            HINT = format('Unique keys of a partitioned table must include the partition column; add %I to the key first.', time_column);
    END LOOP;
    PERFORM gridkit._ts_check_interval(partition_interval);
    -- A table distributed by hash is converted into one distributed by the
    -- same column, colocated with it (the copy then runs on the workers,
    -- shard to shard). Citus partitions no other kind of table.
    citus := gridkit._citus_table(source);
    IF citus IS NOT NULL THEN
        distribution := gridkit._citus_distribution_column(source);
        IF distribution IS NULL THEN
            RAISE EXCEPTION 'ts_convert cannot convert % (a Citus % table)', source, citus
                USING ERRCODE = '0A000',
                DETAIL = 'Citus partitions only tables distributed by hash.',
                HINT = 'Distribute it by hash first (create_distributed_table), or convert it before it is a Citus table.';
        END IF;
        PERFORM gridkit._require_citus_coordinator('a conversion');
    END IF;
    -- No writes while the rows move.
    EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', source);
    EXECUTE format('SELECT count(*) FROM %s', source) INTO before;
    kept := left(rel, 45) || '_unpartitioned';
    -- The original steps aside under a new name; the partitioned table takes
    -- its name (and its partitions are named after it).
    EXECUTE format('ALTER TABLE %s RENAME TO %I', source, kept);
    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                   'INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION) PARTITION BY RANGE (%I)',
                   nsp, rel, source, time_column);
    converted := format('%I.%I', nsp, rel)::regclass;
    EXECUTE format('ALTER TABLE %s OWNER TO %I', converted,
                   (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.oid = source));
    -- The indexes, as partitioned indexes (named by PostgreSQL). Names are
    -- chosen by the table's owner, so no statement is made by rewriting
    -- index text: the primary key is built from its columns, and an index
    -- definition is used only after the exact head PostgreSQL deparses
    -- ("CREATE [UNIQUE] INDEX <name> ON <table> USING ") has been cut off by
    -- length; what follows (method, keys, options, predicate) is deparsed
    -- from the catalog.
    FOR idx IN SELECT i.indexrelid, i.indisunique, i.indnkeyatts, i.indkey::int2[] AS keys, c.contype,
                      pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
                      'CREATE ' || CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX '
                        || pg_catalog.quote_ident(ic.relname) || ' ON '
                        || pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(tc.relname)
                        || ' USING ' AS head
                 FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
                 JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
                 LEFT JOIN pg_catalog.pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = source
                WHERE i.indrelid = source ORDER BY i.indexrelid LOOP
        IF idx.contype = 'p' THEN
            EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (%s)%s', converted,
                (SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.n)
                   FROM unnest(idx.keys) WITH ORDINALITY k(attnum, n)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = source AND a.attnum = k.attnum
                  WHERE k.n <= idx.indnkeyatts),
                coalesce(' INCLUDE (' || (SELECT string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.n)
                   FROM unnest(idx.keys) WITH ORDINALITY k(attnum, n)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = source AND a.attnum = k.attnum
                  WHERE k.n > idx.indnkeyatts) || ')', ''));
        ELSIF left(idx.def, length(idx.head)) = idx.head THEN
            EXECUTE 'CREATE ' || CASE WHEN idx.indisunique THEN 'UNIQUE ' ELSE '' END || 'INDEX ON '
                    || converted::text || ' USING ' || substr(idx.def, length(idx.head) + 1);
        ELSE
            RAISE EXCEPTION 'ts_convert: cannot copy index % of %', idx.indexrelid::regclass, source
                USING ERRCODE = 'XX000', DETAIL = idx.def;
        END IF;
    END LOOP;
    IF distribution IS NOT NULL THEN
        PERFORM create_distributed_table(converted, distribution, colocate_with => source::text);
    END IF;
    PERFORM gridkit.ts_create(converted, time_column, partition_interval, premake);
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), bool_or(a.attidentity <> '') INTO cols, identity
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    -- As the owner: the copy evaluates the table's constraints, generated
    -- columns and index expressions (src/timeseries.rs).
    PERFORM gridkit._ts_run_as_owner(converted,
        format('INSERT INTO %s (%s) %s SELECT %s FROM %s', converted, cols,
               CASE WHEN identity THEN 'OVERRIDING SYSTEM VALUE' ELSE '' END, cols, source),
        '-infinity', 'infinity');
    PERFORM gridkit.ts_move_default_rows(converted);
    EXECUTE format('SELECT count(*) FROM %s', converted) INTO after;
    IF after <> before THEN
        RAISE EXCEPTION 'ts_convert: copied % rows of %', after, before USING ERRCODE = 'XX000';
    END IF;
    RAISE NOTICE 'gridkit: % now holds % rows in partitions; the original table is kept as %.% (drop it when done; views and foreign keys still point to it)',
        converted, after, nsp, kept;
    RETURN converted;
END
$$;
COMMENT ON FUNCTION gridkit.ts_convert(regclass, name, interval, integer) IS
    'Turns a plain table into a managed partitioned one (the original is kept, renamed)';

-- `archive`: a directory inside gridkit.archive_directory that retention
-- archives partitions into before dropping them; NULL leaves the table's
-- setting as it is (so changing `keep` never stops archiving by accident),
-- '' stops archiving.
CREATE FUNCTION gridkit.retention_set(target regclass, keep interval, archive text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM gridkit._require_primary('gridkit.retention_set');
    PERFORM gridkit._ts_row(target);
    IF keep IS NOT NULL AND keep <= interval '0' THEN
        RAISE EXCEPTION 'keep must be a positive interval, not %', keep USING ERRCODE = '22023';
    END IF;
    UPDATE gridkit.ts_table SET keep = retention_set.keep,
           archive = CASE WHEN retention_set.archive IS NULL THEN ts_table.archive
                          WHEN retention_set.archive = '' THEN NULL
                          ELSE gridkit._archive_directory(retention_set.archive) END
     WHERE relid = target;
END
$$;
COMMENT ON FUNCTION gridkit.retention_set(regclass, interval, text) IS
    'Keeps this much of a time-series table; older partitions are archived to Parquet (archive => directory) and dropped by run_maintenance (NULL keep: keep all)';

-- Deletes the rows of gridkit.job_runs older than `max_age` and those
-- beyond the newest `max_rows` (NULL: the gridkit.job_runs_max_age and
-- _max_rows settings; a zero: no bound). Returns the rows deleted.
CREATE FUNCTION gridkit.job_runs_prune(max_age interval DEFAULT NULL, max_rows bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- The setting reads back with its unit ('30d'), which interval takes.
    age interval := coalesce(max_age, pg_catalog.current_setting('gridkit.job_runs_max_age')::interval);
    keep bigint := coalesce(max_rows, pg_catalog.current_setting('gridkit.job_runs_max_rows')::bigint);
    oldest_kept bigint;
    n bigint := 0;
    m bigint;
BEGIN
    PERFORM gridkit._require_primary('gridkit.job_runs_prune');
    IF age < interval '0' OR keep < 0 THEN
        RAISE EXCEPTION 'job_runs_prune: max_age and max_rows must not be negative (not %, %)', age, keep
            USING ERRCODE = '22023';
    END IF;
    IF age > interval '0' THEN
        DELETE FROM gridkit.job_runs WHERE started < pg_catalog.now() - age;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    IF keep > 0 THEN
        SELECT id INTO oldest_kept FROM gridkit.job_runs ORDER BY id DESC OFFSET keep - 1 LIMIT 1;
        IF oldest_kept IS NOT NULL THEN
            DELETE FROM gridkit.job_runs WHERE id < oldest_kept;
            GET DIAGNOSTICS m = ROW_COUNT;
            n := n + m;
        END IF;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION gridkit.job_runs_prune(interval, bigint) IS
    'Deletes gridkit.job_runs rows older than max_age or beyond the newest max_rows (defaults: gridkit.job_runs_max_age, _max_rows)';

-- Every managed table's premake and late rows, then every rollup's refresh
-- (sources first), then every table's retention. Each step runs in its own
-- subtransaction: a failing step is logged and retried next run, and does
-- not stop the others. A run that finds another one in progress logs that
-- and returns.
-- `jobs`: 'all' (everything), 'hourly' (premake, late rows, rollups with
-- buckets under a day, retention) or 'daily' (rollups of a day or more,
-- retention): pg_cron runs the hourly one every hour and the daily one
-- once a day (gridkit.schedule), so day and month rollups are not
-- recomputed 24 times a day.
CREATE FUNCTION gridkit.run_maintenance(jobs text DEFAULT 'all') RETURNS SETOF gridkit.job_runs
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_id bigint := (SELECT coalesce(max(id), 0) FROM gridkit.job_runs);
    steps text[];
    step text[];
    started timestamptz;
    n bigint;
BEGIN
    PERFORM gridkit._require_primary('gridkit.run_maintenance');
    IF jobs IS NULL OR jobs NOT IN ('all', 'hourly', 'daily') THEN
        RAISE EXCEPTION 'run_maintenance: jobs must be ''all'', ''hourly'' or ''daily'', not %',
            coalesce(quote_literal(jobs), 'NULL') USING ERRCODE = '22023';
    END IF;
    -- A run overlapping one of the same kind is skipped ('all' counts as
    -- hourly); the steps themselves are safe to run side by side.
    IF NOT pg_catalog.pg_try_advisory_xact_lock(1735287156, CASE WHEN jobs = 'daily' THEN 1 ELSE 0 END) THEN
        INSERT INTO gridkit.job_runs (job, started, finished, error)
        VALUES ('maintenance', clock_timestamp(), clock_timestamp(),
                CASE jobs WHEN 'daily' THEN 'skipped: another daily run is in progress'
                          ELSE 'skipped: another run is in progress' END);
        RETURN QUERY SELECT * FROM gridkit.job_runs WHERE id > first_id ORDER BY id;
        RETURN;
    END IF;
    SELECT array_agg(ARRAY[s.job, s.target] ORDER BY s.ord, s.sub, s.target) INTO steps FROM (
        SELECT 1 AS ord, j.sub, j.job, t.relid::text AS target
          FROM gridkit.ts_table t, (VALUES (1, 'premake'), (2, 'late rows')) j(sub, job)
         WHERE jobs <> 'daily'
        UNION ALL
        SELECT 2, r.ord::int, 'refresh', r.name
          FROM gridkit._rollups_in_order() WITH ORDINALITY r(name, ord)
          JOIN gridkit.rollup ro ON ro.name = r.name
         WHERE jobs = 'all' OR (jobs = 'daily') = (ro.bucket >= interval '1 day')
        UNION ALL
        SELECT 3, 0, 'retention', t.relid::text FROM gridkit.ts_table t
        UNION ALL
        -- Last, so the log of this run stays.
        SELECT 4, 0, 'prune job runs', NULL
    ) s;
    FOREACH step SLICE 1 IN ARRAY coalesce(steps, '{}') LOOP
        started := clock_timestamp();
        BEGIN
            n := CASE step[1] WHEN 'premake' THEN gridkit.ts_premake(step[2]::regclass)
                              WHEN 'late rows' THEN gridkit.ts_move_default_rows(step[2]::regclass)
                              WHEN 'refresh' THEN gridkit.rollup_refresh(step[2])
                              WHEN 'prune job runs' THEN gridkit.job_runs_prune()
                              ELSE gridkit.ts_apply_retention(step[2]::regclass) END;
            INSERT INTO gridkit.job_runs (job, target, started, finished, rows)
            VALUES (step[1], step[2], started, clock_timestamp(), n);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO gridkit.job_runs (job, target, started, finished, error)
            VALUES (step[1], step[2], started, clock_timestamp(), SQLERRM);
        END;
    END LOOP;
    RETURN QUERY SELECT * FROM gridkit.job_runs WHERE id > first_id ORDER BY id;
END
$$;
COMMENT ON FUNCTION gridkit.run_maintenance(text) IS
    'Premakes partitions and moves late rows of every time-series table, refreshes rollups (all, under a day, or a day and more), applies retention, prunes old log rows; logs to gridkit.job_runs';

-- Two pg_cron jobs: the hourly maintenance and the daily rollups. Scheduling
-- again replaces them (pg_cron keys jobs by name).
CREATE FUNCTION gridkit.schedule(cron text DEFAULT '5 * * * *', daily_cron text DEFAULT '20 0 * * *')
RETURNS TABLE (job text, jobid bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM gridkit._require_primary('gridkit.schedule');
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = '55000',
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and CREATE EXTENSION pg_cron.';
    END IF;
    job := 'gridkit-maintenance';
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
      USING job, cron, 'SELECT count(*) FROM gridkit.run_maintenance(''hourly'')';
    RETURN NEXT;
    job := 'gridkit-daily';
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
      USING job, daily_cron, 'SELECT count(*) FROM gridkit.run_maintenance(''daily'')';
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION gridkit.schedule(text, text) IS
    'Schedules gridkit.run_maintenance with pg_cron: hourly (job gridkit-maintenance) and daily rollups (job gridkit-daily)';

GRANT SELECT ON gridkit.ts_table, gridkit.job_runs TO PUBLIC;
REVOKE ALL ON FUNCTION gridkit.ts_create(regclass, name, interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.retention_set(regclass, interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.ts_convert(regclass, name, interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.run_maintenance(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.job_runs_prune(interval, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.schedule(text, text) FROM PUBLIC;
