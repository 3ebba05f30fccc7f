-- Geometries chosen to hit the hard cases: tile and buffer edges, the
-- antimeridian, multi-geometries, holes, concave shapes cut by the tile,
-- shapes that collapse when snapped, and every attribute type.
DROP SCHEMA IF EXISTS fx2 CASCADE;
CREATE SCHEMA fx2;

CREATE TABLE fx2.pts (
    id integer PRIMARY KEY, label text, score double precision, ratio real, big bigint,
    neg integer, flag boolean, price numeric, seen date, geom geometry(Geometry, 4326));
INSERT INTO fx2.pts VALUES
    (1, 'origin', 0.5, 0.25, 9007199254740993, -7, true, 12.5, '2026-11-23', 'SRID=4326;POINT(0 0)'),
    (2, 'on the z1 seam', 1.5, NULL, 1, -1, false, NULL, NULL, 'SRID=4326;POINT(0 10)'),
    (3, NULL, NULL, 1.5, NULL, NULL, NULL, 0.1, NULL, 'SRID=4326;POINT(179.999 -10)'),
    (4, 'west edge', -2.5, 2.5, 0, 0, true, -3, NULL, 'SRID=4326;POINT(-180 20)'),
    (5, 'far north', 3, 3, 3, 3, false, 3, NULL, 'SRID=4326;POINT(30 85)'),
    (6, 'multi with repeats', 4, 4, 4, 4, true, 4, NULL,
        'SRID=4326;MULTIPOINT((10 10), (10 10), (10.0000001 10), (12 12), (-12 -12))'),
    (7, 'unicode ✓ ünïcödé', 5, 5, 5, 5, true, 5, NULL, 'SRID=4326;POINT(-75.16 39.95)'),
    (8, '', 6, 6, 6, 6, true, 6, NULL, 'SRID=4326;POINT(-74.0 40.7)'),
    (-9, 'negative id', 7, 7, 7, 7, false, 7, NULL, 'SRID=4326;POINT(2.35 48.86)');
INSERT INTO fx2.pts
SELECT 100 + i, 'grid ' || i, i, i, i, -i, i % 2 = 0, i, NULL,
       ST_SetSRID(ST_MakePoint(-100 + (i % 40) * 5.1, -60 + (i / 40) * 5.3), 4326)
  FROM generate_series(0, 799) i;
CREATE INDEX ON fx2.pts USING gist (geom);

CREATE TABLE fx2.lines (id integer PRIMARY KEY, kind text, geom geometry(Geometry, 4326));
INSERT INTO fx2.lines VALUES
    (1, 'across the world', 'SRID=4326;LINESTRING(-170 -60, -60 -20, 0 0, 60 30, 170 60)'),
    (2, 'antimeridian the long way', 'SRID=4326;LINESTRING(179 5, -179 5)'),
    (3, 'beyond 180', 'SRID=4326;LINESTRING(170 -5, 190 -5)'),
    (4, 'multi', 'SRID=4326;MULTILINESTRING((-10 -10, 10 10), (-10 10, 10 -10), (40 40, 41 41))'),
    (5, 'repeated points', 'SRID=4326;LINESTRING(5 5, 5 5, 6 6, 6 6, 6 6, 20 20)'),
    (6, 'closed ring as line', 'SRID=4326;LINESTRING(-30 -30, -20 -30, -20 -20, -30 -20, -30 -30)'),
    (7, 'zigzag across a seam', 'SRID=4326;LINESTRING(-1 1, 1 2, -1 3, 1 4, -1 5, 1 6, -1 7, 1 8)'),
    (8, 'tiny', 'SRID=4326;LINESTRING(30 30, 30.0000001 30.0000001)');
INSERT INTO fx2.lines
SELECT 100 + i, 'sine ' || i,
       ST_SetSRID(ST_MakeLine(ARRAY(SELECT ST_MakePoint(-120 + k * 0.5, -40 + i * 4 + 3 * sin(k / 5.0))
                                      FROM generate_series(0, 480) k)), 4326)
  FROM generate_series(0, 19) i;
