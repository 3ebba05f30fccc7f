-- gridkit bootstrap: objects the Rust functions depend on.

CREATE SCHEMA IF NOT EXISTS gridkit;
COMMENT ON SCHEMA gridkit IS 'gridkit: vector tiles and grid analytics';

-- The layer registry. One row per layer; `source` follows renames (regclass),
-- `source_name` keeps the name at registration for messages after a drop.
CREATE TABLE gridkit.layer (
    name          text PRIMARY KEY,
    source        regclass NOT NULL,
    source_name   text NOT NULL,
    geom_column   name NOT NULL,
    id_column     name NOT NULL,
    attributes    text[] NOT NULL DEFAULT '{}',
    options       jsonb NOT NULL DEFAULT '{}',
    srid          integer NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gridkit.layer IS 'Registered layers; change them with gridkit.layer_register and gridkit.layer_drop';

-- Registered layers are user data: pg_dump must keep them.
SELECT pg_catalog.pg_extension_config_dump('gridkit.layer', '');

-- Data versions. A layer's data version counts the committed transactions
-- that changed any table it reads. Statement triggers on those tables append
-- one row per writing transaction (never an update, so concurrent writers
-- never wait on each other); a refresh folds the rows it has seen into
-- `source_version.compacted`, which keeps the sum (and so the version) intact.
CREATE TABLE gridkit.source_change (
    relid oid NOT NULL,
    xid   xid8 NOT NULL,
    PRIMARY KEY (relid, xid)
);
CREATE TABLE gridkit.source_version (
    relid     oid PRIMARY KEY,
    compacted bigint NOT NULL DEFAULT 0
);
-- The tables whose changes change a layer: its source, the partitions of a
-- partitioned source, the tables under a view; a materialized view counts
-- its REFRESHes.
CREATE TABLE gridkit.layer_source_table (
    layer text NOT NULL REFERENCES gridkit.layer (name) ON DELETE CASCADE,
    relid oid NOT NULL,
    -- A Citus table: its rows, and the change counts of its writes, live
    -- in shard placements on the nodes (see _citus_changes).
    citus boolean NOT NULL DEFAULT false,
    PRIMARY KEY (layer, relid)
);
CREATE INDEX ON gridkit.layer_source_table (relid);

CREATE FUNCTION gridkit._source_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO gridkit.source_change (relid, xid) VALUES (TG_RELID, pg_current_xact_id())
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION gridkit._matview_refreshed() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO gridkit.source_change (relid, xid)
    SELECT DISTINCT c.objid, pg_current_xact_id()
      FROM pg_event_trigger_ddl_commands() c
     WHERE c.classid = 'pg_class'::regclass
       AND EXISTS (SELECT 1 FROM gridkit.layer_source_table s WHERE s.relid = c.objid)
    ON CONFLICT DO NOTHING;
END
$$;
CREATE EVENT TRIGGER gridkit_matview_refreshed ON ddl_command_end
    WHEN TAG IN ('REFRESH MATERIALIZED VIEW')
    EXECUTE FUNCTION gridkit._matview_refreshed();

-- Citus. How a relation is placed: 'distributed' (by hash, or append or
-- range), 'reference', 'citus local', or NULL for a plain table (and when
-- Citus is not installed: its catalog is read by dynamic SQL only).
CREATE FUNCTION gridkit._citus_table(rel oid) RETURNS text
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind text;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE $q$SELECT CASE WHEN partmethod = 'n' AND repmodel = 't' THEN 'reference'
                           WHEN partmethod = 'n' THEN 'citus local'
                           ELSE 'distributed' END
                 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1$q$ INTO kind USING rel;
    RETURN kind;
END
$$;

-- The changes counted for one table on this node: folded into
-- source_version by compaction, plus those not folded yet. No SET clause,
-- so it is inlined into its callers, which set the search_path (and only
-- they may call it).
CREATE FUNCTION gridkit._table_changes(rel oid) RETURNS bigint
LANGUAGE sql STABLE STRICT
AS $$
    SELECT coalesce((SELECT v.compacted FROM gridkit.source_version v WHERE v.relid = rel), 0)
           + (SELECT count(*) FROM gridkit.source_change c WHERE c.relid = rel)
$$;
REVOKE ALL ON FUNCTION gridkit._table_changes(oid) FROM PUBLIC;

-- The distribution column of a hash-distributed Citus table (NULL for any
-- other relation): rollups and latest values of a Citus table keep their
-- logs in tables colocated with it, by this column.
CREATE FUNCTION gridkit._citus_distribution_column(rel oid) RETURNS name
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col name;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE $q$SELECT column_to_column_name(logicalrelid, partkey)
                 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1 AND partmethod = 'h'$q$ INTO col USING rel;
    RETURN col;
END
$$;

-- On a Citus node: the shard of distributed table `rel` that holds
-- distribution value `key` (on this node when `rel` is colocated with a
-- shard being written here). Citus's functions by dynamic SQL only.
CREATE FUNCTION gridkit._shard_of(rel regclass, key anyelement) RETURNS regclass
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shard text;
BEGIN
    EXECUTE 'SELECT shard_name($1, get_shard_id_for_distribution_column($1, $2))' INTO shard USING rel, key;
    -- shard_name leaves schema public out.
    IF position('.' IN shard) = 0 THEN
        shard := 'public.' || shard;
    END IF;
    RETURN shard::regclass;
END
$$;

-- On any Citus node: the changes counted by the shard placements of
-- `source` that this node holds (the statement trigger runs on each shard,
-- where the write runs, and counts there).
CREATE FUNCTION gridkit._shard_changes(source regclass) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    total bigint;
BEGIN
    EXECUTE $q$
        WITH shards AS (
            -- shard_name leaves schema public out.
            SELECT to_regclass(CASE WHEN n.nspname = 'public' THEN 'public.' ELSE '' END
                               || shard_name($1, s.shardid))::oid AS relid
              FROM pg_dist_shard s
              JOIN pg_dist_placement p ON p.shardid = s.shardid
              JOIN pg_class c ON c.oid = $1
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE s.logicalrelid = $1 AND p.groupid = (SELECT groupid FROM pg_dist_local_group)
        )
        SELECT coalesce(sum(gridkit._table_changes(sh.relid)), 0)::bigint
          FROM shards sh WHERE sh.relid IS NOT NULL$q$ INTO total USING source;
    RETURN total;
END
$$;
REVOKE ALL ON FUNCTION gridkit._shard_changes(regclass) FROM PUBLIC;

-- On the coordinator: the changes of a Citus table counted on every node
-- (this one included: reference tables have a placement here). A TRUNCATE
-- is counted on the coordinator's own table, as for a plain table.
CREATE FUNCTION gridkit._citus_changes(rel oid) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    total bigint := gridkit._shard_changes(rel::regclass);
    r record;
BEGIN
    FOR r IN EXECUTE 'SELECT nodename, nodeport, success, result FROM run_command_on_workers($1)'
               USING format('SELECT gridkit._shard_changes(%L::regclass)', rel::regclass::text) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'cannot read the change count of % on worker %:%', rel::regclass, r.nodename, r.nodeport
                USING ERRCODE = '08000', DETAIL = r.result;
        END IF;
        total := total + r.result::bigint;
    END LOOP;
    RETURN total;
END
$$;
REVOKE ALL ON FUNCTION gridkit._citus_changes(oid) FROM PUBLIC;

-- SECURITY DEFINER: it reads only gridkit's own change counters (not
-- readable by PUBLIC), with fixed SQL, and callers such as api roles need it.
CREATE FUNCTION gridkit.layer_data_version(layer text) RETURNS bigint
LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(sum(gridkit._table_changes(s.relid)
                        + CASE WHEN s.citus THEN gridkit._citus_changes(s.relid) ELSE 0 END), 0)::bigint
      FROM gridkit.layer_source_table s
     WHERE s.layer = $1
