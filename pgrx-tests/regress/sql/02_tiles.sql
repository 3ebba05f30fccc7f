-- grid_tile: argument checks, empty and broken data, budgets, and a layer
-- whose source changes under it. Tile contents are checked by the Python
-- suite with an independent decoder; here we check behaviour.
\set VERBOSITY default
SELECT gridkit.layer_register('points', 'fx.points', attributes => '{name,score,ratio,n,ok,price,day}');

SELECT length(grid_tile('points', 0, 0, 0)) > 0 AS world, length(grid_tile('points', 5, 9, 12)) > 0 AS tile;
-- Deterministic: the same data gives the same bytes.
SELECT grid_tile('points', 5, 9, 12) = grid_tile('points', 5, 9, 12) AS same;
-- A tile without features is empty (zero bytes), as with ST_AsMVT.
SELECT length(grid_tile('points', 5, 0, 0)) AS empty;
-- Several layers in one tile: the concatenation of each layer's tile.
SELECT gridkit.layer_register('merc', 'fx.merc');
SELECT grid_tile(ARRAY['points', 'merc'], 5, 9, 12)
     = grid_tile('points', 5, 9, 12) || grid_tile('merc', 5, 9, 12) AS concatenated;

-- Bad tile addresses and layers.
SELECT grid_tile('nope', 0, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile('points', -1, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile('points', 25, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile('points', 3, 8, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile('points', 3, 0, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile('points', 24, 16777215, 16777215) = '' AS deepest_tile_ok;
SELECT grid_tile(ARRAY['points', 'points'], 0, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile(ARRAY[]::text[], 0, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile(ARRAY['points', NULL], 0, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT grid_tile(ARRAY['points', 'nope'], 0, 0, 0);
\echo :LAST_ERROR_SQLSTATE
-- STRICT: any NULL argument gives NULL.
SELECT grid_tile(NULL::text, 0, 0, 0) IS NULL AS a, grid_tile('points', NULL, 0, 0) IS NULL AS b,
       grid_tile('points', 0, NULL, 0) IS NULL AS c, grid_tile(NULL::text[], 0, 0, 0) IS NULL AS d;

-- Empty, NULL and unusable geometries are skipped and counted, never fatal;
-- self-intersecting polygons are repaired.
CREATE TABLE fx.messy (id int PRIMARY KEY, geom geometry(Geometry, 4326));
INSERT INTO fx.messy VALUES
    (1, NULL),
    (2, 'SRID=4326;POINT EMPTY'),
    (3, 'SRID=4326;LINESTRING EMPTY'),
    (4, 'SRID=4326;CIRCULARSTRING(0 0, 1 1, 2 0)'),
    (5, ST_SetSRID(ST_MakePoint('NaN', 10), 4326)),
    (6, 'SRID=4326;POLYGON((0 0, 10 10, 10 0, 0 10, 0 0))'),
    (7, 'SRID=4326;GEOMETRYCOLLECTION(POINT(5 5), POLYGON((20 20, 30 20, 30 30, 20 20)))'),
    (8, 'SRID=4326;POINT(1 1)');
SELECT gridkit.layer_register('messy', 'fx.messy');
SELECT length(grid_tile('messy', 0, 0, 0)) > 0 AS has_features;

-- Budgets: max_features and max_bytes drop the smallest features first, with a notice.
SELECT gridkit.layer_register('capped', 'fx.points', attributes => '{name}', options => '{"max_features": 10}');
SELECT length(grid_tile('capped', 0, 0, 0)) > 0 AS capped;
SELECT gridkit.layer_register('small', 'fx.points', attributes => '{name,score,price}', options => '{"max_bytes": 1024}');
SELECT length(grid_tile('small', 0, 0, 0)) <= 1024 AS within_max_bytes;
-- Server-wide defaults for layers that set none.
SHOW gridkit.max_features;
SHOW gridkit.max_bytes;
SET gridkit.max_features = 5;
SELECT length(grid_tile('points', 0, 0, 0)) > 0 AS capped_by_setting;
RESET gridkit.max_features;
SET gridkit.max_features = 0;
\echo :LAST_ERROR_SQLSTATE

-- The source changes after registration: renames are followed, a dropped
-- column or a retyped geometry is reported by layer and table.
CREATE TABLE fx.changing (id int PRIMARY KEY, label text, extra int, geom geometry(Point, 4326));
CREATE INDEX ON fx.changing USING gist (geom);
INSERT INTO fx.changing SELECT id, name, id, geom FROM fx.points;
SELECT gridkit.layer_register('changing', 'fx.changing', attributes => '{label,extra}');
SELECT length(grid_tile('changing', 0, 0, 0)) > 0 AS before;
ALTER TABLE fx.changing RENAME TO changed;
SELECT length(grid_tile('changing', 0, 0, 0)) > 0 AS after_rename;
ALTER TABLE fx.changed RENAME TO changing;
ALTER TABLE fx.changing DROP COLUMN extra;
SELECT length(grid_tile('changing', 0, 0, 0));
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('changing', 'fx.changing', attributes => '{label}');
DROP INDEX fx.changing_geom_idx;
ALTER TABLE fx.changing ALTER COLUMN geom TYPE text USING ST_AsText(geom);
SELECT length(grid_tile('changing', 0, 0, 0));
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE fx.changing ALTER COLUMN geom TYPE geometry(Point, 3857) USING ST_Transform(ST_GeomFromText(geom, 4326), 3857);
-- A geometry retyped to another SRID is followed without re-registering.
SELECT length(grid_tile('changing', 0, 0, 0)) > 0 AS after_srid_change;
CREATE TABLE fx.doomed AS SELECT * FROM fx.points;
SELECT gridkit.layer_register('doomed', 'fx.doomed');
DROP TABLE fx.doomed;
SELECT grid_tile('doomed', 0, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT name, source_exists FROM gridkit.layers WHERE name = 'doomed';

-- Registry changes are transactional, and seen at once by the same session.
BEGIN;
SELECT gridkit.layer_register('temporary', 'fx.points');
SELECT length(grid_tile('temporary', 0, 0, 0)) > 0 AS inside;
ROLLBACK;
SELECT grid_tile('temporary', 0, 0, 0);
\echo :LAST_ERROR_SQLSTATE

-- A tile only shows what the caller may read; only owners register layers.
CREATE ROLE gridkit_reader;
GRANT USAGE ON SCHEMA fx TO gridkit_reader;
SET ROLE gridkit_reader;
SELECT length(grid_tile('points', 0, 0, 0));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON fx.points TO gridkit_reader;
SET ROLE gridkit_reader;
SELECT length(grid_tile('points', 0, 0, 0)) > 0 AS reader_sees_tile;
SELECT gridkit.layer_register('x', 'fx.points');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_drop('points');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Many tiles in one query, in parallel workers if the planner wants them.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE TABLE fx.tiles AS SELECT 8 AS z, x, y FROM generate_series(70, 76) x, generate_series(94, 98) y;
SELECT count(*) AS tiles, sum(length(grid_tile('points', z, x, y))) > 0 AS some_bytes FROM fx.tiles;
RESET ALL;
DROP OWNED BY gridkit_reader;
DROP ROLE gridkit_reader;
