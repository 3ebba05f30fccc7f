-- Rollups: incremental refresh after late rows, updates and deletes; local
-- days across DST in New York and Los Angeles; daily-from-hourly exactly
-- equal to daily-from-raw; realtime views; retention that waits for the
-- rollups; a SQLSTATE for every bad definition. All data is in 2024, behind
-- every watermark, so nothing depends on today's date.
\set VERBOSITY default

CREATE TABLE fx.meter (
    ts     timestamptz NOT NULL,
    meter  int NOT NULL,
    kind   text,
    value  double precision,
    PRIMARY KEY (meter, ts)
) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.meter', 'ts', '1 day', premake => 0);
-- Every 5 minutes from 2024-03-08 to 03-12 (spring forward on the 10th) and
-- 2024-11-01 to 11-05 (fall back on the 3rd), two meters.
INSERT INTO fx.meter
SELECT t, m, CASE WHEN m = 1 THEN 'solar' ELSE 'grid' END,
       (extract(epoch FROM t)::bigint / 300 % 17) * 1.25 + m
  FROM generate_series(1, 2) m,
       LATERAL (SELECT generate_series(timestamptz '2024-03-08 00:00-05', timestamptz '2024-03-12 23:55-04', interval '5 minutes')
                UNION ALL
                SELECT generate_series(timestamptz '2024-11-01 00:00-04', timestamptz '2024-11-05 23:55-05', interval '5 minutes')) s(t);
SELECT gridkit.ts_move_default_rows('fx.meter') AS moved_into_partitions;

SELECT gridkit.rollup_create('meter_hourly', 'fx.meter', 'ts', '1 hour', ARRAY['meter'],
       '{"avg": "avg(value)", "lo": "min(value)", "hi": "max(value)", "rows": "count(*)", "sd": "stddev(value)", "total": "sum(value)"}',
       'America/New_York');
SELECT gridkit.rollup_create('meter_daily', 'fx.meter_hourly', 'ts', '1 day', ARRAY['meter'],
       '{"avg": "avg(value)", "lo": "min(value)", "hi": "max(value)", "rows": "count(*)", "sd": "stddev(value)", "total": "sum(value)"}',
       'America/New_York');
SELECT gridkit.rollup_create('meter_daily_raw', 'fx.meter', 'ts', '1 day', ARRAY['meter'],
       '{"avg": "avg(value)", "lo": "min(value)", "hi": "max(value)", "rows": "count(*)", "sd": "stddev(value)", "total": "sum(value)"}',
       'America/New_York');
SELECT gridkit.rollup_create('meter_daily_la', 'fx.meter', 'ts', '1 day', '{}', '{"rows": "count(*)"}', 'America/Los_Angeles');

-- Before any refresh the realtime views aggregate the raw rows.
SELECT (SELECT count(*) FROM fx.meter_hourly) AS materialized, (SELECT count(*) FROM fx.meter_hourly_realtime) AS realtime;

-- Sources first: run_maintenance refreshes in this order.

SELECT name, gridkit.rollup_refresh(name) > 0 AS wrote FROM gridkit._rollups_in_order() r(name);
SELECT name, watermark > now() - interval '1 day' AS watermark_recent, pending_changes FROM gridkit.rollups ORDER BY name;

-- Local days: 23 hours on 2024-03-10, 25 on 2024-11-03 (12 rows an hour).
SELECT bucket AT TIME ZONE 'America/New_York' AS local_day, rows, rows / 12 AS hours
  FROM fx.meter_daily WHERE meter = 1 ORDER BY bucket;
SELECT bucket AT TIME ZONE 'America/Los_Angeles' AS la_day, rows / 24 AS hours
  FROM fx.meter_daily_la ORDER BY bucket;
-- The two 01:00 hours of the fall-back night are two buckets.
SELECT bucket AT TIME ZONE 'America/New_York' AS new_york, to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI') AS utc, rows
  FROM fx.meter_hourly
 WHERE meter = 1 AND bucket >= '2024-11-03 04:00+00' AND bucket < '2024-11-03 08:00+00' ORDER BY bucket;

