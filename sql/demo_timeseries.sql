-- The demo's time series, made after the map layers: a year of hourly grid
-- observations per balancing authority and series, and a week of
-- per-minute safety inputs for 100 intersections (fewer below scale 1), both ending at the
-- current hour, with rollups, latest values and retention set. Values come
-- from smooth daily and seasonal shapes plus noise from a seeded hash, so a
-- seed gives the same values relative to the end hour.

CREATE TABLE demo.observations (
    ts     timestamptz NOT NULL,
    ba     text NOT NULL,
    series text NOT NULL,
    value  double precision
) PARTITION BY RANGE (ts);
COMMENT ON TABLE demo.observations IS 'Hourly grid observations per balancing authority and series (MW; co2_rate in lb/MWh)';
SELECT gridkit.ts_create('demo.observations', 'ts', '1 month', premake => 2);
SELECT gridkit._ts_make_range('demo.observations', date_trunc('hour', now()) - interval '365 days', now());

CREATE TABLE demo.safety_minutes (
    ts              timestamptz NOT NULL,
    intersection_id integer NOT NULL,
    volume          integer NOT NULL,
    vru_events      integer NOT NULL,
    vehicle_events  integer NOT NULL,
    avg_speed       double precision,
    speed_variance  double precision,
    hard_braking    integer NOT NULL
) PARTITION BY RANGE (ts);
COMMENT ON TABLE demo.safety_minutes IS 'Per-minute connected-vehicle counts per intersection (inputs of the safety index)';
SELECT gridkit.ts_create('demo.safety_minutes', 'ts', '1 day', premake => 2);
SELECT gridkit._ts_make_range('demo.safety_minutes', date_trunc('hour', now()) - interval '7 days', now());

-- noise(x) in [0, 1) from a seeded hash.
INSERT INTO demo.observations (ts, ba, series, value)
SELECT t, b.ba, s.series,
       round(CASE s.series
           WHEN 'demand' THEN b.base * (1 + 0.18 * sin(2 * pi() * (h - 9) / 24) + 0.12 * cos(2 * pi() * (d - 200) / 365) + 0.04 * n)
           WHEN 'generation_wind' THEN b.base * 0.25 * greatest(0, 0.45 + 0.3 * sin(2 * pi() * (d + b.k * 37) / 9) + 0.25 * (n - 0.5))
           WHEN 'generation_solar' THEN b.base * 0.2 * greatest(0, sin(pi() * (h - 6) / 12)) * (0.7 + 0.3 * n)
           WHEN 'generation_gas' THEN b.base * (0.45 + 0.15 * sin(2 * pi() * (h - 9) / 24) + 0.05 * n)
           WHEN 'interchange' THEN b.base * 0.08 * (n - 0.5) + b.base * 0.03 * sin(2 * pi() * h / 24)
           ELSE 700 + 250 * sin(2 * pi() * (h - 14) / 24) + 80 * n
       END::numeric, 1)::double precision
  FROM generate_series(date_trunc('hour', now()) - interval '365 days', date_trunc('hour', now()) - interval '1 hour',
                       interval '1 hour') t
 CROSS JOIN (VALUES ('CISO', 30000, 1, 'America/Los_Angeles'), ('ERCO', 45000, 2, 'America/Chicago'),
                    ('PJM', 90000, 3, 'America/New_York'), ('MISO', 75000, 4, 'America/Chicago'),
                    ('NYIS', 18000, 5, 'America/New_York')) b(ba, base, k, tz)
 CROSS JOIN unnest(ARRAY['demand', 'generation_wind', 'generation_solar', 'generation_gas', 'interchange', 'co2_rate'])
            WITH ORDINALITY s(series, j)
 CROSS JOIN LATERAL (SELECT extract(hour FROM t AT TIME ZONE b.tz) AS h, extract(doy FROM t AT TIME ZONE b.tz) AS d,
                            (hashint8extended(extract(epoch FROM t)::bigint * 64 + b.k * 8 + s.j, @seed@) & 1048575) / 1048576.0 AS n) x;

