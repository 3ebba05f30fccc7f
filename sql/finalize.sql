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
REVOKE ALL ON FUNCTION gridkit._layer_register(text, oid, text, text, text[], jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.layer_register(text, regclass, name, name, text[], jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit.layer_drop(text) FROM PUBLIC;
