-- Runs first: the extension and the fixtures later tests share.
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
