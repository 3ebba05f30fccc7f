-- Issue 24: each attack, performed, fails (or the data survives).
\set VERBOSITY default

-- 1. ts_convert builds DDL from catalog facts: an index named to inject SQL
-- is copied under PostgreSQL's own name, and its owner stays unprivileged.
CREATE ROLE sr_evil NOSUPERUSER;
CREATE SCHEMA ev AUTHORIZATION sr_evil;
SET ROLE sr_evil;
CREATE TABLE ev.t (id integer, ts timestamptz NOT NULL, v double precision);
INSERT INTO ev.t SELECT i, '2026-01-01 00:00+00'::timestamptz + i * interval '1 hour', i FROM generate_series(1, 48) i;
CREATE INDEX "a"" ON x USING btree (id); ALTER ROLE sr_evil SUPERUSER; --" ON ev.t (v);
CREATE INDEX "idx with space" ON ev.t (ts, id);
RESET ROLE;
SELECT gridkit.ts_convert('ev.t', 'ts', '1 day') IS NOT NULL AS converted;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sr_evil';
SELECT pg_get_indexdef(i.indexrelid) ~ E'^CREATE INDEX \\S+ ON ONLY ev\\.t USING btree \\((v|ts, id)\\)$' AS copied
  FROM pg_index i WHERE i.indrelid = 'ev.t'::regclass ORDER BY 1;
SELECT count(*) FROM ev.t;
-- Names with spaces and capitals: the copy lands on the new table.
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."sp ace" (id integer PRIMARY KEY, "Ts" timestamptz NOT NULL);
ALTER TABLE "My Schema"."sp ace" DROP CONSTRAINT "sp ace_pkey", ADD PRIMARY KEY (id, "Ts");
CREATE INDEX "idx with space" ON "My Schema"."sp ace" ("Ts");
INSERT INTO "My Schema"."sp ace" VALUES (1, '2026-01-01 10:00+00'), (2, '2026-01-02 10:00+00');
SELECT gridkit.ts_convert('"My Schema"."sp ace"', 'Ts', '1 day')::text;
SELECT c.relname, pg_get_indexdef(i.indexrelid) ~ E'USING btree \\(id, "Ts"\\)|USING btree \\("Ts"\\)' AS same_keys
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = '"My Schema"'::regnamespace AND c.relkind = 'p' ORDER BY 1, 2;

-- 4 and 13. Maintenance moves a table's rows as the table's owner, with
-- restricted security: an owner's trigger cannot act as whoever runs
-- maintenance, nor switch back to it. Partitions belong to the owner.
CREATE TABLE ev.m (ts timestamptz NOT NULL, v integer) PARTITION BY RANGE (ts);
ALTER TABLE ev.m OWNER TO sr_evil;
SELECT gridkit.ts_create('ev.m', 'ts', '1 day', premake => 0) IS NOT NULL AS created;
SET ROLE sr_evil;
CREATE TABLE ev.log (who name, what text);
CREATE FUNCTION ev.spy() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO ev.log VALUES (current_user, TG_OP);
    BEGIN
        EXECUTE 'ALTER ROLE sr_evil SUPERUSER';
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO ev.log VALUES (current_user, 'alter role: ' || SQLSTATE);
    END;
    BEGIN
        EXECUTE 'SET ROLE postgres';
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO ev.log VALUES (current_user, 'set role: ' || SQLSTATE);
    END;
    RETURN NULL;
END $f$;
CREATE TRIGGER spy AFTER INSERT OR DELETE ON ev.m FOR EACH ROW EXECUTE FUNCTION ev.spy();
INSERT INTO ev.m VALUES ('2025-01-01 12:00+00', 1);
DELETE FROM ev.log;
RESET ROLE;
SELECT gridkit.ts_move_default_rows('ev.m');
SELECT * FROM ev.log ORDER BY 1, 2;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sr_evil';
SELECT count(*) AS rows, count(*) FILTER (WHERE tableoid::regclass::text LIKE '%default') AS in_default FROM ev.m;
SELECT DISTINCT pg_get_userbyid(c.relowner) AS partition_owner
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ev.m'::regclass;
-- The latest table gridkit's trigger writes belongs to gridkit's owner: the
-- table's owner reads it and cannot put a trigger on it.
SELECT gridkit.latest_enable('ev.m', '{v}')::text;
SELECT pg_get_userbyid(relowner) = (SELECT pg_get_userbyid(extowner) FROM pg_extension WHERE extname = 'gridkit')
       AS owned_by_gridkit_owner
  FROM pg_class WHERE oid = 'ev.m_latest'::regclass;
