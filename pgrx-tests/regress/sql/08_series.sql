-- Reading and rewriting series: the latest row per key kept by statement
-- triggers (inserts, late rows, updates, deletes, TRUNCATE), freshness,
-- history routed to raw rows or a rollup by range, and replace_range.
\set VERBOSITY default

CREATE TABLE fx.obs (
    ts     timestamptz NOT NULL,
    ba     text NOT NULL,
    series text NOT NULL,
    value  double precision,
    PRIMARY KEY (ba, series, ts)
) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.obs', 'ts', '1 day', premake => 0);
-- Hourly, 3 BAs x 2 series, 2024-06-01 to 06-30.
INSERT INTO fx.obs
SELECT t, b, s, round((extract(epoch FROM t)::bigint / 3600 % 24 + length(b) * 10 + length(s))::numeric, 1)
  FROM generate_series(timestamptz '2024-06-01 00:00+00', '2024-06-30 23:00+00', interval '1 hour') t,
       unnest(ARRAY['CISO', 'ERCO', 'PJM']) b, unnest(ARRAY['demand', 'wind']) s;
SELECT gridkit.ts_move_default_rows('fx.obs') > 0 AS moved;

-- Latest values: one row per key, equal to DISTINCT ON over the raw table.
SELECT gridkit.latest_enable('fx.obs', '{ba,series}', expected => '1 hour');
SELECT ba, series, ts, value FROM fx.obs_latest ORDER BY 1, 2;
CREATE FUNCTION fx.latest_mismatches() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM (SELECT DISTINCT ON (ba, series) * FROM fx.obs ORDER BY ba, series, ts DESC) d
      FULL JOIN fx.obs_latest l USING (ba, series)
     WHERE l.ts IS DISTINCT FROM d.ts OR l.value IS DISTINCT FROM d.value
$$;
-- A batch with two rows of one key keeps the newer; a late row does not
-- replace a newer one; a new key appears.
INSERT INTO fx.obs VALUES ('2024-07-01 00:00+00', 'CISO', 'demand', 1), ('2024-07-01 01:00+00', 'CISO', 'demand', 2),
                          ('2024-05-01 00:00+00', 'ERCO', 'wind', -1), ('2024-07-01 00:00+00', 'MISO', 'demand', 9);
SELECT ba, series, ts, value FROM fx.obs_latest WHERE ba IN ('CISO', 'ERCO', 'MISO') AND series IN ('demand', 'wind') ORDER BY 1, 2;
SELECT fx.latest_mismatches() AS mismatches;
-- Deleting or updating the newest row falls back to the row before.
DELETE FROM fx.obs WHERE ba = 'CISO' AND series = 'demand' AND ts = '2024-07-01 01:00+00';
UPDATE fx.obs SET value = 42 WHERE ba = 'PJM' AND series = 'wind' AND ts = '2024-06-30 23:00+00';
UPDATE fx.obs SET ts = ts - interval '1 year' WHERE ba = 'MISO';
SELECT ba, series, ts, value FROM fx.obs_latest WHERE (ba, series) IN (('CISO', 'demand'), ('PJM', 'wind'), ('MISO', 'demand')) ORDER BY 1;
SELECT fx.latest_mismatches() AS mismatches;

-- Freshness: every key of 2024 is stale today.
SELECT status, count(*) FROM gridkit.freshness WHERE source = 'fx.obs'::regclass GROUP BY 1;
INSERT INTO fx.obs VALUES (now() - interval '10 minutes', 'CISO', 'wind', 3), (now() - interval '2 hours', 'ERCO', 'demand', 3);
SELECT key, status FROM gridkit.freshness WHERE source = 'fx.obs'::regclass AND status <> 'stale' ORDER BY 1;
DELETE FROM fx.obs WHERE ts > '2024-12-31';
SELECT fx.latest_mismatches() AS mismatches;

-- History: raw rows when few enough; the hourly rollup past max_points;
-- the daily rollup for a long range; values equal to plain SQL.
SELECT gridkit.rollup_create('obs_hourly', 'fx.obs', 'ts', '1 hour', '{ba,series}',
       '{"avg": "avg(value)", "lo": "min(value)", "hi": "max(value)"}');
SELECT gridkit.rollup_create('obs_daily', 'fx.obs_hourly', 'ts', '1 day', '{ba,series}',
       '{"avg": "avg(value)", "lo": "min(value)", "hi": "max(value)"}');
SELECT count(gridkit.rollup_refresh(name)) FROM gridkit._rollups_in_order() r(name);
SELECT count(*) AS points, min(bucket), max(bucket), sum(count) AS rows
  FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-10 00:00+00', '2024-06-12 00:00+00');
-- 20 days of hours with max_points 100: daily buckets from the daily rollup.
SELECT count(*) AS points, sum(count) AS rows, bool_and(max >= avg AND min <= avg) AS ordered
  FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-05 00:00+00', '2024-06-25 00:00+00', max_points => 100);
SELECT count(*) AS mismatches FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-05 00:00+00', '2024-06-25 00:00+00', max_points => 100) h
  FULL JOIN (SELECT date_trunc('day', ts, 'UTC') AS bucket, avg(value) AS avg, count(*) AS n FROM fx.obs
              WHERE ba = 'ERCO' AND series = 'wind' AND ts >= '2024-06-05 00:00+00' AND ts < '2024-06-25 00:00+00' GROUP BY 1) p USING (bucket)
 WHERE abs(h.avg - p.avg) > 1e-9 OR h.count IS DISTINCT FROM p.n;
