-- Lines and polygons by zoom: zoom rules and rank checked at registration,
-- generalized bands and their status, and a SQLSTATE for every bad input.
\set VERBOSITY default

-- Forty wiggly wires of 201 vertices, at six voltages.
CREATE TABLE fx.wires (
    id         bigint PRIMARY KEY,
    kv         integer,
    owner      text,
    in_service boolean,
    geom       geometry(LineString, 4326)
);
INSERT INTO fx.wires
SELECT i, (ARRAY[69, 115, 230, 345, 500, 765])[1 + i % 6], 'o' || (i % 4), i % 5 <> 0,
       ST_SetSRID(ST_MakeLine(ARRAY(
           SELECT ST_MakePoint(-100 + (i % 8) * 2 + k * 0.01, 40 + (i / 8) * 0.5 + 0.05 * sin(k / 7.0))
             FROM generate_series(0, 200) k ORDER BY k)), 4326)
  FROM generate_series(1, 40) i;
CREATE INDEX ON fx.wires USING gist (geom);

SELECT gridkit.layer_register('wires', 'fx.wires', attributes => '{kv,owner,in_service}', options => '{
    "min_zoom": 2,
    "zoom_rules": [{"max_zoom": 4, "where": {"kv": {">=": 500}}},
                   {"max_zoom": 6, "where": {"kv": {">=": 230}, "in_service": true}},
                   {"max_zoom": 8, "where": {"any": [{"kv": {">=": 115}}, {"owner": ["o1", "o2"]}]}}],
    "rank": "kv"}');
-- Registration alone builds no bands.
SELECT layer, clustered, generalized, stale, features FROM gridkit.layer_status() WHERE layer = 'wires';
SELECT gridkit.generalize_refresh('wires');
SELECT layer, clustered, generalized, stale, features, band_rows > 0 AS has_rows, bands_max_zoom
  FROM gridkit.layer_status() WHERE layer = 'wires';

-- Each band holds exactly the wires its zoom shows: nothing below min_zoom,
-- then each rule up to its max_zoom, then every wire.
SELECT g.level, count(*) AS wires, min(w.kv) AS min_kv, bool_and(w.in_service) AS all_in_service,
       sum(ST_NPoints(g.geom)) < 40 * 201 AS simplified
  FROM gridkit.generalized_rows('wires') g JOIN fx.wires w USING (id)
 GROUP BY 1 ORDER BY 1;
-- The same wires as the rules in SQL, zoom by zoom.
SELECT z, (SELECT count(*) FROM gridkit.generalized_rows('wires') g WHERE g.level = z) AS banded,
       (SELECT count(*) FROM fx.wires WHERE CASE WHEN z < 2 THEN false
                                                 WHEN z <= 4 THEN kv >= 500
                                                 WHEN z <= 6 THEN kv >= 230 AND in_service
                                                 WHEN z <= 8 THEN kv >= 115 OR owner IN ('o1', 'o2')
                                                 ELSE true END) AS expected
  FROM generate_series(0, 9) z
 WHERE z <= (SELECT max_zoom FROM gridkit.generalization WHERE layer = 'wires');
-- Below min_zoom a tile is empty, above it not.
SELECT z, length(grid_tile('wires', z, x, y)) > 0 AS has_features
  FROM (VALUES (0, 0, 0), (1, 0, 0), (2, 0, 1), (3, 1, 3)) t(z, x, y);

-- Changes make the bands stale; they keep serving until refreshed.
UPDATE fx.wires SET kv = 765 WHERE id = 1;
SELECT stale FROM gridkit.layer_status() WHERE layer = 'wires';
SELECT gridkit.refresh_stale();
SELECT stale FROM gridkit.layer_status() WHERE layer = 'wires';
SELECT count(*) FROM gridkit.generalized_rows('wires') WHERE id = 1 AND level = 3;
-- Re-registering with other rules rebuilds the bands at once.
SELECT gridkit.layer_register('wires', 'fx.wires', attributes => '{kv,owner,in_service}',
    options => '{"zoom_rules": [{"max_zoom": 3, "where": {"kv": 765}}], "simplify": {"max_zoom": 5}}');
SELECT stale, bands_max_zoom FROM gridkit.layer_status() WHERE layer = 'wires';
SELECT level, count(*) FROM gridkit.generalized_rows('wires') GROUP BY 1 ORDER BY 1;
-- Defaults spelled out are the same bands (kept); a build of another
-- layout is stale and not read.
SELECT build AS w1 FROM gridkit.generalization WHERE layer = 'wires' \gset
SELECT gridkit.layer_register('wires', 'fx.wires', attributes => '{kv,owner,in_service}',
    options => '{"zoom_rules": [{"max_zoom": 3, "where": {"kv": 765}}], "simplify": {"max_zoom": 5, "tolerance_px": 1},
                 "extent": 4096, "buffer": 64, "min_zoom": 0}');
