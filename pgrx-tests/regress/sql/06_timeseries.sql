-- Time-series tables: partitions ahead of time, late rows moved into
-- partitions of their own (never lost), retention by whole partitions, the
-- maintenance log, and a SQLSTATE for every bad input. Partitions around
-- now() depend on the date, so only their number is shown.
\set VERBOSITY default

CREATE TABLE fx.readings (
    sensor_id int NOT NULL,
    ts        timestamptz NOT NULL,
    value     double precision,
    PRIMARY KEY (sensor_id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX ON fx.readings (ts);
-- Rows from before gridkit manages the table go to its default partition
-- and then into partitions of their own.
SELECT gridkit.ts_create('fx.readings', 'ts', '1 day', premake => 2);
SELECT count(*) FILTER (WHERE NOT is_default) AS partitions, count(*) FILTER (WHERE is_default) AS defaults
  FROM gridkit.ts_partitions('fx.readings');
-- Each partition covers one UTC day and has the parent's indexes.
SELECT bool_and(upper - lower = interval '1 day') AS one_day, bool_and(lower = date_trunc('day', lower AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS midnight_utc
  FROM gridkit.ts_partitions('fx.readings') WHERE NOT is_default;
SELECT count(*) AS indexes_on_first_partition
  FROM pg_index WHERE indrelid = (SELECT partition FROM gridkit.ts_partitions('fx.readings') WHERE NOT is_default LIMIT 1);

-- Late and backfilled rows are accepted, then moved by maintenance.
INSERT INTO fx.readings
SELECT s, timestamptz '2020-03-01 00:00+00' + h * interval '1 hour', s * h
  FROM generate_series(1, 3) s, generate_series(0, 71) h;
INSERT INTO fx.readings VALUES (1, now(), 1.5);
SELECT count(*) AS in_default FROM fx.readings_default;
SELECT job, target, rows, error FROM gridkit.run_maintenance() ORDER BY id;
SELECT count(*) AS in_default FROM fx.readings_default;
SELECT partition, lower AT TIME ZONE 'UTC' AS lower_utc, upper AT TIME ZONE 'UTC' AS upper_utc
  FROM gridkit.ts_partitions('fx.readings') WHERE lower < '2021-01-01' ORDER BY lower;
SELECT count(*) AS rows_kept, sum(value) AS sum_kept FROM fx.readings;
SELECT tableoid::regclass, count(*) FROM fx.readings WHERE ts < '2021-01-01' GROUP BY 1 ORDER BY 1;

-- Retention drops whole partitions past the period, and nothing newer.
SELECT gridkit.retention_set('fx.readings', '30 days');
SELECT job, rows, error FROM gridkit.run_maintenance() WHERE job = 'retention';
SELECT count(*) AS old_rows FROM fx.readings WHERE ts < now() - interval '30 days';
SELECT count(*) AS recent_rows FROM fx.readings;
SELECT gridkit.retention_set('fx.readings', NULL);

-- Hourly and monthly partitions are named by their start.
CREATE TABLE fx.minutes (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.minutes', 'ts', '1 hour', premake => 0);
INSERT INTO fx.minutes VALUES ('2024-02-29 13:45+00', 1), ('2024-02-29 14:00+00', 2);
SELECT gridkit.ts_move_default_rows('fx.minutes');
SELECT partition, lower AT TIME ZONE 'UTC' AS lower_utc, upper AT TIME ZONE 'UTC' AS upper_utc
  FROM gridkit.ts_partitions('fx.minutes') WHERE lower < '2025-01-01' ORDER BY lower;
CREATE TABLE fx.months (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.months', 'ts', '1 month', premake => 0);
INSERT INTO fx.months VALUES ('2023-12-31 23:59:59+00'), ('2024-01-01 00:00+00');
SELECT gridkit.ts_move_default_rows('fx.months');
SELECT partition, lower AT TIME ZONE 'UTC' AS lower_utc, upper AT TIME ZONE 'UTC' AS upper_utc
  FROM gridkit.ts_partitions('fx.months') WHERE lower < '2025-01-01' ORDER BY lower;

-- A failing step is logged and does not stop the others.
CREATE TABLE fx.minutes_p20240229_1500 (x int);
INSERT INTO fx.minutes VALUES ('2024-02-29 15:10+00', 3);
SELECT job, target, rows, error IS NOT NULL AS failed FROM gridkit.run_maintenance()
 WHERE target IN ('fx.minutes', 'fx.months') AND job <> 'premake' ORDER BY id;
SELECT count(*) AS still_there FROM fx.minutes WHERE ts = '2024-02-29 15:10+00';
DROP TABLE fx.minutes_p20240229_1500;

-- A plain table converted: same rows, keys and indexes, in partitions; the
-- original kept under another name.
CREATE TABLE fx.plain_readings (
    sensor_id int NOT NULL,
    ts        timestamptz NOT NULL,
    value     double precision DEFAULT 0,
    PRIMARY KEY (sensor_id, ts)
);
CREATE INDEX ON fx.plain_readings (ts) WHERE value > 0;
INSERT INTO fx.plain_readings SELECT s, timestamptz '2022-05-01 00:00+00' + h * interval '1 hour', h
  FROM generate_series(1, 4) s, generate_series(0, 59) h;
SELECT gridkit.ts_convert('fx.plain_readings', 'ts', '1 day', premake => 0);
SELECT c.relkind, (SELECT count(*) FROM fx.plain_readings) AS rows,
       (SELECT count(*) FROM fx.plain_readings_unpartitioned) AS original_rows
  FROM pg_class c WHERE c.oid = 'fx.plain_readings'::regclass;
SELECT partition, lower AT TIME ZONE 'UTC' AS lower_utc FROM gridkit.ts_partitions('fx.plain_readings')
 WHERE is_default OR lower < '2025-01-01' ORDER BY lower NULLS FIRST;
SELECT pg_get_indexdef(indexrelid) ~ 'UNIQUE' AS is_unique, pg_get_indexdef(indexrelid) ~ 'WHERE' AS is_partial
  FROM pg_index WHERE indrelid = 'fx.plain_readings'::regclass ORDER BY 1 DESC, 2;
INSERT INTO fx.plain_readings VALUES (1, '2022-05-01 00:00+00', 1);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE fx.keyed (id int PRIMARY KEY, ts timestamptz NOT NULL);
SELECT gridkit.ts_convert('fx.keyed', 'ts');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_convert('fx.readings', 'ts');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_convert('fx.keyed', 'when');
\echo :LAST_ERROR_SQLSTATE

-- Bad input.
CREATE TABLE fx.plain (ts timestamptz);
SELECT gridkit.ts_create('fx.plain', 'ts');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE fx.bylist (ts timestamptz, k int) PARTITION BY LIST (k);
SELECT gridkit.ts_create('fx.bylist', 'ts');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE fx.bydate (d date) PARTITION BY RANGE (d);
SELECT gridkit.ts_create('fx.bydate', 'd');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_create('fx.minutes', 'v');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE fx.other (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.other', 'ts', '1 month 2 days');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_create('fx.other', 'ts', '90 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_create('fx.other', 'ts', '-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_create('fx.other', 'ts', '1 day', premake => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_create('fx.other', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.ts_create('fx.minutes', 'ts', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.retention_set('fx.plain', '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.retention_set('fx.readings', '-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.schedule();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS managed FROM gridkit.ts_table;
-- Dropping a managed table ends its management.
DROP TABLE fx.months;
SELECT relid FROM gridkit.ts_table ORDER BY relid::text;