CREATE INDEX ON fx2.lines USING gist (geom);

CREATE TABLE fx2.polys (id integer PRIMARY KEY, kind text, geom geometry(Geometry, 4326));
INSERT INTO fx2.polys VALUES
    (1, 'square with hole', 'SRID=4326;POLYGON((-40 -40, -10 -40, -10 -10, -40 -10, -40 -40), (-30 -30, -30 -20, -20 -20, -20 -30, -30 -30))'),
    (2, 'multipolygon', 'SRID=4326;MULTIPOLYGON(((10 10, 20 10, 20 20, 10 20, 10 10)), ((30 30, 40 30, 40 40, 30 40, 30 30)))'),
    (3, 'across the antimeridian', 'SRID=4326;POLYGON((170 -20, 190 -20, 190 -10, 170 -10, 170 -20))'),
    (4, 'nearly the world', 'SRID=4326;POLYGON((-170 -75, 170 -75, 170 75, -170 75, -170 -75))'),
    (5, 'U cut by tiles', 'SRID=4326;POLYGON((-5 -5, -1 -5, -1 5, 1 5, 1 -5, 5 -5, 5 8, -5 8, -5 -5))'),
    (6, 'tiny', 'SRID=4326;POLYGON((50 50, 50.00001 50, 50.00001 50.00001, 50 50))'),
    (7, 'bowtie', 'SRID=4326;POLYGON((60 -10, 70 0, 70 -10, 60 0, 60 -10))'),
    (8, 'collection', 'SRID=4326;GEOMETRYCOLLECTION(POINT(-60 40), POLYGON((-65 35, -55 35, -55 45, -65 35)))'),
    (9, 'seam-crossing with many vertices', ST_SetSRID(ST_Buffer(ST_MakePoint(0, 0), 3, 256), 4326)),
    (10, 'holes touching edge', 'SRID=4326;POLYGON((-80 20, -60 20, -60 30, -80 30, -80 20), (-70 20.5, -65 25, -70 29.5, -70 20.5))');
CREATE INDEX ON fx2.polys USING gist (geom);

-- The same polygons stored in Web Mercator, and in a projected CRS that
-- PostGIS transforms for us.
CREATE TABLE fx2.polys_merc AS SELECT id, kind, ST_Transform(geom, 3857)::geometry(Geometry, 3857) AS geom
  FROM fx2.polys WHERE id NOT IN (3, 4);
CREATE INDEX ON fx2.polys_merc USING gist (geom);
CREATE TABLE fx2.pts_utm AS SELECT id, label, ST_Transform(geom, 32618)::geometry(Geometry, 32618) AS geom
  FROM fx2.pts WHERE ST_X(ST_Centroid(geom)) BETWEEN -90 AND -60 AND ST_Y(ST_Centroid(geom)) BETWEEN 0 AND 80;
CREATE INDEX ON fx2.pts_utm USING gist (ST_Transform(geom, 3857));

SELECT gridkit.layer_register('fx_pts', 'fx2.pts', attributes => '{label,score,ratio,big,neg,flag,price,seen}');
-- Lines at the encoder's own half-unit tolerance, to compare with PostGIS
-- (the pixel tolerance is checked against exact lengths in test_generalize).
SELECT gridkit.layer_register('fx_lines', 'fx2.lines', attributes => '{kind}', options => '{"simplify": {"tolerance_px": 0}}');
SELECT gridkit.layer_register('fx_polys', 'fx2.polys', attributes => '{kind}');
SELECT gridkit.layer_register('fx_polys_512', 'fx2.polys', attributes => '{kind}', options => '{"extent": 512, "buffer": 8}');
SELECT gridkit.layer_register('fx_polys_merc', 'fx2.polys_merc', attributes => '{kind}');
SELECT gridkit.layer_register('fx_pts_utm', 'fx2.pts_utm', attributes => '{label}');
