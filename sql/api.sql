-- The HTTP contract: schema `api` holds exactly what a web client may call,
-- as PostgREST would expose it (and as gridkit's own server calls it).
-- Every function runs with its caller's rights (a view's code, a policy,
-- a trigger never runs as anyone else) with a fixed search_path, and checks
-- its arguments against the registries. gridkit.api_grant(role) lets a role
-- call them and read what they read: the sources of registered layers and
-- the series gridkit keeps, then and as they are registered later
-- (gridkit.api_role). Row-level security applies to that role as to any.
-- See docs/HTTP.md and docs/postgrest.conf.

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'gridkit''s web API: tiles, TileJSON, spatial queries and series (PostgREST-compatible)';
REVOKE ALL ON SCHEMA api FROM PUBLIC;

-- PostgREST 12 answers with a function's media type when it returns a
-- domain named after it.
CREATE DOMAIN api."application/vnd.mapbox-vector-tile" AS bytea;

-- Tiles and layers change when their data, registration, cluster pyramid or
-- generalized bands do; listeners (the server's tile cache) hear it at
-- commit on channel gridkit_tiles and re-read api.layer_versions().
CREATE FUNCTION gridkit._notify_tiles() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Not on a Citus worker: servers listen on the coordinator, and a
    -- shard write there is part of a two-phase commit, which NOTIFY forbids.
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_local_group WHERE groupid <> 0) THEN
            RETURN NULL;
        END IF;
    END IF;
    PERFORM pg_notify('gridkit_tiles', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER notify_tiles AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gridkit.layer
    FOR EACH STATEMENT EXECUTE FUNCTION gridkit._notify_tiles();
CREATE TRIGGER notify_tiles AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gridkit.pyramid
    FOR EACH STATEMENT EXECUTE FUNCTION gridkit._notify_tiles();
CREATE TRIGGER notify_tiles AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gridkit.generalization
    FOR EACH STATEMENT EXECUTE FUNCTION gridkit._notify_tiles();
-- A source's change is logged here once per writing transaction and table.
CREATE TRIGGER notify_tiles AFTER INSERT ON gridkit.source_change
    FOR EACH STATEMENT EXECUTE FUNCTION gridkit._notify_tiles();

-- Per layer, a version of everything its tiles depend on: equal versions,
-- equal tiles (for the same request and gridkit.* settings). Times enter as
-- epoch seconds, so the text is the same under any TimeZone or DateStyle:
-- servers on a primary and its replicas compute the same ETags.
CREATE FUNCTION api.layer_versions() RETURNS TABLE (layer text, version text)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.name,
           md5(concat_ws('|', extract(epoch FROM l.registered_at), l.source::oid, l.geom_column, l.id_column,
                         l.attributes::text, l.options::text, gridkit.layer_data_version(l.name), p.build,
                         extract(epoch FROM p.built_at), extract(epoch FROM g.built_at)))
      FROM gridkit.layer l
      LEFT JOIN gridkit.pyramid p ON p.layer = l.name
      LEFT JOIN gridkit.generalization g ON g.layer = l.name
     ORDER BY l.name
$$;
COMMENT ON FUNCTION api.layer_versions() IS
    'Per layer, a version string that changes whenever its tiles may (data, registration, pyramid, bands)';

-- grid_tile checks the names (42704 for an unknown layer, 22023 for an
-- empty list or a name listed twice); no lookup here, as this runs once
-- per tile.
CREATE FUNCTION api.tile(layer text, z integer, x integer, y integer, filter jsonb DEFAULT NULL)
RETURNS api."application/vnd.mapbox-vector-tile"
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF layer IS NULL OR z IS NULL OR x IS NULL OR y IS NULL THEN
        RAISE EXCEPTION 'layer, z, x and y are required' USING ERRCODE = '22023';
    END IF;
    IF filter IS NULL THEN
        RETURN @extschema@.grid_tile(string_to_array(layer, ','), z, x, y);
    END IF;
    RETURN @extschema@.grid_tile(string_to_array(layer, ','), z, x, y, filter);
END
$$;
COMMENT ON FUNCTION api.tile(text, integer, integer, integer, jsonb) IS
    'A Mapbox Vector Tile of one layer or of several (comma-separated), optionally filtered on registered attributes';

CREATE FUNCTION api.layers()
RETURNS TABLE (name text, geometry_type text, fields jsonb, min_zoom integer, clustered boolean,
               cluster_max_zoom integer, max_age integer, notified boolean)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
    -- Options with their defaults, as the option parser decides them.
    -- `notified`: a change to its data is NOTIFYed on this server; not so
    -- for a layer on a Citus table (its writes commit on the workers), whose
    -- version a server must poll.
    SELECT l.name, v.geometry_type,
           CASE WHEN v.source_exists THEN gridkit._layer_fields(l.name) ELSE '{}' END, (s ->> 'min_zoom')::int,
           (s ->> 'clustered')::boolean, (s ->> 'cluster_max_zoom')::int, (s ->> 'max_age')::int,
           NOT EXISTS (SELECT 1 FROM gridkit.layer_source_table t WHERE t.layer = l.name AND t.citus)
      FROM gridkit.layer l JOIN gridkit.layers v ON v.name = l.name,
           LATERAL gridkit._layer_settings(l.options) s
     ORDER BY l.name
$$;
COMMENT ON FUNCTION api.layers() IS
    'The registered layers: geometry type, attribute fields, zooms, HTTP max-age, whether changes are notified';

-- TileJSON 3.0 for a layer (or comma-separated layers): all MapLibre needs.
-- `tiles_url` is the tile URL template; by default PostgREST's /rpc/tile.
CREATE FUNCTION api.tilejson(layer text, tiles_url text DEFAULT NULL) RETURNS json
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    names text[] := gridkit._layer_list(layer);
    result json;
BEGIN
    IF tiles_url IS NOT NULL AND (tiles_url NOT LIKE '%{z}%' OR tiles_url NOT LIKE '%{x}%' OR tiles_url NOT LIKE '%{y}%') THEN
        RAISE EXCEPTION 'tiles_url must contain {z}, {x} and {y}' USING ERRCODE = '22023';
    END IF;
    SELECT json_build_object(
               'tilejson', '3.0.0',
               'name', layer,
               'scheme', 'xyz',
               'tiles', json_build_array(coalesce(tiles_url,
                   '/rpc/tile?layer=' || layer || '&z={z}&x={x}&y={y}')),
               'minzoom', min((gridkit._layer_settings(l.options) ->> 'min_zoom')::int),
               'maxzoom', 22,
               'bounds', json_build_array(-180, -85.0511, 180, 85.0511),
               'vector_layers', json_agg(json_build_object(
                   'id', l.name,
                   'fields', gridkit._layer_fields(l.name),
                   'minzoom', (gridkit._layer_settings(l.options) ->> 'min_zoom')::int,
                   'maxzoom', 22) ORDER BY array_position(names, l.name)))
      INTO result
      FROM gridkit.layer l
     WHERE l.name = ANY (names);
    RETURN result;
END
$$;
COMMENT ON FUNCTION api.tilejson(text, text) IS 'TileJSON 3.0.0 for one layer or several (comma-separated)';

CREATE FUNCTION api.nearby(layer text, lon double precision, lat double precision, radius_m double precision,
                           "limit" integer DEFAULT 100)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, distance_m double precision,
               attributes jsonb)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM gridkit.nearby(layer, lon, lat, radius_m, "limit") $$;