$$;
COMMENT ON FUNCTION gridkit.layer_data_version(text) IS
    'Number of committed transactions that changed the data of a layer (grows with every change)';

-- Builds of derived data (cluster pyramids, generalized bands) are numbered
-- from one sequence; a build's tables carry its number.
CREATE SEQUENCE gridkit.build;

-- Cluster pyramids. Each build lives in its own tables; this row says which
-- build serves a layer. A refresh fills new tables and swaps this row in one
-- transaction, so readers never wait and never see half a pyramid; the old
-- tables are dropped later, once no reader holds them.

CREATE TABLE gridkit.pyramid (
    layer        text PRIMARY KEY REFERENCES gridkit.layer (name) ON DELETE CASCADE,
    build        bigint NOT NULL,
    storage      regclass NOT NULL,
    leaves       regclass NOT NULL,
    points_store regclass NOT NULL,
    settings     jsonb NOT NULL,
    data_version bigint NOT NULL,
    built_at     timestamptz NOT NULL,
    build_ms     double precision NOT NULL,
    points       bigint NOT NULL,
    clusters     bigint NOT NULL,
    skipped      bigint NOT NULL
);
COMMENT ON TABLE gridkit.pyramid IS 'The cluster pyramid serving each clustered layer; see gridkit.layer_status()';
-- Generalized lines and polygons. Like pyramids: one table per build
-- (rows of zoom, feature id, simplified geometry in Web Mercator, encoded
-- attributes; a partial GiST index per zoom), this row says which serves.
CREATE TABLE gridkit.generalization (
    layer           text PRIMARY KEY REFERENCES gridkit.layer (name) ON DELETE CASCADE,
    build           bigint NOT NULL,
    storage         regclass NOT NULL,
    max_zoom        smallint NOT NULL,
    settings        jsonb NOT NULL,
    data_version    bigint NOT NULL,
    built_at        timestamptz NOT NULL,
    build_ms        double precision NOT NULL,
    features        bigint NOT NULL,
    source_vertices bigint NOT NULL,
    rows            bigint NOT NULL,
    vertices        bigint NOT NULL,
    shared_arcs     bigint NOT NULL,
    skipped         bigint NOT NULL,
    -- The build's tiles of zooms 0 to tiles_max_zoom, rendered from the
    -- bands under the tile budget below (NULL: none stored).
    tiles           regclass,
    tiles_max_zoom  smallint,
    tiles_max_features integer,
    tiles_max_bytes integer
);
COMMENT ON TABLE gridkit.generalization IS
    'The generalized zoom bands serving each line or polygon layer; see gridkit.layer_status()';
