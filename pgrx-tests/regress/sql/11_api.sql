-- The api schema (what PostgREST or gridkit's server exposes): a role given
-- gridkit.api_grant can call exactly the api functions, reads registered
-- layers through them and nothing else, cannot write; tiles come back in
-- PostgREST's media-type domain; versions change when tiles may.
\set VERBOSITY default

-- Layers over 00_setup's globe and routes.
SELECT gridkit.layer_register('globe', 'fx.globe', attributes => '{kind}');
SELECT gridkit.layer_register('routes', 'fx.routes');

SELECT gridkit.api_grant('regress_web', create_role => true);
SELECT rolname, rolcanlogin, rolinherit, rolconfig FROM pg_roles WHERE rolname = 'regress_web';
-- A role that does not exist is not created unless asked.
SELECT gridkit.api_grant('regress_nobody');
\echo :LAST_ERROR_SQLSTATE

-- Exactly the api functions, nothing in gridkit the role could call: every
-- gridkit and api function, executable or not, through the role's eyes
-- (a function needs EXECUTE and USAGE on its schema).
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS args
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('api', 'gridkit')
   AND has_schema_privilege('regress_web', n.oid, 'USAGE')
   AND has_function_privilege('regress_web', p.oid, 'EXECUTE')
   AND n.nspname = 'api'
 ORDER BY 1, 2, 3;
-- Through gridkit: schema usage (the registry is public) but no function
-- beyond those anyone may call, and no table it can write. It reads what
-- the api reads (the api runs with its rights): the registered sources and
-- series, granted by api_grant.
SELECT count(*) FILTER (WHERE has_table_privilege('regress_web', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) AS writable,
       count(*) FILTER (WHERE n.nspname = 'fx' AND c.oid IN (SELECT rel FROM gridkit._api_relations)) > 0 AS some_registered,
       count(*) FILTER (WHERE n.nspname = 'fx' AND has_table_privilege('regress_web', c.oid, 'SELECT')
                              <> (c.oid IN (SELECT rel FROM gridkit._api_relations))) AS read_unlike_registry
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('gridkit', 'api', 'fx') AND c.relkind IN ('r', 'p', 'v', 'm');
SELECT p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'gridkit' AND has_function_privilege('regress_web', p.oid, 'EXECUTE')
   AND p.proname IN ('layer_register', 'layer_drop', 'cluster_refresh', 'generalize_refresh', 'rollup_refresh',
                     'run_maintenance', 'api_grant', 'refresh_stale', 'demo_generate');

-- The test's own helper (the role may use schema fx, not read its tables).
GRANT USAGE ON SCHEMA fx TO regress_web;
SET ROLE regress_web;
-- In a read-only transaction, as PostgREST runs GET requests.
BEGIN READ ONLY;
SELECT pg_typeof(api.tile('globe', 2, 1, 1)), length(api.tile('globe', 2, 1, 1)) > 100 AS has_features;
SELECT length(api.tile('globe,routes', 1, 0, 0)) > length(api.tile('globe', 1, 0, 0)) AS two_layers_bigger;
SELECT length(api.tile('globe', 1, 0, 0, '{"kind": "polar"}')) < length(api.tile('globe', 1, 0, 0)) AS filtered_smaller;
SELECT count(*) FROM api.nearby('globe', 0, 0, 200000);
SELECT count(*) FROM api.bbox('globe', -1, -1, 1, 1);
SELECT api.feature('globe', 1);
SELECT name, geometry_type, fields, min_zoom, clustered FROM api.layers() WHERE name IN ('globe', 'routes');
SELECT api.tilejson('globe', 'https://maps.example/tiles/globe/{z}/{x}/{y}.mvt');
SELECT api.tilejson('globe,routes') -> 'tiles';
COMMIT;
-- The sources behind the api are readable, as through it; nothing is
-- writable, and gridkit's own administration is refused.
SELECT count(*) FROM fx.globe;
SELECT * FROM gridkit.nearby('globe', 0, 0, 10);
SELECT gridkit.layer_drop('globe');
SELECT gridkit.cluster_refresh('globe');
INSERT INTO gridkit.layer (name, source, source_name, geom_column, id_column, srid) VALUES ('x', 'fx.globe', 'x', 'geom', 'id', 4326);
-- Bad input through the api keeps its SQLSTATE.
SELECT fx.error_of($q$SELECT api.tile('nope', 0, 0, 0)$q$);
SELECT fx.error_of($q$SELECT api.tile('globe,nope', 0, 0, 0)$q$);
SELECT fx.error_of($q$SELECT api.tile('', 0, 0, 0)$q$);
SELECT fx.error_of($q$SELECT api.tile('globe', 0, 5, 0)$q$);
SELECT fx.error_of($q$SELECT api.tile('globe', 99, 0, 0)$q$);
SELECT fx.error_of($q$SELECT api.tile('globe', 1, 0, 0, '{"nope": 1}')$q$);
SELECT fx.error_of($q$SELECT api.tilejson('globe', 'http://x/{z}')$q$);
-- TileJSON takes the lists grid_tile and the server take (crates/tilecoord).
SELECT q, fx.error_of(q) FROM (VALUES
    ($q$SELECT api.tilejson('globe,globe')$q$),
    ($q$SELECT api.tilejson('globe,,routes')$q$),
    ($q$SELECT api.tilejson('')$q$),
    ($q$SELECT api.tilejson(NULL)$q$),
    ($q$SELECT api.tilejson('globe,nope')$q$),
    ($q$SELECT api.tilejson(repeat('globe,', 32) || 'routes')$q$)) t(q);
SELECT fx.error_of($q$SELECT * FROM api.history('fx.globe', '{}', now() - interval '1 day', now())$q$);
SELECT fx.error_of($q$SELECT * FROM api.latest('pg_catalog.pg_authid')$q$);
RESET ROLE;

-- Congestion indices over HTTP: only for a series gridkit keeps; the same
-- rows as the gridkit functions.
CREATE TABLE fx.lmp (ts timestamptz NOT NULL, iso text, zone text, pnode_id text, lmp float8, energy float8,
                     congestion float8, loss float8);
INSERT INTO fx.lmp
SELECT t, iso, zone, node, 0, 30 + (zone = 'B')::int * 10 * sin(h / 3.0),
       CASE WHEN zone = 'A' AND extract(hour FROM t) BETWEEN 7 AND 22 THEN 20 ELSE 1 END, 0.5
  FROM generate_series(0, 335) h, LATERAL (SELECT timestamptz '2024-06-03 00:00+00' + h * interval '1 hour') x(t),
       (VALUES ('X', 'A', 'a1'), ('X', 'A', 'a2'), ('X', 'B', 'b1'), ('X', 'C', 'c1'), ('Y', 'Q', 'q1')) n(iso, zone, node);
UPDATE fx.lmp SET lmp = energy + congestion + loss;
SELECT fx.error_of($q$SELECT * FROM api.zone_classify('fx.lmp', '2024-06-01', '2024-07-01')$q$);
SET client_min_messages = warning;
SELECT gridkit.ts_convert('fx.lmp', 'ts', '1 month', premake => 0)::text;
RESET client_min_messages;
SET ROLE regress_web;
CREATE TEMP TABLE api_zones AS SELECT * FROM api.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso');
CREATE TEMP TABLE api_nodes AS SELECT * FROM api.pnode_severity('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso', min_hours => NULL);
SELECT fx.error_of($q$SELECT * FROM api.zone_classify('fx.lmp', '2024-06-01', '2024-07-01', lmp_column => 'price')$q$);
RESET ROLE;
SELECT count(*) AS zones, (SELECT count(*) FROM ((TABLE api_zones EXCEPT SELECT * FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso'))
                           UNION ALL (SELECT * FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso') EXCEPT TABLE api_zones)) d) AS differing
  FROM api_zones;
SELECT count(*) AS nodes, (SELECT count(*) FROM ((TABLE api_nodes EXCEPT SELECT * FROM gridkit.pnode_severity('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso'))
                           UNION ALL (SELECT * FROM gridkit.pnode_severity('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso') EXCEPT TABLE api_nodes)) d) AS differing
  FROM api_nodes;

-- Options as gridkit applies them, defaults included (from the option
-- parser, not re-derived in SQL): {"cluster": {}} clusters up to zoom 9.
SELECT gridkit.layer_register('api_defaults', 'fx.points', options => '{"cluster": {}, "min_zoom": 2}');
SELECT name, min_zoom, clustered, cluster_max_zoom, max_age FROM api.layers() WHERE name = 'api_defaults';
SELECT (api.tilejson('api_defaults') ->> 'minzoom')::int AS minzoom;
SELECT gridkit.layer_drop('api_defaults');

-- Versions: one per layer, changed by the layer's data and only by it
-- (the server's tile cache hears of each change on channel gridkit_tiles;
-- its tests check that).
CREATE TEMP TABLE v0 AS SELECT * FROM api.layer_versions();
UPDATE fx.routes SET geom = geom WHERE id = 1;
SELECT l.layer, l.version <> v.version AS changed
  FROM api.layer_versions() l JOIN v0 v USING (layer) WHERE l.layer IN ('globe', 'routes') ORDER BY 1;
DROP OWNED BY regress_web;
DROP ROLE regress_web;
