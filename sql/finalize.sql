-- gridkit finalize: objects that depend on the Rust functions.

-- The public signature, with SQL types and defaults; the checks are in Rust.
CREATE FUNCTION gridkit.layer_register(
    name text,
    source regclass,
    geom_column name DEFAULT 'geom',
    id_column name DEFAULT 'id',
    attributes text[] DEFAULT '{}',
    options jsonb DEFAULT '{}'
) RETURNS void
LANGUAGE sql VOLATILE
AS $$ SELECT gridkit._layer_register($1, $2::oid, $3::text, $4::text, $5, $6) $$;
COMMENT ON FUNCTION gridkit.layer_register(text, regclass, name, name, text[], jsonb) IS
    'Registers a table, view or materialized view as a tile layer (replaces a layer of the same name)';

CREATE TRIGGER layer_registry_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gridkit.layer
    FOR EACH STATEMENT EXECUTE FUNCTION gridkit._layer_registry_changed();

CREATE VIEW gridkit.layers AS
SELECT l.name,
       l.source,
       c.oid IS NOT NULL AS source_exists,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END AS source_kind,
       CASE WHEN a.atttypmod >= 0 THEN postgis_typmod_type(a.atttypmod) ELSE 'Geometry' END AS geometry_type,
       l.srid,
       l.geom_column,
       l.id_column,
       l.attributes,
       l.options,
       l.registered_at
  FROM gridkit.layer l
  LEFT JOIN pg_catalog.pg_class c ON c.oid = l.source
  LEFT JOIN pg_catalog.pg_attribute a
         ON a.attrelid = c.oid AND a.attname = l.geom_column AND NOT a.attisdropped;
COMMENT ON VIEW gridkit.layers IS 'Registered layers with their source, geometry type, attributes and options';