CREATE FUNCTION api.along_route(layer text, route jsonb, buffer_m double precision, "limit" integer DEFAULT 1000)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, distance_m double precision,
               attributes jsonb)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM gridkit.along_route(layer, route, buffer_m, "limit") $$;

CREATE FUNCTION api.within(layer text, polygon jsonb, "limit" integer DEFAULT 1000)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, attributes jsonb)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM gridkit.within(layer, polygon, "limit") $$;

CREATE FUNCTION api.bbox(layer text, west double precision, south double precision, east double precision,
                         north double precision, "limit" integer DEFAULT 500, "offset" integer DEFAULT 0)
RETURNS TABLE (id bigint, longitude double precision, latitude double precision, attributes jsonb)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM gridkit.bbox(layer, west, south, east, north, "limit", "offset") $$;

CREATE FUNCTION api.feature(layer text, id bigint) RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$ SELECT gridkit.feature(layer, id) $$;

-- The series a client may name: the time-series tables, rollups and
-- sources with latest values gridkit keeps, by qualified name.
CREATE VIEW gridkit._series AS
SELECT s.rel,
       format('%I.%I', n.nspname, c.relname) AS name,
       CASE WHEN r.name IS NOT NULL THEN 'rollup' WHEN t.relid IS NOT NULL THEN 'time series' ELSE 'table' END AS kind,
       coalesce(t.time_column, l.time_column) AS time_column,
       l.source IS NOT NULL AS latest
  FROM (SELECT relid AS rel FROM gridkit.ts_table UNION SELECT source FROM gridkit.latest) s
  JOIN pg_catalog.pg_class c ON c.oid = s.rel
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN gridkit.ts_table t ON t.relid = s.rel
  LEFT JOIN gridkit.latest l ON l.source = s.rel
  LEFT JOIN gridkit.rollup r ON r.relid = s.rel;
