-- Clustered point layers: options checked at registration, the pyramid's
-- status, click-through, filters, and a SQLSTATE for every bad input.
\set VERBOSITY default

CREATE TABLE fx.sites (
    id       bigint PRIMARY KEY,
    kind     text,
    mw       double precision,
    units    integer,
    region   text,
    geom     geometry(Point, 4326)
);
-- Three tight groups of sites and one site far from the others.
INSERT INTO fx.sites
SELECT g * 100 + i, CASE WHEN i % 3 = 0 THEN 'solar' ELSE 'wind' END, i * 1.5, i, 'r' || g,
       ST_SetSRID(ST_MakePoint(-100 + g * 10 + i * 0.001, 40 + i * 0.001), 4326)
  FROM generate_series(1, 3) g, generate_series(1, 10) i;
INSERT INTO fx.sites VALUES (999, 'gas', 100, 1, 'r9', 'SRID=4326;POINT(20 -30)');
CREATE INDEX ON fx.sites USING gist (geom);

SELECT gridkit.layer_register('sites', 'fx.sites', attributes => '{kind,mw,units,region}',
    options => '{"cluster": {"radius": 50, "max_zoom": 6, "aggregates": {"mw": "sum", "units": "max", "kind": "mode"}}}');
SELECT layer, data_version, clustered, built_version, stale, points, clusters FROM gridkit.layer_status() WHERE layer = 'sites';
SELECT level, count(*) AS features, sum(point_count) AS points FROM gridkit.pyramid_rows('sites') GROUP BY 1 ORDER BY 1;

-- At zoom 3 each group is one cluster; the far site stands alone.
SELECT cluster_id IS NOT NULL AS is_cluster, source_id, point_count, expansion_zoom
  FROM gridkit.pyramid_rows('sites') WHERE level = 3 ORDER BY point_count DESC, source_id;

-- Click-through: members in pyramid order, paged.
SELECT cluster_id AS c1 FROM gridkit.pyramid_rows('sites') WHERE level = 3 AND point_count = 10 ORDER BY x LIMIT 1 \gset
SELECT count(*), sum((attributes->>'mw')::float8) AS mw, min(id), max(id) FROM gridkit.cluster_leaves('sites', :c1);
SELECT id FROM gridkit.cluster_leaves('sites', :c1, 3, 8);
SELECT count(*) FROM gridkit.cluster_leaves('sites', :c1, 5, 100);
SELECT gridkit.cluster_expansion_zoom('sites', :c1) BETWEEN 4 AND 7 AS splits_deeper;

-- Changes make the pyramid stale; it keeps serving until refreshed.
INSERT INTO fx.sites VALUES (1000, 'wind', 3, 2, 'r1', 'SRID=4326;POINT(-89.9 40.1)');
UPDATE fx.sites SET mw = mw + 1 WHERE id = 101;
DELETE FROM fx.sites WHERE id = 102;
SELECT data_version, built_version, stale FROM gridkit.layer_status() WHERE layer = 'sites';
SELECT length(grid_tile('sites', 3, 2, 3)) > 0 AS still_serving;
SELECT gridkit.cluster_refresh('sites');
SELECT data_version, built_version, stale FROM gridkit.layer_status() WHERE layer = 'sites';
-- The old id belongs to the previous build (22023, naming the id).
SELECT fx.error_of(format('SELECT * FROM gridkit.cluster_leaves(%L, %s)', 'sites', :c1))
     = format('22023: %s is not a cluster of the current pyramid of layer "sites"', :c1) AS old_id_refused;

