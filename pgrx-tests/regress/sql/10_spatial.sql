-- Spatial queries: each result checked against PostGIS's geography over the
-- whole table (no index, no boxes), across the antimeridian and near the
-- poles, in SRID 4326 and 3857; bad input gets 22023, unknown layers 42704.
\set VERBOSITY default

-- The globe and the routes are 00_setup's fixtures.
SELECT gridkit.layer_register('globe', 'fx.globe', attributes => '{kind}');
SELECT gridkit.layer_register('globe_3857', 'fx.globe_3857');
SELECT gridkit.layer_register('routes', 'fx.routes');

-- nearby = every point within the radius by PostGIS's geography, nearest
-- first, at the antimeridian, at both poles and in the middle.
CREATE FUNCTION fx.nearby_matches(layer text, tbl regclass, lon float8, lat float8, r float8) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE ours bigint[]; theirs bigint[]; n int;
BEGIN
    SELECT array_agg(id ORDER BY distance_m, id), count(*) INTO ours, n
      FROM gridkit.nearby(layer, lon, lat, r, 10000);
    EXECUTE format('SELECT array_agg(id ORDER BY d, id) FROM (SELECT id, ST_Distance(ST_Transform(geom, 4326)::geography, $1) d
                      FROM %s WHERE ST_DWithin(ST_Transform(geom, 4326)::geography, $1, $2)) s', tbl)
        INTO theirs USING ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, r;
    RETURN format('%s points, %s', n, CASE WHEN ours IS NOT DISTINCT FROM theirs THEN 'same as PostGIS' ELSE 'DIFFERENT' END);
END $$;
SELECT lon, lat, r, fx.nearby_matches('globe', 'fx.globe', lon, lat, r)
  FROM (VALUES (179.9, 0.2, 300000.0), (-180, 45, 250000), (0, 89.6, 400000), (123, -89.9, 150000),
               (10, 10, 120000), (-179.5, -30, 1000)) v(lon, lat, r);
SELECT lon, lat, r, fx.nearby_matches('globe_3857', 'fx.globe_3857', lon, lat, r)
  FROM (VALUES (179.9, 0.2, 300000.0), (-100, 84.5, 200000)) v(lon, lat, r);
-- Distances are true metres: one degree of longitude at the equator.
SELECT id, round(distance_m) AS metres, longitude, latitude, attributes
  FROM gridkit.nearby('globe', 0, 0, 112000, 3);
-- The limit bounds the answer; nearest first.
SELECT count(*) FROM gridkit.nearby('globe', 0, 0, 500000, 7);

-- along_route: a route across the antimeridian finds the line crossing it
-- and the grid points beside it, never those on the far side of the world.
SELECT id, round(distance_m) AS metres FROM gridkit.along_route('routes', '[[179.8, 9], [-179.8, 9]]', 200000);
SELECT count(*) AS points, bool_and(abs(longitude) >= 178) AS all_near_180
  FROM gridkit.along_route('globe', '[[179, 0], [-179, 0]]', 60000);
-- Same answer as PostGIS's geography over the whole table.
SELECT (SELECT array_agg(id ORDER BY id) FROM gridkit.along_route('globe', '[[170, 70], [-170, 72], [-150, 80]]', 150000))
     = (SELECT array_agg(id ORDER BY id) FROM fx.globe
         WHERE ST_DWithin(geom::geography, 'SRID=4326;LINESTRING(170 70, -170 72, -150 80)'::geography, 150000))
       AS route_same_as_postgis;

-- within: a polygon across the antimeridian (great-circle edges) and one
-- near the pole, compared with PostGIS's geography.
SELECT count(*) AS points, bool_and(abs(longitude) >= 175) AS all_near_180
  FROM gridkit.within('globe', '{"type": "Polygon", "coordinates": [[[175, -5], [-175, -5], [-175, 5], [175, 5], [175, -5]]]}');