-- Anyone may read the registry and call grid_tile; what a tile shows is still
-- limited by the caller's privileges on each layer's source.
GRANT USAGE ON SCHEMA gridkit TO PUBLIC;
GRANT SELECT ON gridkit.layer, gridkit.layers TO PUBLIC;
-- gridkit._layer_register checks EXECUTE on gridkit.layer_register itself.
REVOKE ALL ON FUNCTION gridkit.layer_register(text, regclass, name, name, text[], jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.layer_drop(text) FROM PUBLIC;
-- It replaces schema demo.
REVOKE ALL ON FUNCTION gridkit.demo_generate(double precision, integer) FROM PUBLIC;

CREATE TRIGGER pyramid_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gridkit.pyramid
    FOR EACH STATEMENT EXECUTE FUNCTION gridkit._layer_registry_changed();

-- What every derived build depends on: the source and how it is read.
CREATE FUNCTION gridkit._source_settings(layer text) RETURNS jsonb
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('source', l.source::oid, 'geom_column', l.geom_column, 'id_column', l.id_column,
                              'attributes', to_jsonb(l.attributes), 'srid', l.srid)
      FROM gridkit.layer l
     WHERE l.name = $1
$$;

-- What a pyramid depends on: when any of it changes, the pyramid no longer
-- describes the layer and is not served (see gridkit.layer_status()). The
-- options part, with defaults spelled out and the build tables' layout
-- number, comes from the option parser (src/layers/mod.rs).
CREATE FUNCTION gridkit._pyramid_settings(layer text) RETURNS jsonb
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT gridkit._source_settings(l.name) || gridkit._cluster_build_settings(l.options)
      FROM gridkit.layer l
     WHERE l.name = $1
$$;

CREATE TRIGGER generalization_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gridkit.generalization
    FOR EACH STATEMENT EXECUTE FUNCTION gridkit._layer_registry_changed();

-- What generalized bands depend on (bands are thinned by the tile budget
-- and rank; the settings gridkit.max_bytes / max_features are read at build
-- time and do not count).
CREATE FUNCTION gridkit._generalization_settings(layer text) RETURNS jsonb
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT gridkit._source_settings(l.name) || gridkit._band_build_settings(l.options)
      FROM gridkit.layer l
     WHERE l.name = $1
$$;

CREATE FUNCTION gridkit.layer_status()
RETURNS TABLE (
    layer text,
    data_version bigint,
    clustered boolean,
    generalized boolean,
    built_version bigint,
    stale boolean,
    built_at timestamptz,
    build_ms double precision,
    points bigint,
    clusters bigint,
    features bigint,
    band_rows bigint,
    bands_max_zoom smallint
)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.name,
           v.version,
           l.options ? 'cluster',
           g.layer IS NOT NULL,
           coalesce(p.data_version, g.data_version),
           CASE WHEN l.options ? 'cluster'
                THEN p.layer IS NULL
                  OR p.settings IS DISTINCT FROM gridkit._pyramid_settings(l.name)
                  OR p.data_version < v.version
                WHEN g.layer IS NOT NULL
                THEN g.settings IS DISTINCT FROM gridkit._generalization_settings(l.name)
                  OR g.data_version < v.version
           END,
           coalesce(p.built_at, g.built_at),
           coalesce(p.build_ms, g.build_ms),
           -- Counts of the source's rows only for a role that may read them all.
           CASE WHEN a.readable THEN p.points END,
           CASE WHEN a.readable THEN p.clusters END,
           CASE WHEN a.readable THEN g.features END,
           CASE WHEN a.readable THEN g.rows END,
           g.max_zoom
      FROM gridkit.layer l
      CROSS JOIN LATERAL (SELECT gridkit.layer_data_version(l.name) AS version) v
      CROSS JOIN LATERAL (SELECT gridkit._relation_access(l.source) = 'full' AS readable) a
      LEFT JOIN gridkit.pyramid p ON p.layer = l.name
      LEFT JOIN gridkit.generalization g ON g.layer = l.name
     ORDER BY l.name
$$;
COMMENT ON FUNCTION gridkit.layer_status() IS
    'Per layer: its data version and the version its cluster pyramid or generalized bands were built from';

CREATE FUNCTION gridkit.cluster_refresh_stale() RETURNS TABLE (layer text, points bigint)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT gridkit._require_primary('gridkit.cluster_refresh_stale');
    SELECT s.layer, gridkit.cluster_refresh(s.layer)
      FROM gridkit.layer_status() s
     WHERE s.stale AND s.clustered
     ORDER BY s.layer
$$;
COMMENT ON FUNCTION gridkit.cluster_refresh_stale() IS
    'Rebuilds every stale cluster pyramid; schedule it with pg_cron';

CREATE FUNCTION gridkit.generalize_refresh_stale() RETURNS TABLE (layer text, features bigint)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT gridkit._require_primary('gridkit.generalize_refresh_stale');
    SELECT s.layer, gridkit.generalize_refresh(s.layer)
      FROM gridkit.layer_status() s
     WHERE s.stale AND s.generalized AND NOT s.clustered
     ORDER BY s.layer
$$;
COMMENT ON FUNCTION gridkit.generalize_refresh_stale() IS
    'Rebuilds the generalized bands of every layer whose bands are stale; schedule it with pg_cron';

CREATE FUNCTION gridkit.refresh_stale() RETURNS TABLE (layer text, kind text, rows bigint)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT gridkit._require_primary('gridkit.refresh_stale');
    SELECT c.layer, 'cluster pyramid', c.points FROM gridkit.cluster_refresh_stale() c
    UNION ALL
    SELECT g.layer, 'generalization', g.features FROM gridkit.generalize_refresh_stale() g
$$;
COMMENT ON FUNCTION gridkit.refresh_stale() IS
    'Rebuilds every stale cluster pyramid and generalization: the one job to schedule with pg_cron';

GRANT SELECT ON gridkit.pyramid, gridkit.generalization, gridkit.layer_source_table TO PUBLIC;
REVOKE ALL ON FUNCTION gridkit.generalize_refresh(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.generalize_refresh_stale() FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.refresh_stale() FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.cluster_refresh(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.cluster_refresh_stale() FROM PUBLIC;

COMMENT ON FUNCTION gridkit.pyramid_rows(text) IS
    'The clusters and lone points of a layer''s pyramid, per zoom (x, y in Web Mercator)';

-- gridkit._generalized_rows (src/generalize/mod.rs) decides the caller's
-- access and reads the bands; this makes geometries of them.
CREATE FUNCTION gridkit.generalized_rows(layer text)
RETURNS TABLE (level smallint, id bigint, geom geometry)
LANGUAGE sql STABLE
AS $$ SELECT r.level, r.id, st_geomfromewkb(r.ewkb) FROM gridkit._generalized_rows(layer) r $$;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION gridkit.generalized_rows(text) SET search_path = pg_catalog, %I, pg_temp',
                   (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'postgis'));
END
$$;
COMMENT ON FUNCTION gridkit.generalized_rows(text) IS
    'The generalized geometry of each feature of a layer, per zoom band (Web Mercator)';