-- Bad input.
SELECT * FROM gridkit.cluster_leaves('sites', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.cluster_leaves('sites', 17);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.cluster_leaves('sites', 1, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.cluster_leaves('sites', 1, 10, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.cluster_leaves('nope', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('plain_sites', 'fx.sites');
SELECT * FROM gridkit.cluster_leaves('plain_sites', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.cluster_refresh('plain_sites');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_drop('plain_sites');
SELECT gridkit.cluster_refresh('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT length(grid_tile('sites', 3, 2, 3, '{"colour": "red"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT length(grid_tile('sites', 3, 2, 3, '{"units": "many"}'));
\echo :LAST_ERROR_SQLSTATE
SELECT length(grid_tile('sites', 3, 2, 3, '{"units": 1.5}'));
\echo :LAST_ERROR_SQLSTATE
SELECT length(grid_tile('sites', 3, 2, 3, '{"kind": null}'));
\echo :LAST_ERROR_SQLSTATE
SELECT length(grid_tile('sites', 3, 2, 3, '{"kind": []}'));
\echo :LAST_ERROR_SQLSTATE
SELECT length(grid_tile('sites', 3, 2, 3, '["kind"]'));
\echo :LAST_ERROR_SQLSTATE
-- Filters bind values, they are never SQL.
SELECT length(grid_tile('sites', 3, 2, 3, '{"kind": "x''; DROP TABLE fx.sites; --"}')) AS injected;
SELECT count(*) AS sites_still_there FROM fx.sites;

-- Options that cannot work are refused at registration.
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"aggregates": {"kind": "sum"}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"aggregates": {"mw": "avg"}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"aggregates": {"kind": "median"}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"partition_by": "region"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"radius": -4}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"max_zoom": 30}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"min_points": 1}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": {"maxzoom": 3}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad', 'fx.sites', attributes => '{kind}', options => '{"cluster": true}');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW fx.sites_reserved AS SELECT id, kind AS point_count, geom FROM fx.sites;
SELECT gridkit.layer_register('bad', 'fx.sites_reserved', attributes => '{point_count}', options => '{"cluster": {}}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS bad_layers FROM gridkit.layers WHERE name = 'bad';

-- Re-registering with other settings rebuilds the pyramid; dropping the
-- layer drops its pyramid and the triggers on its source.
SELECT build AS b1 FROM gridkit.pyramid WHERE layer = 'sites' \gset
SELECT gridkit.layer_register('sites', 'fx.sites', attributes => '{kind,mw,units,region}',
    options => '{"cluster": {"radius": 80, "max_zoom": 6, "partition_by": "region"}}');
SELECT build > :b1 AS rebuilt, stale FROM gridkit.pyramid JOIN gridkit.layer_status() USING (layer) WHERE layer = 'sites';
SELECT count(DISTINCT part) AS partitions FROM gridkit.pyramid_rows('sites') WHERE level = 0;
-- The same options with a default spelled out are the same build: kept.
SELECT build AS b2 FROM gridkit.pyramid WHERE layer = 'sites' \gset
SELECT gridkit.layer_register('sites', 'fx.sites', attributes => '{kind,mw,units,region}',
    options => '{"cluster": {"radius": 80.0, "max_zoom": 6, "partition_by": "region", "min_points": 2}}');
SELECT build = :b2 AS kept, stale FROM gridkit.pyramid JOIN gridkit.layer_status() USING (layer) WHERE layer = 'sites';
-- A build of another layout of the build tables is not read: stale, and
-- tiles are clustered from the source until it is rebuilt.
SELECT grid_tile('sites', 0, 0, 0) AS tile_from_pyramid \gset
UPDATE gridkit.pyramid SET settings = settings || '{"layout": 0}' WHERE layer = 'sites';
SELECT stale FROM gridkit.layer_status() WHERE layer = 'sites';
-- (Cluster ids made on the fly are not the pyramid's, so the bytes differ.)
SELECT grid_tile('sites', 0, 0, 0) = :'tile_from_pyramid'::bytea AS same_tile_as_pyramid;
SELECT gridkit.cluster_refresh('sites') > 0 AS rebuilt;
SELECT stale, (settings -> 'layout')::int > 0 AS current_layout FROM gridkit.pyramid JOIN gridkit.layer_status() USING (layer)
 WHERE layer = 'sites';
-- The settings functions parse options as registration does: bad ones get
-- 22023 with the parser's message.
SELECT gridkit._cluster_build_settings('{"cluster": {"radius": 0}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit._band_build_settings('[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit._band_build_settings('{}') = gridkit._band_build_settings('{"simplify": {}, "extent": 4096}')
       AS defaults_spelled_out_are_equal;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'fx.sites'::regclass AND tgname = 'gridkit_data_version';
SELECT gridkit.layer_drop('sites');
SELECT count(*) AS pyramids FROM gridkit.pyramid WHERE layer = 'sites';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'fx.sites'::regclass AND tgname = 'gridkit_data_version';