SET ROLE sr_evil;
SELECT count(*) FROM ev.m_latest;
CREATE TRIGGER spy AFTER INSERT ON ev.m_latest FOR EACH ROW EXECUTE FUNCTION ev.spy();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT gridkit.latest_disable('ev.m');
-- A role that does not own the table may not move its rows as the owner.
CREATE ROLE sr_other;
SELECT 'ev.m'::regclass::oid AS m_oid \gset
SET ROLE sr_other;
SELECT gridkit._ts_run_as_owner(:m_oid, 'SELECT 1', now(), now());
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE sr_other;

-- 5. api functions run with their caller's rights: a layer on a view whose
-- owner put its own function in it cannot make an HTTP request run that
-- function as anyone but the web role.
SET ROLE sr_evil;
CREATE TABLE ev.pts (id integer PRIMARY KEY, geom geometry(Point, 4326));
INSERT INTO ev.pts VALUES (1, 'SRID=4326;POINT(1 1)');
CREATE FUNCTION ev.who() RETURNS integer LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    RAISE NOTICE 'view code runs as %', current_user;
    PERFORM count(*) FROM pg_authid;
    RAISE NOTICE 'view code read pg_authid';
    RETURN 1;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'view code may not read pg_authid';
    RETURN 1;
END $f$;
CREATE VIEW ev.vpts AS SELECT id, geom FROM ev.pts WHERE ev.who() = 1;
RESET ROLE;
SELECT gridkit.layer_register('ev_view', 'ev.vpts');
SELECT gridkit.api_grant('sr_web', create_role => true);
SET ROLE sr_web;
SELECT length(api.tile('ev_view', 10, 514, 509)) > 0 AS served;
SELECT api.feature('ev_view', 1) ->> 'id' AS feature_id;
RESET ROLE;
-- A layer registered after the grant is readable by the api role too.
CREATE TABLE ev.later (id integer PRIMARY KEY, geom geometry(Point, 4326));
INSERT INTO ev.later VALUES (1, 'SRID=4326;POINT(1 1)');
ALTER TABLE ev.later OWNER TO sr_evil;
SELECT gridkit.layer_register('ev_later', 'ev.later');
SET ROLE sr_web;
SELECT length(api.tile('ev_later', 10, 514, 509)) > 0 AS served;
RESET ROLE;
SELECT gridkit.layer_drop('ev_view');
SELECT gridkit.layer_drop('ev_later');

-- 13. A layer manager who is not a superuser: EXECUTE granted on the layer
-- functions, it manages layers of the sources it owns, end to end, and
-- none of others'. Builds read a source as its owner, whoever runs them.
CREATE ROLE sr_mgr NOSUPERUSER;
GRANT EXECUTE ON FUNCTION gridkit.layer_register(text, regclass, name, name, text[], jsonb),
    gridkit.layer_drop(text), gridkit.cluster_refresh(text), gridkit.generalize_refresh(text) TO sr_mgr;
CREATE SCHEMA mgr AUTHORIZATION sr_mgr;
GRANT USAGE ON SCHEMA fx TO sr_mgr;
GRANT SELECT ON fx.points TO sr_mgr;
SELECT gridkit.layer_register('points', 'fx.points', attributes => '{name,score,ratio,n,ok,price,day}');
SET ROLE sr_mgr;
CREATE TABLE mgr.sites (id integer PRIMARY KEY, kind text, geom geometry(Point, 4326));
INSERT INTO mgr.sites SELECT i, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END,
    ST_SetSRID(ST_MakePoint(5 + i * 0.0001, 5), 4326) FROM generate_series(1, 40) i;
