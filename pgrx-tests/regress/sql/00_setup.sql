-- Runs first, and alone before any other file run by itself (pgrx-tests/run.sh
-- checks each file that way): the extension and the fixtures the files
-- share. Anything else a file needs, it makes itself.
\set VERBOSITY default
CREATE EXTENSION gridkit CASCADE;
SELECT extname, extversion FROM pg_extension WHERE extname IN ('gridkit', 'postgis') ORDER BY 1;
-- grid_tile lands in the extension's schema, callable unqualified.
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS args
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname IN ('grid_tile', 'layer_register', 'layer_drop', 'demo_generate')
 ORDER BY 1, 2, 3;

CREATE SCHEMA fx;
CREATE TABLE fx.points (
    id    integer PRIMARY KEY,
    name  text,
    score double precision,
    ratio real,
    n     bigint,
    ok    boolean,
    price numeric,
    day   date,
    geom  geometry(Point, 4326)
);
INSERT INTO fx.points
SELECT i, 'p' || i, i * 0.5, i / 4.0, i * 1000000000::bigint, i % 2 = 0, i * 1.25, date '2026-01-01' + i,
       ST_SetSRID(ST_MakePoint(-75 + i * 0.01, 40 + i * 0.01), 4326)
  FROM generate_series(1, 50) i;
CREATE INDEX ON fx.points USING gist (geom);
-- The same points in Web Mercator.
CREATE TABLE fx.merc AS SELECT id, ST_Transform(geom, 3857)::geometry(Point, 3857) AS geom FROM fx.points;
CREATE INDEX ON fx.merc USING gist (geom);

-- Points on a 1-degree grid over the whole globe (4326) and the same within
-- Web Mercator's range (3857), plus lines crossing the antimeridian.
CREATE TABLE fx.globe (id bigint PRIMARY KEY, kind text, geom geometry(Point, 4326));
INSERT INTO fx.globe
SELECT row_number() OVER (), CASE WHEN lat > 80 THEN 'polar' ELSE 'other' END, ST_SetSRID(ST_MakePoint(lon, lat), 4326)
  FROM generate_series(-180, 179) lon, generate_series(-90, 90) lat;
CREATE INDEX ON fx.globe USING gist (geom);
CREATE TABLE fx.globe_3857 (id int PRIMARY KEY, geom geometry(Point, 3857));
INSERT INTO fx.globe_3857 SELECT id, ST_Transform(geom, 3857) FROM fx.globe WHERE abs(ST_Y(geom)) <= 85;
CREATE INDEX ON fx.globe_3857 USING gist (geom);
CREATE TABLE fx.routes (id int PRIMARY KEY, geom geometry(LineString, 4326));
INSERT INTO fx.routes VALUES
    (1, 'SRID=4326;LINESTRING(179.5 10, -179.5 10.5)'),   -- across the antimeridian, 110 km long
    (2, 'SRID=4326;LINESTRING(0 10, 1 10.5)'),
    (3, 'SRID=4326;LINESTRING(-170 -60, -160 -61)');

-- A statement's SQLSTATE and message, or 'no error'.
CREATE FUNCTION fx.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