-- Per-minute shapes once per minute, then per intersection: bigint and
-- float arithmetic only (extract() and round() go through numeric); OFFSET
-- 0 keeps each noise value computed once rather than once per use.
INSERT INTO demo.safety_minutes
WITH m AS MATERIALIZED (
    SELECT t, extract(epoch FROM t)::bigint * 128 AS e,
           0.5 - 0.5 * cos(2 * pi() * (extract(hour FROM t AT TIME ZONE 'America/Los_Angeles')::float8 - 3) / 24) AS day_shape
      FROM generate_series(date_trunc('hour', now()) - interval '7 days', date_trunc('hour', now()) - interval '1 minute',
                           interval '1 minute') t
)
SELECT t, i, volume,
       (n1 < 0.004 * volume / 20)::int + (n1 < 0.0005)::int,
       (n2 < 0.01 * volume / 20)::int + (n2 < 0.002)::int,
       CASE WHEN volume = 0 THEN NULL ELSE floor((28 + 12 * n3 - volume / 10.0 + (i % 7)) * 10 + 0.5) / 10 END,
       CASE WHEN volume < 2 THEN NULL ELSE floor((4 + 30 * n4 * n4) * 100 + 0.5) / 100 END,
       (n4 < 0.006 * (1 + (i % 5)))::int
  FROM (SELECT r.*, greatest(0, round(3 + 14 * (i % 10 + 3) / 12.0::float8 * day_shape + 4 * (n1 - 0.5)))::int AS volume
          FROM (SELECT m.t, i, m.day_shape,
                       (hashint8extended(m.e + i, @seed@) & 1048575) / 1048576.0::float8 AS n1,
                       (hashint8extended(m.e + i, @seed@ + 1) & 1048575) / 1048576.0::float8 AS n2,
                       (hashint8extended(m.e + i, @seed@ + 2) & 1048575) / 1048576.0::float8 AS n3,
                       (hashint8extended(m.e + i, @seed@ + 3) & 1048575) / 1048576.0::float8 AS n4
                  FROM m CROSS JOIN generate_series(1, @intersections@) i OFFSET 0) r
        OFFSET 0) v;

-- Keys after the load: one index build per partition beats row-by-row.
ALTER TABLE demo.observations ADD PRIMARY KEY (ba, series, ts);
ALTER TABLE demo.safety_minutes ADD PRIMARY KEY (intersection_id, ts);
ANALYZE demo.observations, demo.safety_minutes;

-- The time index each rollup refresh reads by (rollup_create would add it
-- with a NOTICE).
CREATE INDEX ON demo.observations USING brin (ts);
CREATE INDEX ON demo.safety_minutes USING brin (ts);

-- Rollups (daily observations in Central time, monthly from daily; safety
-- hourly and daily in Pacific time), latest values and retention.
SELECT gridkit.rollup_create('observations_daily', 'demo.observations', 'ts', '1 day', '{ba,series}',
       '{"value_avg": "avg(value)", "value_min": "min(value)", "value_max": "max(value)", "value_sum": "sum(value)", "hours": "count(value)"}',
       'America/Chicago');
SELECT gridkit.rollup_create('observations_monthly', 'demo.observations_daily', 'ts', '1 month', '{ba,series}',
       '{"value_avg": "avg(value)", "value_min": "min(value)", "value_max": "max(value)", "value_sum": "sum(value)", "hours": "count(value)"}',
       'America/Chicago');
SELECT gridkit.rollup_create('safety_hourly', 'demo.safety_minutes', 'ts', '1 hour', '{intersection_id}',
       '{"minutes": "count(*)", "volume": "sum(volume)", "vru_events": "sum(vru_events)", "vehicle_events": "sum(vehicle_events)", "hard_braking": "sum(hard_braking)", "avg_speed": "avg(avg_speed)", "speed_sd": "stddev(avg_speed)", "max_speed": "max(avg_speed)"}',
       'America/Los_Angeles');