CREATE INDEX ON mgr.sites USING gist (geom);
CREATE FUNCTION mgr.who() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    RAISE NOTICE 'source code runs as %', current_user;
    RETURN true;
END $f$;
CREATE VIEW mgr.sites_v AS SELECT * FROM mgr.sites WHERE (SELECT mgr.who());
SELECT gridkit.layer_register('mgr_sites', 'mgr.sites', attributes => '{kind}', options => '{"cluster": {"radius": 80}}');
SELECT gridkit.cluster_refresh('mgr_sites');
SELECT sum(point_count) FROM gridkit.pyramid_rows('mgr_sites') WHERE level = 0;
SELECT length(grid_tile('mgr_sites', 0, 0, 0)) > 0 AS served;
SELECT gridkit.layer_register('mgr_view', 'mgr.sites_v', options => '{"cluster": {}}');
-- Not its sources: refused, the registry unchanged.
SELECT gridkit.layer_register('mgr_points', 'fx.points');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_drop('points');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.cluster_refresh('points');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_register('points', 'mgr.sites');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT name, source FROM gridkit.layers WHERE name IN ('points', 'mgr_points', 'mgr_sites', 'mgr_view') ORDER BY 1;
-- A superuser's refresh (as a scheduled one) runs the view's code as the
-- view's owner.
SELECT gridkit.cluster_refresh('mgr_view');
SET ROLE sr_mgr;
SELECT gridkit.layer_drop('mgr_view');
SELECT gridkit.layer_drop('mgr_sites');
RESET ROLE;

-- 7. replace_range reads the staging rows before deleting: a staging view
-- over the target's own rows, or the target itself, loses nothing.
CREATE TABLE fx.rr (ts timestamptz NOT NULL, v integer) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.rr', 'ts', '1 day', premake => 0) IS NOT NULL AS created;
INSERT INTO fx.rr SELECT '2026-03-01 00:00+00'::timestamptz + i * interval '1 hour', i FROM generate_series(0, 47) i;
CREATE VIEW fx.rr_fixed AS SELECT ts, v * 10 AS v FROM fx.rr WHERE ts >= '2026-03-01 00:00+00' AND ts < '2026-03-02 00:00+00';
SELECT gridkit.replace_range('fx.rr', '2026-03-01 00:00+00', '2026-03-02 00:00+00', 'fx.rr_fixed');
SELECT count(*), sum(v) FROM fx.rr;
SELECT gridkit.replace_range('fx.rr', '2026-03-01 00:00+00', '2026-03-03 00:00+00', 'fx.rr');
SELECT count(*), sum(v) FROM fx.rr;