-- The checks every change below is held to: the rollups equal plain SQL
-- over the raw rows (the standard deviation to 1e-12: PostgreSQL's own
-- stddev rounds in float8), and daily-from-hourly equals daily-from-raw
-- exactly, every column.
CREATE FUNCTION fx.rollups_match() RETURNS TABLE (hourly_mismatches bigint, daily_mismatches bigint, daily_vs_raw bigint)
LANGUAGE sql AS $$
    WITH plain AS (
        SELECT date_trunc('hour', ts, 'America/New_York') AS bucket, meter, avg(value) AS avg, min(value) AS lo,
               max(value) AS hi, count(*) AS rows, stddev(value) AS sd, sum(value) AS total
          FROM fx.meter GROUP BY 1, 2
    ), plain_daily AS (
        SELECT date_trunc('day', ts, 'America/New_York') AS bucket, meter, avg(value) AS avg, count(*) AS rows,
               stddev(value) AS sd
          FROM fx.meter GROUP BY 1, 2
    )
    SELECT (SELECT count(*) FROM plain p FULL JOIN fx.meter_hourly h USING (bucket, meter)
             WHERE h.rows IS DISTINCT FROM p.rows OR abs(h.avg - p.avg) > 1e-12 OR h.lo IS DISTINCT FROM p.lo
                OR h.hi IS DISTINCT FROM p.hi OR abs(h.total - p.total) > 1e-9 OR abs(h.sd - p.sd) > 1e-12
                OR (h.sd IS NULL) <> (p.sd IS NULL)),
           (SELECT count(*) FROM plain_daily p FULL JOIN fx.meter_daily d USING (bucket, meter)
             WHERE d.rows IS DISTINCT FROM p.rows OR abs(d.avg - p.avg) > 1e-12 OR abs(d.sd - p.sd) > 1e-12),
           (SELECT count(*) FROM (SELECT * FROM fx.meter_daily EXCEPT SELECT * FROM fx.meter_daily_raw
                                  UNION ALL
                                  SELECT * FROM fx.meter_daily_raw EXCEPT SELECT * FROM fx.meter_daily) x)
$$;
SELECT * FROM fx.rollups_match();

-- Late rows, an update and a delete, each in old buckets behind the
-- watermark: logged per statement, applied by the next refresh.
INSERT INTO fx.meter VALUES ('2024-03-09 12:02-05', 1, 'solar', 1000), ('2024-03-09 12:03-05', 3, 'grid', 7);
UPDATE fx.meter SET value = value * 2 WHERE meter = 2 AND ts >= '2024-11-03 01:00-04' AND ts < '2024-11-03 01:30-05';
DELETE FROM fx.meter WHERE meter = 1 AND ts >= '2024-03-11 10:00-04' AND ts < '2024-03-11 12:00-04';
UPDATE fx.meter SET value = NULL WHERE meter = 2 AND ts = '2024-11-04 09:00-05';
SELECT rollup, count(*) AS statements FROM gridkit.rollup_invalidation GROUP BY 1 ORDER BY 1;
SELECT * FROM fx.rollups_match();
SELECT gridkit.rollup_refresh('meter_hourly') AS hourly_rows, gridkit.rollup_refresh('meter_daily') AS daily_rows,
       gridkit.rollup_refresh('meter_daily_raw') AS daily_raw_rows;
SELECT * FROM fx.rollups_match();
-- Refreshing again changes nothing.
SELECT gridkit.rollup_refresh('meter_hourly') AS again, gridkit.rollup_refresh('meter_daily') AS again_daily;
-- A group whose values are all NULL: count 0, no avg or stddev.
SELECT rows, avg IS NULL AS no_avg, sd IS NULL AS no_sd FROM fx.meter_hourly
 WHERE meter = 3;

-- A statement on a partition itself (not through the table) is logged too.
SELECT count(*) AS partitions_with_triggers FROM pg_trigger g JOIN pg_inherits i ON i.inhrelid = g.tgrelid
 WHERE i.inhparent = 'fx.meter'::regclass AND g.tgname = 'gridkit_rollup_delete';
DELETE FROM fx.meter_p20240312 WHERE meter = 2 AND ts < '2024-03-12 06:00-04';
SELECT rollup, count(*) AS statements FROM gridkit.rollup_invalidation GROUP BY 1 ORDER BY 1;
SELECT count(gridkit.rollup_refresh(name)) AS refreshed FROM gridkit._rollups_in_order() r(name);
SELECT * FROM fx.rollups_match();

