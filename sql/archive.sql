-- gridkit's cold tier: partitions archived to Parquet before retention
-- drops them, read back without restoring, restored for reprocessing.
-- The files are written and read in Rust (src/timeseries/archive.rs over
-- crates/archive); this file keeps the catalog and does the DDL.

-- One row per archive file. A range can have several files (rows that
-- arrived for it after it was archived are archived again, on their own);
-- once its files are restored into a partition, the next archive of that
-- partition holds their rows and replaces them.
CREATE TABLE gridkit.archives (
    id            bigserial PRIMARY KEY,
    relid         oid NOT NULL,         -- the table (its oid outlives a rename)
    source        text NOT NULL,        -- its name when archived
    lower         timestamptz NOT NULL,
    upper         timestamptz NOT NULL,
    path          text NOT NULL UNIQUE, -- inside gridkit.archive_directory
    rows          bigint NOT NULL,
    bytes         bigint NOT NULL,
    checksum      text NOT NULL,        -- SHA-256 of the rows (crates/archive)
    written_at    timestamptz NOT NULL DEFAULT now(),
    -- Restored: the partition holding the rows again, and until when
    -- retention leaves it (for reprocessing).
    restored_into oid,
    restored_at   timestamptz,
    kept_until    timestamptz,
    CHECK (lower < upper)
);
CREATE INDEX ON gridkit.archives (relid, lower);
COMMENT ON TABLE gridkit.archives IS 'Partitions archived to Parquet by retention (see gridkit.retention_set''s archive)';
SELECT pg_catalog.pg_extension_config_dump('gridkit.archives', '');
SELECT pg_catalog.pg_extension_config_dump('gridkit.archives_id_seq', '');

-- The ranges of a table whose every archive is restored, joined where
-- they touch: below retention's horizon, rollups re-materialize these.
CREATE FUNCTION gridkit._archive_restored_spans(source oid)
RETURNS TABLE (lower timestamptz, upper timestamptz)
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.lower(r), pg_catalog.upper(r)
      FROM pg_catalog.unnest((
            SELECT pg_catalog.range_agg(pg_catalog.tstzrange(a.lower, a.upper))
              FROM gridkit.archives a
             WHERE a.relid = $1 AND a.restored_into IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM gridkit.archives b
                                WHERE b.relid = $1 AND b.lower = a.lower AND b.restored_into IS NULL))) r
$$;

-- Brings the archived ranges of `target` overlapping [from, to) back into
-- partitions (made where missing), checks every file against its listing,
-- then refreshes the table's rollups, which re-materialize those buckets
-- from the restored rows. Retention leaves the partitions for `keep`, then
-- archives them again (with whatever reprocessing changed). Returns the
-- rows restored.
CREATE FUNCTION gridkit.archive_restore(target regclass, "from" timestamptz, "to" timestamptz,
                                        keep interval DEFAULT '7 days')
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t gridkit.ts_table := gridkit._ts_row(target);
    r record;
    a record;
    part regclass;
    n bigint := 0;
    ro text;
BEGIN
    PERFORM gridkit._require_primary('gridkit.archive_restore');
    IF "from" IS NULL OR "to" IS NULL OR keep IS NULL THEN
        RAISE EXCEPTION 'archive_restore: no argument may be NULL' USING ERRCODE = '22004';
    END IF;
    IF "from" >= "to" THEN
        RAISE EXCEPTION 'archive_restore: "from" (%) must be before "to" (%)', "from", "to" USING ERRCODE = '22023';
    END IF;
    IF keep < interval '0' THEN
        RAISE EXCEPTION 'keep must not be negative, not %', keep USING ERRCODE = '22023';
    END IF;
    -- Rows are loaded by COPY inside the backend, which Citus does not
    -- route to the shards.
    IF gridkit._citus_table(target) IS NOT NULL THEN
        RAISE EXCEPTION 'archive_restore cannot restore into % (a Citus % table)', target, gridkit._citus_table(target)
            USING ERRCODE = '0A000',
            HINT = 'Read the files with gridkit.archive_read(NULL::table, path) and INSERT the rows.';
    END IF;
    -- No retention run drops or archives the table's partitions meanwhile.
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', target);
    FOR r IN SELECT DISTINCT x.lower, x.upper FROM gridkit.archives x
              WHERE x.relid = target AND x.restored_into IS NULL AND x.lower < "to" AND x.upper > "from"
              ORDER BY 1 LOOP
        -- A file goes back into exactly one partition, so that archiving
        -- that partition again replaces it.
        IF gridkit._ts_partition_start(r.lower, t.partition_interval) <> r.lower
           OR gridkit._ts_partition_next(r.lower, t.partition_interval) <> r.upper THEN
            RAISE EXCEPTION 'archive of % for [%, %) is not one partition of %', target, r.lower, r.upper,
                t.partition_interval USING ERRCODE = '0A000',
                HINT = 'The table''s partition interval changed after the range was archived; read it with gridkit.archive_read instead.';
        END IF;
        PERFORM gridkit._ts_make_range(target, r.lower, r.upper);
        SELECT p.partition INTO part FROM gridkit.ts_partitions(target) p
         WHERE NOT p.is_default AND p.lower = r.lower AND p.upper = r.upper;
        IF part IS NULL THEN
            RAISE EXCEPTION 'no partition of % holds exactly [%, %)', target, r.lower, r.upper USING ERRCODE = '55000',
                HINT = 'A partition made by hand covers the range differently; restore into it with gridkit.archive_read.';
        END IF;
        FOR a IN SELECT x.id FROM gridkit.archives x
                  WHERE x.relid = target AND x.restored_into IS NULL AND x.lower = r.lower ORDER BY x.id LOOP
            n := n + gridkit._archive_load(a.id, part, keep);
        END LOOP;
    END LOOP;
    IF part IS NULL THEN
        RAISE NOTICE 'gridkit: % has no archived rows in [%, %) to restore', target, "from", "to";
        RETURN 0;
    END IF;
    -- The rollups of the table, sources first: the restored rows were
    -- logged as changes, and their buckets are held again.
    FOR ro IN SELECT o.name FROM gridkit._rollups_in_order() o(name)
                JOIN gridkit.rollup x ON x.name = o.name WHERE x.raw_source = target LOOP
        PERFORM gridkit.rollup_refresh(ro);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION gridkit.archive_restore(regclass, timestamptz, timestamptz, interval) IS
    'Restores the archived partitions of a time-series table overlapping [from, to), checked against their checksums, and re-materializes its rollups there';

-- An archive file's rows as JSON objects, without restoring them.
CREATE FUNCTION gridkit.archive_read(path text) RETURNS SETOF jsonb
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r::jsonb FROM gridkit._archive_rows($1) r
$$;
COMMENT ON FUNCTION gridkit.archive_read(text) IS
    'The rows of an archive file (a path of gridkit.archives) as JSON objects';

-- The same rows typed as `rowtype`'s table: archive_read(NULL::my_table, path).
CREATE FUNCTION gridkit.archive_read(rowtype anyelement, path text) RETURNS SETOF anyelement
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_populate_record($1, r::jsonb) FROM gridkit._archive_rows($2) r
$$;
COMMENT ON FUNCTION gridkit.archive_read(anyelement, text) IS
    'The rows of an archive file as rows of a table type: archive_read(NULL::t, path)';

GRANT SELECT ON gridkit.archives TO PUBLIC;
REVOKE ALL ON FUNCTION gridkit.archive_restore(regclass, timestamptz, timestamptz, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._archive_partition(oid, oid, timestamptz, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._archive_load(bigint, oid, interval) FROM PUBLIC;