-- Which series exist is no secret (as gridkit.layers): api roles name them.
GRANT SELECT ON gridkit._series TO PUBLIC;

-- A series named by a client, or 42704.
CREATE FUNCTION gridkit._series_source(source text) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found regclass := (SELECT s.rel FROM gridkit._series s WHERE s.name = source);
BEGIN
    IF found IS NULL THEN
        RAISE EXCEPTION 'series "%" does not exist', source USING ERRCODE = '42704',
            HINT = 'Series are gridkit time-series tables, rollups and sources with latest values; see api.series().';
    END IF;
    RETURN found;
END
$$;

CREATE FUNCTION api.series() RETURNS TABLE (source text, kind text, time_column name, latest boolean)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$ SELECT s.name, s.kind, s.time_column, s.latest FROM gridkit._series s ORDER BY 1 $$;
COMMENT ON FUNCTION api.series() IS 'The series a client may read: time-series tables, rollups, sources with latest values';

CREATE FUNCTION api.history(source text, key jsonb, "from" timestamptz, "to" timestamptz,
                            max_points integer DEFAULT 2000)
RETURNS TABLE (bucket timestamptz, avg double precision, min double precision, max double precision, count bigint)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM gridkit.history(gridkit._series_source(source), key, "from", "to", max_points) $$;
COMMENT ON FUNCTION api.history(text, jsonb, timestamptz, timestamptz, integer) IS
    'One key''s series over [from, to), from raw rows or a rollup depending on the range (gridkit.history)';

-- The latest row of each key of a source, as JSON objects, paged by key.
CREATE FUNCTION api.latest(source text, "limit" integer DEFAULT 100, "offset" integer DEFAULT 0)
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l gridkit.latest;
BEGIN
    PERFORM gridkit._check_limit("limit", "offset");
    SELECT * INTO l FROM gridkit.latest g WHERE g.source = gridkit._series_source(latest.source);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'latest values of "%" are not kept', source USING ERRCODE = '42704';
    END IF;
    IF gridkit._relation_access(l.source) <> 'full' THEN
        RAISE EXCEPTION 'latest values of "%" cannot be shown to role %: they hold every key''s row, and the role may not read all of %',
              source, current_user, l.source USING ERRCODE = '42501',
              HINT = 'The role needs SELECT on every column of the source and no row-level security limiting it.';
    END IF;
    RETURN QUERY EXECUTE format('SELECT to_jsonb(t) FROM %s t ORDER BY %s LIMIT $1 OFFSET $2', l.latest,
                                (SELECT string_agg(format('%I', k), ', ') FROM unnest(l.key_columns) k))
        USING "limit", "offset";