SELECT (SELECT array_agg(id ORDER BY id) FROM gridkit.within('globe',
            '{"type": "Polygon", "coordinates": [[[0, 80], [90, 80], [90, 88], [0, 88], [0, 80]]]}'))
     = (SELECT array_agg(id ORDER BY id) FROM fx.globe
         WHERE ST_Intersects(geom::geography, 'SRID=4326;POLYGON((0 80, 90 80, 90 88, 0 88, 0 80))'::geography))
       AS polar_same_as_postgis;
SELECT count(*) FROM gridkit.within('globe', '{"type": "MultiPolygon", "coordinates": [[[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]]}', 4);

-- bbox: a viewport crossing the antimeridian is two boxes; pages by id.
SELECT count(*) AS points, min(longitude), max(longitude) FROM gridkit.bbox('globe', 178.5, -1, -178.5, 1, 10000);
SELECT array_agg(id) FROM gridkit.bbox('globe', -1, -1, 1, 1, 4, 0);
SELECT array_agg(id) FROM gridkit.bbox('globe', -1, -1, 1, 1, 4, 4);
SELECT count(*) FROM gridkit.bbox('globe_3857', 178.5, 84, -178.5, 90);
SELECT attributes FROM gridkit.bbox('globe', 0, 84.5, 0.5, 85.5);

-- feature: what a click shows; NULL for no such id.
SELECT gridkit.feature('globe', 1);
SELECT gridkit.feature('routes', 1) ->> 'longitude' IS NOT NULL AS has_position, gridkit.feature('globe', -5) IS NULL AS none;

-- Bad input: the SQLSTATE and the message of each.
SELECT q, fx.error_of(q) FROM (VALUES
    ($q$SELECT * FROM gridkit.nearby('nope', 0, 0, 10)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 181, 0, 10)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 0, -91, 10)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 'NaN', 0, 10)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 0, 0, 0)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 0, 0, -5)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 0, 0, 'Infinity')$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 0, 0, 10, 0)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', 0, 0, 10, 100000)$q$),
    ($q$SELECT * FROM gridkit.nearby('globe', NULL, 0, 10)$q$),
    ($q$SELECT * FROM gridkit.along_route('globe', '[[0, 0]]', 10)$q$),
    ($q$SELECT * FROM gridkit.along_route('globe', '{"a": 1}', 10)$q$),
    ($q$SELECT * FROM gridkit.along_route('globe', '[[0, 0], [0, "x"]]', 10)$q$),
    ($q$SELECT * FROM gridkit.along_route('globe', '[[0, 0], [200, 0]]', 10)$q$),
    ($q$SELECT * FROM gridkit.along_route('globe', '[[0, 0], [1, 0]]', 0)$q$),
    ($q$SELECT * FROM gridkit.within('globe', '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}')$q$),
    ($q$SELECT * FROM gridkit.within('globe', '{"type": "Point", "coordinates": [0, 0]}')$q$),
    ($q$SELECT * FROM gridkit.within('globe', '{"type": "Polygon", "coordinates": "x"}')$q$),
    ($q$SELECT * FROM gridkit.within('globe', '{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}')$q$),
    ($q$SELECT * FROM gridkit.within('globe', '{"type": "Polygon", "coordinates": [[[0, 0], [190, 0], [0, 1], [0, 0]]]}')$q$),
    ($q$SELECT * FROM gridkit.bbox('globe', 0, 1, 1, 0)$q$),
    ($q$SELECT * FROM gridkit.bbox('globe', 0, 0, 1, 1, 10, -1)$q$),
    ($q$SELECT * FROM gridkit.bbox('globe', 0, 0, 181, 1)$q$),
    ($q$SELECT gridkit.feature('nope', 1)$q$),
    ($q$SELECT * FROM gridkit.bbox('globe; DROP TABLE fx.globe', 0, 0, 1, 1)$q$)) v(q);
SELECT count(*) FROM fx.globe;  -- the injection attempt above was only a name

-- The source of a layer dropped under it.
CREATE TABLE fx.gone (id int PRIMARY KEY, geom geometry(Point, 4326));
SELECT gridkit.layer_register('gone', 'fx.gone');
DROP TABLE fx.gone;
SELECT fx.error_of($q$SELECT * FROM gridkit.nearby('gone', 0, 0, 10)$q$);
SELECT gridkit.layer_drop('gone');