-- 9. The history internals run a statement only as their caller, read-only,
-- and refuse one that returns other types than theirs.
SELECT gridkit._history_count('select ''hello''::text', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit._history_rows('select 1, 2, 3', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit._history_count('delete from fx.rr returning 1::bigint', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM fx.rr;

-- 10. Partition bounds do not depend on the session's DateStyle and
-- TimeZone ("IST" is also Israel time).
SET DateStyle = 'Postgres, DMY';
SET TimeZone = 'Asia/Kolkata';
CREATE TABLE fx.ist (ts timestamptz NOT NULL, v integer) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.ist', 'ts', '1 day', premake => 0) IS NOT NULL AS created;
INSERT INTO fx.ist VALUES ('2025-06-01 03:00+00', 1), ('2025-06-01 23:30+00', 2), ('2025-06-02 00:30+00', 3);
SELECT gridkit.ts_move_default_rows('fx.ist');
SELECT to_char(lower AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS lower_utc,
       to_char(upper AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS upper_utc, is_default,
       (SELECT count(*) FROM fx.ist WHERE tableoid = p.partition) AS rows
  FROM gridkit.ts_partitions('fx.ist') p WHERE is_default OR lower < '2026-01-01' ORDER BY lower NULLS FIRST;
RESET DateStyle;
RESET TimeZone;

-- 8. A geometry that crashes PostGIS's ST_PointOnSurface (a collection
-- with an empty member) is never handed to it; an edge between opposite
-- points of the globe is a bad argument, not an internal error.
CREATE TABLE fx.empties (id integer PRIMARY KEY, geom geometry(Geometry, 4326));
INSERT INTO fx.empties VALUES (1, 'SRID=4326;MULTIPOINT(EMPTY, 1 1)'),
    (2, 'SRID=4326;GEOMETRYCOLLECTION(POINT EMPTY, LINESTRING(0 0, 2 2))'),
    (3, 'SRID=4326;MULTIPOLYGON(EMPTY, ((0 0, 1 0, 1 1, 0 0)))'), (4, 'SRID=4326;POINT EMPTY');
SELECT gridkit.layer_register('empties', 'fx.empties');
SELECT gridkit.feature('empties', 1);
SELECT id, longitude, latitude FROM gridkit.bbox('empties', -10, -10, 10, 10) ORDER BY id;
SELECT id, longitude, latitude FROM gridkit.within('empties',
    '{"type": "Polygon", "coordinates": [[[-5, -5], [5, -5], [5, 5], [-5, 5], [-5, -5]]]}') ORDER BY id;
SELECT id FROM gridkit.nearby('empties', 1, 1, 1000) ORDER BY id;
SELECT count(*) FROM gridkit.within('empties',
    '{"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.layer_drop('empties');
DROP TABLE fx.empties;

-- 11. cluster_leaves under standard_conforming_strings = off, with
-- attribute names made to break out of a hand-quoted literal.
CREATE TABLE fx.evil_pts (id integer PRIMARY KEY, "a\" text, ",1)END,(SELECT pg_sleep(2))pwn--" integer,
                          geom geometry(Point, 4326));
INSERT INTO fx.evil_pts SELECT i, 'x' || i, i, ST_SetSRID(ST_MakePoint(10 + i * 0.0001, 10), 4326) FROM generate_series(1, 5) i;
SELECT gridkit.layer_register('evil_pts', 'fx.evil_pts', attributes => ARRAY[E'a\\', ',1)END,(SELECT pg_sleep(2))pwn--'],
    options => '{"cluster": {"radius": 80}}');
SELECT gridkit.cluster_refresh('evil_pts');
SELECT cluster_id AS evil_cluster FROM gridkit.pyramid_rows('evil_pts') WHERE level = 0 AND cluster_id IS NOT NULL \gset
SET standard_conforming_strings = off;
SELECT id, attributes FROM gridkit.cluster_leaves('evil_pts', :evil_cluster) ORDER BY id;
RESET standard_conforming_strings;
SELECT gridkit.layer_drop('evil_pts');

-- 12. A layer list is bounded before any name is looked at.
SELECT length(grid_tile(array_fill('points'::text, ARRAY[100000]), 0, 0, 0));
\echo :LAST_ERROR_SQLSTATE
SELECT length(grid_tile(ARRAY['points', 'points'], 0, 0, 0));
\echo :LAST_ERROR_SQLSTATE

DROP TABLE ev.t, ev.t_unpartitioned, ev.m, ev.log, ev.pts, ev.later, fx.rr, fx.ist, fx.evil_pts CASCADE;
DROP FUNCTION ev.spy();
DROP FUNCTION ev.who();
DROP SCHEMA "My Schema" CASCADE;
DROP SCHEMA ev CASCADE;
DROP SCHEMA mgr CASCADE;
REVOKE ALL ON FUNCTION gridkit.layer_register(text, regclass, name, name, text[], jsonb),
    gridkit.layer_drop(text), gridkit.cluster_refresh(text), gridkit.generalize_refresh(text) FROM sr_mgr;
REVOKE ALL ON fx.points FROM sr_mgr;
REVOKE ALL ON SCHEMA fx FROM sr_mgr;
DROP ROLE sr_mgr;
DROP OWNED BY sr_web;
DROP ROLE sr_web;
DELETE FROM gridkit.api_role WHERE role = 'sr_web';
DROP ROLE sr_evil;