END
$$;
COMMENT ON FUNCTION api.latest(text, integer, integer) IS 'The latest row per key of a series with latest values, paged';

CREATE FUNCTION api.freshness(source text DEFAULT NULL)
RETURNS TABLE (source text, key jsonb, last_time timestamptz, age interval, status text)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.source::text, f.key, f.last_time, f.age, f.status
      FROM gridkit.freshness f
     WHERE freshness.source IS NULL OR f.source = gridkit._series_source(freshness.source)
$$;
COMMENT ON FUNCTION api.freshness(text) IS 'Per key: last time, age and live / delayed / stale / no data';

-- Grid congestion indices over an LMP series gridkit keeps (a time-series
-- table): per zone (scores and a classification) and per pricing node
-- (severity and tier). Column names default to the documented ones; a
-- NULL argument means its default (over HTTP, a parameter left out).
CREATE FUNCTION api.zone_classify(source text, "from" timestamptz, "to" timestamptz, iso_column name DEFAULT NULL,
                                  timezone text DEFAULT 'UTC', zone_column name DEFAULT 'zone',
                                  time_column name DEFAULT 'ts', lmp_column name DEFAULT 'lmp',
                                  energy_column name DEFAULT 'energy', congestion_column name DEFAULT 'congestion',
                                  loss_column name DEFAULT 'loss', threshold double precision DEFAULT 5)
RETURNS TABLE (iso text, zone text, hours bigint, congestion_ratio double precision,
               congestion_volatility double precision, congested_share double precision, peak_share double precision,
               energy_deviation double precision, energy_volatility double precision, loss_ratio double precision,
               high_energy_share double precision, transmission_score double precision,
               generation_score double precision, classification text)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM gridkit.zone_classify(gridkit._series_source(source), "from", "to",
        coalesce(zone_column, 'zone'), iso_column, coalesce(time_column, 'ts'), coalesce(lmp_column, 'lmp'),
        coalesce(energy_column, 'energy'), coalesce(congestion_column, 'congestion'), coalesce(loss_column, 'loss'),
        coalesce(threshold, 5), coalesce(timezone, 'UTC'))
$$;
COMMENT ON FUNCTION api.zone_classify(text, timestamptz, timestamptz, name, text, name, name, name, name, name, name, double precision) IS
    'Per zone of an LMP series: transmission and generation scores and a classification (gridkit.zone_classify)';

CREATE FUNCTION api.pnode_severity(source text, "from" timestamptz, "to" timestamptz, iso_column name DEFAULT NULL,
                                   node_column name DEFAULT 'pnode_id', zone_column name DEFAULT 'zone',
                                   time_column name DEFAULT 'ts', congestion_column name DEFAULT 'congestion',
                                   min_hours integer DEFAULT 168, threshold double precision DEFAULT 5)
RETURNS TABLE (iso text, zone text, pnode text, hours bigint, avg_abs_congestion double precision,
               congested_share double precision, severity_score double precision, tier text)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM gridkit.pnode_severity(gridkit._series_source(source), "from", "to",
        coalesce(node_column, 'pnode_id'), coalesce(zone_column, 'zone'), iso_column, coalesce(time_column, 'ts'),
        coalesce(congestion_column, 'congestion'), coalesce(min_hours, 168), coalesce(threshold, 5))
$$;
COMMENT ON FUNCTION api.pnode_severity(text, timestamptz, timestamptz, name, name, name, name, name, integer, double precision) IS
    'Per pricing node of an LMP series: severity in [0, 1] within its zone and a tier (gridkit.pnode_severity)';

-- Only roles given api_grant may call these.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;