-- Tables of builds no longer served, dropped by a later refresh once no
-- reader holds them.
CREATE TABLE gridkit.retired_relation (
    relation   oid PRIMARY KEY,
    retired_by xid8 NOT NULL DEFAULT pg_current_xact_id(),
    retired_at timestamptz NOT NULL DEFAULT now()
);

-- Folds counted changes into source_version. Safe at any time: the sum a
-- version reads stays the same. Concurrent calls each fold what they delete.
CREATE FUNCTION gridkit.compact_data_versions() RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM gridkit._require_primary('gridkit.compact_data_versions');
    -- On a Citus coordinator, the workers' shard counts too (each node
    -- folds its own: the sums a version reads stay the same).
    -- (Nested: a condition naming a Citus catalog is parsed only where
    -- Citus is installed.)
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL
       AND EXISTS (SELECT 1 FROM gridkit.layer_source_table WHERE citus) THEN
        IF (SELECT groupid FROM pg_catalog.pg_dist_local_group) = 0 THEN
            PERFORM * FROM run_command_on_workers('SELECT gridkit.compact_data_versions()');
        END IF;
    END IF;
    WITH folded AS (
        DELETE FROM gridkit.source_change RETURNING relid
    ), counted AS (
        INSERT INTO gridkit.source_version AS v (relid, compacted)
        SELECT relid, count(*) FROM folded GROUP BY relid
        ON CONFLICT (relid) DO UPDATE SET compacted = v.compacted + EXCLUDED.compacted
        RETURNING 1
    )
    SELECT count(*) INTO n FROM folded;
    RETURN n;
END
$$;

-- The relations a relation reads: itself, and through views (not
-- materialized views, whose rows are stored) every table and view under it.
CREATE FUNCTION gridkit._relations_under(rel oid) RETURNS oid[]
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE under(relid, depth) AS (
        SELECT rel, 0
        UNION
        SELECT d.refobjid, u.depth + 1
          FROM under u
          JOIN pg_class c ON c.oid = u.relid AND c.relkind = 'v'
          JOIN pg_rewrite r ON r.ev_class = u.relid
          JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                          AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> u.relid
         WHERE u.depth < 64
    )
    SELECT array_agg(DISTINCT relid) FROM under
$$;

-- Whether a stored expression tree (a view's rule, a policy's condition,
-- as node text) may give different answers to different readers: it reads
-- the current role (current_user, session_user, a privilege test, a
-- setting) or calls a function that is neither PostgreSQL's nor an
-- extension's (which could).
CREATE FUNCTION gridkit._expr_reads_reader(tree text) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT tree ~ '\{SQLVALUEFUNCTION :op (9|10|11|12) '
        OR EXISTS (
            SELECT FROM regexp_matches(tree, ':(funcid|opno) (\d+)', 'g') m
              LEFT JOIN pg_operator op ON m[1] = 'opno' AND op.oid = m[2]::oid
              JOIN pg_proc p ON p.oid = CASE WHEN m[1] = 'opno' THEN op.oprcode::oid ELSE m[2]::oid END
             WHERE p.proname ~ '^(has_.*_privilege|pg_has_role|current_setting|row_security_active|current_user|session_user)$'
                OR (p.pronamespace <> 'pg_catalog'::regnamespace
                    AND NOT EXISTS (SELECT FROM pg_depend e
                                     WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                                       AND e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e')))
$$;

-- Whether the rows a relation shows may depend on who reads it, beyond the
-- row-level security of the relation itself (which the access decision
-- asks PostgreSQL about per statement): a foreign table (user mappings); a
-- view that is security_invoker or security_barrier (made to filter by
-- reader); a view whose query reads the reader (above); a table under a
-- view whose row-level security policies do (they run as the view's owner
-- but see the reader's current_user). Derived data (pyramids, bands,
-- stored tiles) is never served from such a source.
CREATE FUNCTION gridkit._rows_depend_on_reader(rel oid) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
          FROM unnest(gridkit._relations_under(rel)) u(relid)
          JOIN pg_class c ON c.oid = u.relid
         WHERE c.relkind = 'f'
            OR (c.relkind = 'v' AND EXISTS (
                    SELECT FROM pg_options_to_table(c.reloptions) o
                     WHERE o.option_name IN ('security_invoker', 'security_barrier')
                       AND lower(o.option_value) IN ('true', 'on', '1', 'yes')))
            OR (c.relkind = 'v' AND EXISTS (
                    SELECT FROM pg_rewrite r
                     WHERE r.ev_class = c.oid AND gridkit._expr_reads_reader(r.ev_action::text)))
            OR (c.oid <> rel AND c.relrowsecurity AND EXISTS (
                    SELECT FROM pg_policy p
                     WHERE p.polrelid = c.oid
                       AND gridkit._expr_reads_reader(coalesce(p.polqual::text, ''))))
    )
$$;