-- 10 days with max_points 500: hourly; with max_points 5: merged into 5 steps.
SELECT count(*) AS points FROM gridkit.history('fx.obs', '{"ba": "PJM", "series": "demand"}', '2024-06-01 00:00+00', '2024-06-11 00:00+00', 500);
SELECT count(*) AS points, sum(count) AS rows FROM gridkit.history('fx.obs', '{"ba": "PJM", "series": "demand"}', '2024-06-01 00:00+00', '2024-06-11 00:00+00', 5);
-- A key the rollups do not group by alone: all series of a BA merged.
SELECT count(*) AS points, sum(count) AS rows FROM gridkit.history('fx.obs', '{"ba": "PJM"}', '2024-06-01 00:00+00', '2024-06-11 00:00+00', 100);
-- The finest rollup that fits is chosen, whatever the rollups' watermarks
-- (the monthly one's is the earliest), and the bucket holding "from" counts.
SELECT gridkit.rollup_create('obs_monthly', 'fx.obs_daily', 'ts', '1 month', '{ba,series}', '{"avg": "avg(value)"}');
SELECT gridkit.rollup_refresh('obs_monthly') > 0 AS refreshed;
SELECT count(*) AS points, min(bucket), max(bucket), sum(count) AS rows
  FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-10 12:00+00', '2024-06-14 12:00+00', 5);
SELECT count(*) AS points FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-05 00:00+00', '2024-06-25 00:00+00', max_points => 100);
SELECT gridkit.rollup_drop('obs_monthly');
-- history keeps its statements' plans and the rollup's live SQL between
-- calls: a rollup dropped and made again under the same name, with other
-- aggregates, is read as it is now.
SELECT gridkit.rollup_drop('obs_daily');
SELECT gridkit.rollup_create('obs_daily', 'fx.obs_hourly', 'ts', '1 day', '{ba,series}', '{"avg": "avg(value)"}');
SELECT count(*) AS points, count(min) AS with_min, sum(count) AS rows
  FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-05 00:00+00', '2024-06-25 00:00+00', max_points => 100);
SELECT gridkit.rollup_refresh('obs_daily') > 0 AS refreshed;
SELECT count(*) AS points, count(min) AS with_min, sum(count) AS rows
  FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-05 00:00+00', '2024-06-25 00:00+00', max_points => 100);
SELECT gridkit.rollup_drop('obs_daily');
SELECT gridkit.rollup_create('obs_daily', 'fx.obs_hourly', 'ts', '1 day', '{ba,series}',
       '{"avg": "avg(value)", "lo": "min(value)", "hi": "max(value)"}');
SELECT gridkit.rollup_refresh('obs_daily') > 0 AS refreshed;
SELECT count(*) AS points, count(min) AS with_min, sum(count) AS rows
  FROM gridkit.history('fx.obs', '{"ba": "ERCO", "series": "wind"}', '2024-06-05 00:00+00', '2024-06-25 00:00+00', max_points => 100);

-- replace_range: recomputed rows swapped in atomically; rollups and latest
-- values follow.
CREATE TABLE fx.obs_fix AS
SELECT ts, ba, series, value * 10 AS value FROM fx.obs WHERE ts >= '2024-06-15 00:00+00' AND ts < '2024-06-16 00:00+00' AND ba = 'CISO';
SELECT gridkit.replace_range('fx.obs', '2024-06-15 00:00+00', '2024-06-16 00:00+00', 'fx.obs_fix');
SELECT count(*) AS rows_that_day FROM fx.obs WHERE ts >= '2024-06-15 00:00+00' AND ts < '2024-06-16 00:00+00';
SELECT pending_changes FROM gridkit.rollups WHERE name = 'obs_hourly';
SELECT count(gridkit.rollup_refresh(name)) FROM gridkit._rollups_in_order() r(name);
SELECT ba, count(*), sum(n) FROM (SELECT ba, _n AS n FROM fx.obs_daily WHERE bucket = '2024-06-15 00:00+00') d GROUP BY 1 ORDER BY 1;

-- Bad input.
-- history's live SQL takes statement parameters only, of a known rollup.
SELECT gridkit._rollup_live_sql('obs_hourly', 'now()', '$2::timestamptz');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit._rollup_live_sql('nope', '$7::timestamptz', '$2::timestamptz');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.latest_enable('fx.obs', '{ba,series}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.latest_enable('fx.obs_fix', '{ba}');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.latest_disable('fx.obs_fix');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.history('fx.obs', '["CISO"]', '2024-06-01', '2024-06-02');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.history('fx.obs', '{"nope": 1}', '2024-06-01', '2024-06-02');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.history('fx.obs', '{"ba": "CISO"}', '2024-06-02', '2024-06-01');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.history('fx.obs', '{"ba": "CISO"}', '2024-06-01', '2024-06-02', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.history('fx.obs', '{"ba": "CISO"}', '2024-06-01', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.replace_range('fx.obs', '2024-06-16', '2024-06-15', 'fx.obs_fix');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.replace_range('fx.obs', '2024-06-16', '2024-06-17', 'fx.obs_fix');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE fx.obs_fix DROP COLUMN series;
SELECT gridkit.replace_range('fx.obs', '2024-06-15', '2024-06-16', 'fx.obs_fix');
\echo :LAST_ERROR_SQLSTATE

-- TRUNCATE empties the latest table; disabling drops it and its triggers.
TRUNCATE fx.obs;
SELECT count(*) AS latest_rows FROM fx.obs_latest;
SELECT status FROM gridkit.freshness WHERE source = 'fx.obs'::regclass;
SELECT gridkit.latest_disable('fx.obs');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'fx.obs'::regclass AND tgname LIKE 'gridkit_latest%';
SELECT gridkit.rollup_drop('obs_daily'), gridkit.rollup_drop('obs_hourly');
DROP FUNCTION fx.latest_mismatches();
DROP TABLE fx.obs, fx.obs_fix;