-- The roles api_grant was given to: each may read the relations the api
-- reads, including those registered after the grant.
CREATE TABLE gridkit.api_role (
    role       name PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gridkit.api_role IS 'Roles given gridkit.api_grant: they read every registered layer source and series';
SELECT pg_catalog.pg_extension_config_dump('gridkit.api_role', '');

-- What the api reads: registered layers' sources, time-series tables,
-- rollups, sources with latest values and their latest tables.
CREATE VIEW gridkit._api_relations AS
SELECT source AS rel FROM gridkit.layer
UNION SELECT relid FROM gridkit.ts_table
UNION SELECT relid FROM gridkit.rollup
UNION SELECT source FROM gridkit.latest
UNION SELECT latest FROM gridkit.latest;

-- Lets `role` read `rel` (SELECT, and USAGE on its schema). A registering
-- role that may not grant gets a NOTICE with the statement to run instead.
CREATE FUNCTION gridkit._api_grant_read(rel oid, role name) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp name;
BEGIN
    SELECT n.nspname INTO nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
    IF nsp IS NULL THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', nsp, role);
        EXECUTE format('GRANT SELECT ON %s TO %I', rel::regclass, role);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'gridkit: the api role % cannot read % yet: %', role, rel::regclass, SQLERRM
            USING HINT = format('GRANT USAGE ON SCHEMA %I TO %I; GRANT SELECT ON %s TO %I;', nsp, role, rel::regclass, role);
        RETURN false;
    END;
    RETURN true;
END
$$;

-- A relation registered (a layer, a time-series table, a rollup, latest
-- values) becomes readable by every api role.
CREATE FUNCTION gridkit._api_share() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    column_name text;
    rel oid;
    r name;
BEGIN
    FOREACH column_name IN ARRAY TG_ARGV LOOP
        -- The regclass column as an oid (a relation dropped since, as in a
        -- restore of a dangling registration, is skipped).
        EXECUTE format('SELECT ($1).%I::oid', column_name) USING NEW INTO rel;
        CONTINUE WHEN rel IS NULL;
        FOR r IN SELECT a.role FROM gridkit.api_role a JOIN pg_roles p ON p.rolname = a.role LOOP
            PERFORM gridkit._api_grant_read(rel, r);
        END LOOP;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER api_share AFTER INSERT OR UPDATE OF source ON gridkit.layer
    FOR EACH ROW EXECUTE FUNCTION gridkit._api_share('source');
CREATE TRIGGER api_share AFTER INSERT ON gridkit.ts_table
    FOR EACH ROW EXECUTE FUNCTION gridkit._api_share('relid');
CREATE TRIGGER api_share AFTER INSERT ON gridkit.rollup
    FOR EACH ROW EXECUTE FUNCTION gridkit._api_share('relid');
CREATE TRIGGER api_share AFTER INSERT OR UPDATE ON gridkit.latest
    FOR EACH ROW EXECUTE FUNCTION gridkit._api_share('source', 'latest');

-- Lets `role` call the api functions and read what they read, now and as
-- relations are registered later; with `create_role`, creates it first
-- (NOLOGIN, for PostgREST to switch into, or LOGIN for gridkit's server),
-- read-only by default.
CREATE FUNCTION gridkit.api_grant(role name, create_role boolean DEFAULT false, login boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM gridkit._require_primary('gridkit.api_grant');
    IF create_role AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role) THEN
        EXECUTE format('CREATE ROLE %I %s NOINHERIT', role, CASE WHEN login THEN 'LOGIN' ELSE 'NOLOGIN' END);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role) THEN
        RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
    END IF;
    EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', role);
    EXECUTE format('GRANT USAGE ON SCHEMA api TO %I', role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO %I', role);
    INSERT INTO gridkit.api_role (role) VALUES (role) ON CONFLICT DO NOTHING;
    PERFORM gridkit._api_grant_read(r.rel, role) FROM gridkit._api_relations r;
END
$$;
REVOKE ALL ON FUNCTION gridkit.api_grant(name, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION gridkit._api_grant_read(oid, name) FROM PUBLIC;
GRANT SELECT ON gridkit.api_role TO PUBLIC;
COMMENT ON FUNCTION gridkit.api_grant(name, boolean, boolean) IS
    'Lets a role call the api schema''s functions (and sets it read-only); creates the role when asked';
