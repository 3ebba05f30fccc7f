-- Registering layers: what is accepted, and a clear error with a SQLSTATE
-- for everything that is not.
\set VERBOSITY default

SELECT gridkit.layer_register('points', 'fx.points', attributes => '{name,score,ratio,n,ok,price,day}');
SELECT name, source, source_exists, source_kind, geometry_type, srid, geom_column, id_column, attributes, options
  FROM gridkit.layers;

-- Registering a name again replaces the layer.
SELECT gridkit.layer_register('points', 'fx.points', attributes => '{name,score}', options => '{"extent": 512, "buffer": 16}');
SELECT name, attributes, options FROM gridkit.layers;

-- Sources: a view, a materialized view (no GiST index: a notice), Web Mercator,
-- a projected SRID, and a column without a declared SRID (sampled).
CREATE VIEW fx.points_view AS SELECT id, name, geom FROM fx.points WHERE ok;
SELECT gridkit.layer_register('points_view', 'fx.points_view', attributes => '{name}');
CREATE MATERIALIZED VIEW fx.points_mv AS SELECT * FROM fx.points;
SELECT gridkit.layer_register('points_mv', 'fx.points_mv');
SELECT gridkit.layer_register('merc', 'fx.merc');
CREATE TABLE fx.utm AS SELECT id, ST_Transform(geom, 32618)::geometry(Point, 32618) AS geom FROM fx.points;
-- Tiles filter such a source in Web Mercator, so the index it needs is on
-- ST_Transform(geom, 3857), which the notice suggests.
CREATE INDEX ON fx.utm USING gist (geom);
SELECT gridkit.layer_register('utm', 'fx.utm');
CREATE INDEX ON fx.utm USING gist (ST_Transform(geom, 3857));
SELECT gridkit.layer_register('utm', 'fx.utm');
CREATE TABLE fx.loose (id bigint, geom geometry);
CREATE INDEX ON fx.loose USING gist (geom);
INSERT INTO fx.loose VALUES (1, 'SRID=4326;POINT(-75 40)');
SELECT gridkit.layer_register('loose', 'fx.loose');
SELECT name, source_kind, geometry_type, srid FROM gridkit.layers ORDER BY name;

-- Bad input.
SELECT gridkit.layer_register('x', 'fx.nope');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('bad name!', 'fx.points');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register(repeat('a', 64), 'fx.points');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register(NULL, 'fx.points');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', attributes => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', geom_column => 'nope');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', geom_column => 'name');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', id_column => 'name');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', id_column => 'score');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', attributes => '{name,name}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', attributes => '{missing}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', attributes => '{geom}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', attributes => ARRAY['name', NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', options => '{"extnet": 512}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', options => '{"extent": 100}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', options => '{"buffer": -1}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', options => '{"max_features": "many"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points', options => '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('x', 'fx.points_pkey');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE fx.geog (id int, geog geography(Point, 4326));
SELECT gridkit.layer_register('x', 'fx.geog', geom_column => 'geog');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE fx.nosrid (id int, geom geometry);
SELECT gridkit.layer_register('x', 'fx.nosrid');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO fx.nosrid VALUES (1, 'POINT(1 1)');
SELECT gridkit.layer_register('x', 'fx.nosrid');
\echo :LAST_ERROR_SQLSTATE
-- Nothing was registered by the failures above.
SELECT count(*) FROM gridkit.layers WHERE name = 'x';

-- Dropping.
SELECT gridkit.layer_drop('points_mv');
SELECT gridkit.layer_drop('points_mv');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_drop(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT name FROM gridkit.layers ORDER BY name;