SELECT build = :w1 AS kept, stale FROM gridkit.generalization JOIN gridkit.layer_status() USING (layer)
 WHERE layer = 'wires';
UPDATE gridkit.generalization SET settings = settings || '{"layout": 0}' WHERE layer = 'wires';
SELECT stale FROM gridkit.layer_status() WHERE layer = 'wires';
SELECT gridkit.generalize_refresh('wires') > 0 AS rebuilt;
SELECT build > :w1 AS new_build, stale FROM gridkit.generalization JOIN gridkit.layer_status() USING (layer)
 WHERE layer = 'wires';

-- Bad rules, each rejected at registration with what is wrong.
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}',
    options => '{"zoom_rules": [{"max_zoom": 6, "where": {"voltage": {">=": 345}}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv,owner}',
    options => '{"zoom_rules": [{"max_zoom": 6, "where": {"owner": {">=": 345}}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}',
    options => '{"zoom_rules": [{"max_zoom": 6, "where": {"kv": "high"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv,in_service}',
    options => '{"zoom_rules": [{"max_zoom": 6, "where": {"in_service": {">": true}}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}',
    options => '{"zoom_rules": [{"max_zoom": 6, "where": {"kv": {"=~": 1}}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}',
    options => '{"zoom_rules": [{"max_zoom": 8, "where": {"kv": 1}}, {"max_zoom": 6, "where": {"kv": 2}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}', options => '{"zoom_rules": [{"max_zoom": 6}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}', options => '{"min_zoom": -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv,owner}', options => '{"rank": "owner"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}', options => '{"rank": "voltage"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv}', options => '{"simplify": {"tolerance_px": 100}}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('w2', 'fx.points', attributes => '{score}',
    options => '{"cluster": {}, "zoom_rules": [{"max_zoom": 3, "where": {"score": {">": 1}}}]}');
\echo :LAST_ERROR_SQLSTATE
-- A literal is data, never SQL.
SELECT gridkit.layer_register('w2', 'fx.wires', attributes => '{kv,owner}',
    options => E'{"zoom_rules": [{"max_zoom": 6, "where": {"owner": "o1\') OR true --\\\\"}}]}');
SELECT gridkit.generalize_refresh('w2');
SELECT count(*) FROM gridkit.generalized_rows('w2') WHERE level = 6;
SELECT gridkit.layer_drop('w2');

-- Bands are for lines and polygons, of layers that exist.
SELECT gridkit.layer_register('pts_g', 'fx.points');
SELECT gridkit.generalize_refresh('pts_g');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('points_c', 'fx.points', options => '{"cluster": {}}');
SELECT gridkit.generalize_refresh('points_c');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_drop('points_c');
SELECT gridkit.generalize_refresh('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.generalized_rows('pts_g');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.generalize_refresh(NULL) IS NULL AS strict;
SELECT gridkit.layer_drop('pts_g');

-- The build stores its tiles of zooms 0-4; a stored tile shows only what
-- the caller may read, as a rendered one does.
SELECT tiles_max_zoom FROM gridkit.generalization WHERE layer = 'wires';
SELECT tiles AS wires_tiles FROM gridkit.generalization WHERE layer = 'wires' \gset
SELECT count(*) > 0 AS tiles_stored FROM :wires_tiles WHERE z = 0;
CREATE ROLE gridkit_band_reader;
GRANT USAGE ON SCHEMA fx TO gridkit_band_reader;
SET ROLE gridkit_band_reader;
SELECT length(grid_tile('wires', 0, 0, 0));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE USAGE ON SCHEMA fx FROM gridkit_band_reader;
DROP ROLE gridkit_band_reader;

-- Dropping the layer retires its bands and stored tiles; a later build
-- drops the tables.
SELECT storage AS old_storage, tiles AS old_tiles FROM gridkit.generalization WHERE layer = 'wires' \gset
SELECT gridkit.layer_drop('wires');
SELECT count(*) FROM gridkit.generalization WHERE layer = 'wires';
SELECT to_regclass(:'old_storage') IS NOT NULL AND to_regclass(:'old_tiles') IS NOT NULL AS kept_until_a_later_build;
SELECT gridkit.layer_register('w3', 'fx.wires');
SELECT gridkit.generalize_refresh('w3');
SELECT to_regclass(:'old_storage') IS NULL AND to_regclass(:'old_tiles') IS NULL AS dropped;
SELECT gridkit.layer_drop('w3');