SELECT gridkit.rollup_create('safety_daily', 'demo.safety_hourly', 'ts', '1 day', '{intersection_id}',
       '{"minutes": "count(*)", "volume": "sum(volume)", "vru_events": "sum(vru_events)", "vehicle_events": "sum(vehicle_events)", "hard_braking": "sum(hard_braking)", "avg_speed": "avg(avg_speed)", "speed_sd": "stddev(avg_speed)", "max_speed": "max(avg_speed)"}',
       'America/Los_Angeles');
SELECT gridkit.rollup_refresh(name) FROM gridkit._rollups_in_order() r(name)
 WHERE name IN ('observations_daily', 'observations_monthly', 'safety_hourly', 'safety_daily');
SELECT gridkit.latest_enable('demo.observations', '{ba,series}', '1 hour');
SELECT gridkit.latest_enable('demo.safety_minutes', '{intersection_id}', '1 minute');
-- What retention drops is archived to Parquet first, where the server has
-- an archive directory (gridkit.archive_directory; scripts/cluster.sh sets
-- one for every project cluster).
SELECT gridkit.retention_set('demo.observations', '400 days', archive => CASE WHEN current_setting('gridkit.archive_directory', true) <> '' THEN 'demo' END);
SELECT gridkit.retention_set('demo.safety_minutes', '30 days', archive => CASE WHEN current_setting('gridkit.archive_directory', true) <> '' THEN 'demo' END);
SELECT gridkit.retention_set('demo.safety_hourly', '90 days', archive => CASE WHEN current_setting('gridkit.archive_directory', true) <> '' THEN 'demo' END);

-- Safety indices of every minute (docs/INDICES.md): constants from the week
-- itself, indices in a time-series table of their own with the latest value
-- per intersection (the "current" index) and an hourly rollup of the
-- adjusted index. Constants computed for an earlier demo go with it.
SET LOCAL client_min_messages = warning;
SELECT gridkit.safety_target_create('demo.safety_index');
SELECT gridkit.ts_convert('demo.safety_index', 'ts', '1 day', premake => 2);
DROP TABLE demo.safety_index_unpartitioned;
SELECT gridkit._ts_make_range('demo.safety_index', date_trunc('hour', now()) - interval '7 days', now());
DELETE FROM gridkit.safety_constants c WHERE c.source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_class r WHERE r.oid = c.source);
SELECT gridkit.safety_constants_compute('demo.safety_minutes', date_trunc('hour', now()) - interval '7 days',
       date_trunc('hour', now()) + interval '1 year', date_trunc('hour', now()) - interval '7 days', now());
SELECT gridkit.safety_compute('demo.safety_minutes', 'demo.safety_index', date_trunc('hour', now()) - interval '7 days', now(),
       timezone => 'America/Los_Angeles');
CREATE INDEX ON demo.safety_index USING brin (ts);
ANALYZE demo.safety_index;
SELECT gridkit.latest_enable('demo.safety_index', '{intersection_id}', '1 minute');
SELECT gridkit.rollup_create('safety_index_hourly', 'demo.safety_index', 'ts', '1 hour', '{intersection_id}',
       '{"minutes": "count(*)", "combined_eb": "avg(combined_index_eb)", "combined_eb_min": "min(combined_index_eb)", "combined_eb_max": "max(combined_index_eb)", "high_risk_minutes": "high_risk_minutes(combined_index_eb)"}',
       'America/Los_Angeles');
SELECT gridkit.rollup_refresh('safety_index_hourly');
SELECT gridkit.retention_set('demo.safety_index', '30 days', archive => CASE WHEN current_setting('gridkit.archive_directory', true) <> '' THEN 'demo' END);
SET LOCAL client_min_messages = notice;