-- A rolled-back change leaves no log and changes nothing.
BEGIN;
DELETE FROM fx.meter WHERE meter = 1;
ROLLBACK;
SELECT count(*) AS pending FROM gridkit.rollup_invalidation;

-- Retention waits for the rollups: with a change pending, no partition of
-- the raw table goes; after a refresh, every old one does, and the rollups
-- keep their buckets.
SELECT gridkit.retention_set('fx.meter', '30 days');
INSERT INTO fx.meter VALUES ('2024-03-08 00:00-05', 3, 'grid', 5);
SELECT gridkit.ts_apply_retention('fx.meter') AS dropped_rows;
SELECT count(*) AS raw_rows FROM fx.meter;
SELECT count(gridkit.rollup_refresh(name)) AS refreshed FROM gridkit._rollups_in_order() r(name);
SELECT gridkit.ts_apply_retention('fx.meter') > 0 AS dropped;
SELECT count(*) AS raw_rows_left FROM fx.meter;
SELECT count(*) AS hourly_buckets, sum(rows) AS rows_rolled_up FROM fx.meter_hourly;
-- A late row for a day retention has dropped changes nothing already
-- rolled up (the bucket would be recomputed from that one row).
INSERT INTO fx.meter VALUES ('2024-03-09 12:04-05', 1, 'solar', 5000);
SELECT gridkit.rollup_refresh('meter_hourly');
SELECT count(*) AS hourly_buckets, sum(rows) AS rows_rolled_up FROM fx.meter_hourly;

-- run_maintenance: premake and late rows per table, refresh per rollup
-- (sources first), retention per table; this file's tables (06's are
-- maintained too when the files run in a row).
SELECT job, target, error FROM gridkit.run_maintenance() WHERE job <> 'premake' AND target LIKE '%meter%' ORDER BY id;
-- The hourly job (pg_cron, every hour) refreshes the rollups under a day,
-- the daily job those of a day and more; each runs retention.
SELECT job, target, error FROM gridkit.run_maintenance('hourly') WHERE job <> 'premake' AND target LIKE '%meter%' ORDER BY id;
SELECT job, target, error FROM gridkit.run_maintenance('daily') WHERE target LIKE '%meter%' ORDER BY id;
SELECT gridkit.run_maintenance('weekly');
\echo :LAST_ERROR_SQLSTATE

