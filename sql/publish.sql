-- Layers as tile-server function sources: Martin and pg_tileserv publish a
-- function `(z integer, x integer, y integer, query json) RETURNS bytea`
-- as a tile source, so a layer published this way gets gridkit's
-- clustering, zoom rules and budgets behind an existing tile server.

CREATE FUNCTION gridkit.publish_function(layer text, schema name DEFAULT 'public', function_name name DEFAULT NULL)
RETURNS regprocedure
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn name := coalesce(function_name, layer);
    src regclass;
    home name;
    made regprocedure;
BEGIN
    PERFORM gridkit._require_primary('gridkit.publish_function');
    IF layer IS NULL OR schema IS NULL THEN
        RAISE EXCEPTION 'publish_function: layer and schema may not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT l.source INTO src FROM gridkit.layer l WHERE l.name = layer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'layer "%" is not registered', layer USING ERRCODE = '42704',
            HINT = 'Register it with gridkit.layer_register first.';
    END IF;
    -- As for managing the layer: its source's owner, a member of that
    -- role, or a superuser.
    IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = src), 'USAGE') THEN
        RAISE EXCEPTION 'role % may not publish layer "%": it does not own its source %', current_user, layer, src
            USING ERRCODE = '42501';
    END IF;
    IF to_regnamespace(quote_ident(schema)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema USING ERRCODE = '3F000';
    END IF;
    SELECT n.nspname INTO home FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'gridkit';
    -- Martin passes the request's query parameters as a JSON object ('{}'
    -- without any): they are the tile filter. The layer name is a literal,
    -- the function runs with the caller's rights (row security applies).
    EXECUTE format('CREATE OR REPLACE FUNCTION %I.%I(z integer, x integer, y integer, query json DEFAULT NULL) '
                   'RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS %L',
                   schema, fn,
                   format('SELECT %I.grid_tile(%L, z, x, y, coalesce(query, ''{}'')::jsonb)', home, layer));
    made := format('%I.%I(integer, integer, integer, json)', schema, fn)::regprocedure;
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', made,
                   format('gridkit layer %s as a tile function source (Martin, pg_tileserv)', layer));
    RETURN made;
END
$$;
COMMENT ON FUNCTION gridkit.publish_function(text, name, name) IS
    'Makes schema.function(z, x, y, query json) RETURNS bytea serving a layer''s tiles, for Martin and pg_tileserv';
REVOKE ALL ON FUNCTION gridkit.publish_function(text, name, name) FROM PUBLIC;