-- In UTC, buckets are plain arithmetic from a fixed origin (date_bin); they
-- are PostgreSQL's own date_trunc in UTC for every width, on both sides of
-- the origin (2000-01-01, and Monday 2000-01-03 for weeks).
CREATE TABLE fx.utc_points (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.utc_points', 'ts', '1 day', premake => 0);
INSERT INTO fx.utc_points
SELECT timestamptz '1999-12-30 12:00+00' + (hashint4(i) & 524287) * interval '1 second', i FROM generate_series(1, 5000) i;
CREATE TABLE fx.utc_expected AS
SELECT w.width, w.bucket, count(*) AS n
  FROM fx.utc_points p CROSS JOIN LATERAL (VALUES
       ('1 minute', date_trunc('minute', p.ts, 'UTC')),
       ('5 minutes', date_trunc('hour', p.ts, 'UTC') + floor(date_part('minute', p.ts AT TIME ZONE 'UTC') / 5) * interval '5 minutes'),
       ('1 hour', date_trunc('hour', p.ts, 'UTC')),
       ('6 hours', date_trunc('day', p.ts, 'UTC') + floor(date_part('hour', p.ts AT TIME ZONE 'UTC') / 6) * interval '6 hours'),
       ('1 day', date_trunc('day', p.ts, 'UTC')),
       ('1 week', date_trunc('week', p.ts, 'UTC'))) w(width, bucket)
 GROUP BY 1, 2;
SELECT count(gridkit.rollup_create('utc_' || replace(width, ' ', '_'), 'fx.utc_points', 'ts', width::interval, '{}', '{"n": "count(*)"}'))
  FROM (SELECT DISTINCT width FROM fx.utc_expected) w;
SELECT gridkit.rollup_refresh('utc_1_minute') > 0, gridkit.rollup_refresh('utc_5_minutes') > 0, gridkit.rollup_refresh('utc_1_hour') > 0;
SELECT gridkit.rollup_refresh('utc_6_hours') > 0, gridkit.rollup_refresh('utc_1_day') > 0, gridkit.rollup_refresh('utc_1_week') > 0;
CREATE FUNCTION fx.utc_mismatches(width text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((SELECT bucket, n FROM fx.%I EXCEPT SELECT bucket, n FROM fx.utc_expected WHERE width = $1)
                                          UNION ALL (SELECT bucket, n FROM fx.utc_expected WHERE width = $1 EXCEPT SELECT bucket, n FROM fx.%I)) d',
                   'utc_' || replace(width, ' ', '_'), 'utc_' || replace(width, ' ', '_'))
        INTO n USING width;
    RETURN n;
END $$;
SELECT width, count(*) AS buckets, fx.utc_mismatches(width) AS mismatches FROM fx.utc_expected GROUP BY 1 ORDER BY 1;
SELECT count(gridkit.rollup_drop(name)) FROM gridkit.rollups WHERE name LIKE E'utc\\_%';

-- Bad definitions.
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', '7 minutes', '{}', '{"n": "count(*)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', '1 hour', '{}', '{"n": "median(value)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', '1 hour', '{}', '{"n": "avg(kind)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', '1 hour', '{}', '{"n": "avg(nope)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', '1 hour', '{nope}', '{"n": "count(*)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'nope', '1 hour', '{}', '{"n": "count(*)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', '1 hour', '{}', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', '1 hour', '{}', '{"n": "count(*)"}', 'Mars/Olympus');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('meter_hourly', 'fx.meter', 'ts', '1 hour', '{}', '{"n": "count(*)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter_hourly', 'ts', '1 day', '{}', '{"n": "count(*)"}', 'UTC');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter_hourly', 'ts', '30 minutes', '{}', '{"n": "count(*)"}', 'America/New_York');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter_hourly', 'ts', '1 day', '{kind}', '{"n": "count(*)"}', 'America/New_York');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW fx.meter_view AS SELECT * FROM fx.meter;
SELECT gridkit.rollup_create('bad', 'fx.meter_view', 'ts', '1 hour', '{}', '{"n": "count(*)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_create('bad', 'fx.meter', 'ts', NULL, '{}', '{"n": "count(*)"}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_refresh('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_drop('meter_hourly');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_drop('nope');
\echo :LAST_ERROR_SQLSTATE

-- TRUNCATE empties every rollup of the table at the next refresh (but for
-- buckets older than what retention dropped, which keep their history).
SELECT gridkit.retention_set('fx.meter', NULL);
TRUNCATE fx.meter;
SELECT gridkit.rollup_refresh('meter_daily_la') AS la_rows;
SELECT count(*) AS la_buckets_left FROM fx.meter_daily_la;

-- Dropping rollups: dependents first; the source's triggers go with the last.
SELECT gridkit.rollup_drop('meter_daily');
SELECT gridkit.rollup_drop('meter_hourly');
SELECT gridkit.rollup_drop('meter_daily_raw');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'fx.meter'::regclass AND tgname LIKE 'gridkit_rollup%';
SELECT gridkit.rollup_drop('meter_daily_la');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'fx.meter'::regclass AND tgname LIKE 'gridkit_rollup%';
SELECT count(*) AS rollups, (SELECT count(*) FROM gridkit.ts_table WHERE relid::text LIKE 'fx.meter_%') AS managed
  FROM gridkit.rollup;
-- Dropping a source unregisters its rollups and those built on them; their
-- tables stay as data.
SELECT gridkit.rollup_create('meter_h2', 'fx.meter', 'ts', '1 hour', '{meter}', '{"n": "count(*)"}');
SELECT gridkit.rollup_create('meter_d2', 'fx.meter_h2', 'ts', '1 day', '{meter}', '{"n": "count(*)"}');
SET client_min_messages = warning;
DROP TABLE fx.meter CASCADE;
RESET client_min_messages;
SELECT count(*) AS rollups, (SELECT count(*) FROM gridkit.rollup_invalidation) AS log_rows FROM gridkit.rollup;
SELECT to_regclass('fx.meter_h2') IS NOT NULL AS hourly_kept, to_regclass('fx.meter_d2') IS NOT NULL AS daily_kept;
DROP TABLE fx.meter_h2, fx.meter_d2;
DROP FUNCTION fx.rollups_match();

-- Rollups sum floating-point columns with gridkit's exact-sum aggregates:
-- the same numeric as sum(v::numeric) and sum(v::numeric * v::numeric),
-- digits and scale (text) alike, over values of every magnitude, both float
-- types, NaN, the infinities, parallel plans, and no rows at all.
CREATE TABLE fx.floats AS
SELECT g % 5 AS k, (sin(g) * 10 ^ ((g * 7919) % 41 - 20))::float8 AS x
  FROM generate_series(1, 20000) g
UNION ALL SELECT 10, x FROM unnest('{1e300,-1e-300,1234567890123455,0.1,0.2,5e-324,-0}'::float8[]) x
UNION ALL SELECT 11, x FROM unnest('{0.5,0.25,-0.75}'::float8[]) x
UNION ALL SELECT 12, x FROM unnest('{NaN,1}'::float8[]) x
UNION ALL SELECT 13, x FROM unnest('{Infinity,-2}'::float8[]) x
UNION ALL SELECT 14, x FROM unnest('{Infinity,-Infinity}'::float8[]) x
UNION ALL SELECT 15, x FROM unnest('{-Infinity}'::float8[]) x
UNION ALL SELECT 16, NULL;
SELECT k, gridkit._exact_sum(x)::text IS NOT DISTINCT FROM sum(x::numeric)::text AS sum_same,
       gridkit._exact_sum_squares(x)::text IS NOT DISTINCT FROM sum(x::numeric * x::numeric)::text AS squares_same,
       CASE WHEN k >= 11 THEN coalesce(gridkit._exact_sum(x)::text, 'NULL') END AS sum
  FROM fx.floats GROUP BY k ORDER BY k;
SELECT k, gridkit._exact_sum(x::real)::text IS NOT DISTINCT FROM sum(x::real::numeric)::text AS real_sum_same,
       gridkit._exact_sum_squares(x::real)::text IS NOT DISTINCT FROM sum(x::real::numeric * x::real::numeric)::text AS real_squares_same
  FROM fx.floats WHERE abs(x) < 1e30 AND (abs(x) > 1e-30 OR x = 0) OR x IS NULL OR x = 'NaN' GROUP BY k ORDER BY k;
SELECT gridkit._exact_sum(x) AS no_rows FROM fx.floats WHERE false;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT count(*) FILTER (WHERE a::text IS NOT DISTINCT FROM b::text) AS parallel_same, count(*) AS groups
  FROM (SELECT k, gridkit._exact_sum(x) a, sum(x::numeric) b FROM fx.floats GROUP BY k) s;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP TABLE fx.floats;

-- Refreshes aggregate in gridkit's own code when the rollup's types allow
-- (gridkit.rollup_native, on by default). The same rollup refreshed with it
-- off (INSERT ... SELECT ... GROUP BY) holds the same rows, every state
-- column compared as text: integer, boolean and text keys with NULLs, real,
-- double, smallint, integer and bigint values with NaN, the infinities,
-- -0 and NULLs, every aggregate.
CREATE TABLE fx.typed (
    ts timestamptz NOT NULL, site smallint, big bigint, flag boolean, name text, tag varchar(8),
    r real, d double precision, s smallint, i integer, b bigint
) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.typed', 'ts', '1 day', premake => 0);
SELECT gridkit.rollup_create(name, 'fx.typed', 'ts', '15 minutes', ARRAY['site', 'big', 'flag', 'name', 'tag'],
       '{"n": "count(*)", "r_avg": "avg(r)", "r_sd": "stddev(r)", "r_lo": "min(r)", "r_hi": "max(r)", "r_risk": "high_risk_minutes(r)",
         "d_sum": "sum(d)", "d_sd": "stddev(d)", "d_lo": "min(d)", "d_hi": "max(d)", "d_n": "count(d)",
         "s_sum": "sum(s)", "s_sd": "stddev(s)", "s_lo": "min(s)", "i_avg": "avg(i)", "i_sd": "stddev(i)", "i_hi": "max(i)",
         "i_risk": "high_risk_minutes(i)", "b_sum": "sum(b)", "b_lo": "min(b)", "b_hi": "max(b)"}')
  FROM unnest(ARRAY['typed_native', 'typed_sql']) name;
-- Both watermarks move to now: the rows below arrive behind them, so each
-- refresh reads the hour the change log names.
SELECT gridkit.rollup_refresh('typed_native'), gridkit.rollup_refresh('typed_sql');
INSERT INTO fx.typed
SELECT timestamptz '2024-06-01 10:00+00' + g * interval '7 seconds',
       nullif(g % 4, 3), g % 3 * 10000000000, CASE g % 5 WHEN 0 THEN NULL ELSE g % 2 = 0 END,
       CASE g % 6 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'ab' ELSE 'née' END, (g % 2)::text,
       CASE g % 97 WHEN 0 THEN 'NaN' WHEN 1 THEN 'Infinity' WHEN 2 THEN '-0' WHEN 3 THEN NULL ELSE (sin(g) * 100)::real END,
       CASE g % 89 WHEN 0 THEN '-Infinity' WHEN 1 THEN 'NaN' WHEN 2 THEN NULL ELSE cos(g) * 10 ^ (g % 13 - 6) END,
       (g % 32767)::smallint * CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END, g * 1000 - 1500000, CASE WHEN g % 7 = 0 THEN NULL ELSE g * 123456789012 END
  FROM generate_series(0, 1500) g;
-- Before 2000 (the buckets' origin), on and off bucket boundaries.
INSERT INTO fx.typed (ts, site, r, i)
SELECT timestamptz '1999-12-31 23:00+00' + g * interval '5 minutes', g % 2, g, g FROM generate_series(0, 20) g;
SELECT gridkit.rollup_refresh('typed_native') AS native_groups;
SET gridkit.rollup_native = off;
SELECT gridkit.rollup_refresh('typed_sql') AS sql_groups;
RESET gridkit.rollup_native;
CREATE FUNCTION fx.typed_differences() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM (
        (SELECT (t.*)::text FROM fx.typed_native t EXCEPT ALL SELECT (t.*)::text FROM fx.typed_sql t)
        UNION ALL
        (SELECT (t.*)::text FROM fx.typed_sql t EXCEPT ALL SELECT (t.*)::text FROM fx.typed_native t)) d
$$;
SELECT fx.typed_differences() AS differences, (SELECT count(*) FROM fx.typed_native WHERE r_hi = 'NaN') AS nan_groups,
       (SELECT count(*) FROM fx.typed_native WHERE name IS NULL) AS null_name_groups;
-- An update and a delete re-materialize their buckets alike.
UPDATE fx.typed SET r = 'NaN', name = 'ab' WHERE ts < timestamptz '2024-06-01 10:20+00' AND i % 3 = 0;
DELETE FROM fx.typed WHERE ts >= timestamptz '2024-06-01 12:00+00';
SELECT gridkit.rollup_refresh('typed_native') > 0 AS native_refreshed;
SET gridkit.rollup_native = off;
SELECT gridkit.rollup_refresh('typed_sql') > 0 AS sql_refreshed;
RESET gridkit.rollup_native;
SELECT fx.typed_differences() AS differences_after_changes;
-- Past the memory a hash aggregate may use, a refresh runs the SQL
-- statement instead; the rows are the same.
UPDATE fx.typed SET i = i + 1;
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
SELECT gridkit.rollup_refresh('typed_native') > 0 AS refreshed_past_memory;
RESET work_mem;
RESET hash_mem_multiplier;
SET gridkit.rollup_native = off;
SELECT gridkit.rollup_refresh('typed_sql') > 0 AS sql_refreshed;
RESET gridkit.rollup_native;
SELECT fx.typed_differences() AS differences_past_memory;
SELECT gridkit.rollup_drop('typed_native'), gridkit.rollup_drop('typed_sql');
DROP FUNCTION fx.typed_differences();
DROP TABLE fx.typed, fx.typed_native, fx.typed_sql;

-- A rollup source whose time column was renamed: writes fail with 42703
-- and say what to do, rather than log a wrong range.
CREATE TABLE fx.renamed (ts timestamptz NOT NULL, k int, v float8);
SELECT gridkit.rollup_create('renamed_hourly', 'fx.renamed', 'ts', '1 hour', '{k}', '{"n": "count(*)"}');
ALTER TABLE fx.renamed RENAME COLUMN ts TO t;
INSERT INTO fx.renamed VALUES ('2024-01-01', 1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.rollup_drop('renamed_hourly');
DROP TABLE fx.renamed;
