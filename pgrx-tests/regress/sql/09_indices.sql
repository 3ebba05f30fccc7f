-- Safety indices: the worked examples of docs/INDICES.md through SQL, the
-- set-based computation checked row by row against the one-row function
-- and against the adjustments written as plain SQL, rollup aggregates, and
-- a SQLSTATE for every bad input.
\set VERBOSITY default

-- The examples' constants, valid through 2024.
INSERT INTO gridkit.safety_constants (valid_from, valid_until, vru_events_max, vehicle_events_max, volume_max,
                                      speed_variance_max, hard_braking_max, speed_p85)
VALUES ('2024-01-01 00:00+00', '2025-01-01 00:00+00', 4, 10, 100, 50, 5, 40);
-- Example 1: 26.5, 31.5, 28.5.
SELECT abs(vru_index - 26.5) < 1e-9 AS vru, abs(vehicle_index - 31.5) < 1e-9 AS vehicle, abs(combined_index - 28.5) < 1e-9 AS combined
  FROM gridkit.safety_index(1, 3, 40, 44, 20, 2, '2024-06-01 00:00+00');
-- Example 2: 50, 0, 30.
SELECT abs(vru_index - 50) < 1e-9 AS vru, vehicle_index = 0 AS vehicle, abs(combined_index - 30) < 1e-9 AS combined
  FROM gridkit.safety_index(6, 0, 0, NULL, NULL, 0, '2024-06-01 00:00+00');
-- NULL counts give NULL indices.
SELECT * FROM gridkit.safety_index(NULL, 0, 0, NULL, NULL, 0, '2024-06-01 00:00+00');

-- A minute table: 4 intersections, 2 hours.
CREATE TABLE fx.crossing_minutes (
    ts timestamptz NOT NULL, intersection_id int NOT NULL, volume int NOT NULL, vru_events int NOT NULL,
    vehicle_events int NOT NULL, avg_speed float8, speed_variance float8, hard_braking int NOT NULL
);
INSERT INTO fx.crossing_minutes
SELECT timestamptz '2024-06-03 08:00+00' + m * interval '1 minute', i,
       (m * 7 + i * 13) % 40 * i, ((m + i) % 17 = 0)::int + (i = 4 AND m % 5 = 0)::int, ((m * i) % 11 = 0)::int,
       CASE WHEN (m * 7 + i * 13) % 40 = 0 THEN NULL ELSE 30 + (m * 3 + i) % 20 END,
       CASE WHEN (m * 7 + i * 13) % 40 = 0 THEN NULL ELSE (m + i * 5) % 30 END,
       ((m + 3 * i) % 23 = 0)::int
  FROM generate_series(0, 119) m, generate_series(1, 4) i;

-- Constants from the data (the reference window is the validity period).
SELECT vru_events_max, vehicle_events_max, volume_max, speed_variance_max, hard_braking_max, speed_p85, reference_rows
  FROM gridkit.safety_constants_compute('fx.crossing_minutes', '2024-06-03 00:00+00', '2024-06-04 00:00+00');

SELECT gridkit.safety_target_create('fx.scores');
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00') AS written;
-- Raw indices equal the one-row function for every minute.
SELECT count(*) AS rows, count(*) FILTER (WHERE abs(s.vru_index - i.vru_index) > 1e-9 OR abs(s.vehicle_index - i.vehicle_index) > 1e-9
                                      OR abs(s.combined_index - i.combined_index) > 1e-9) AS mismatches
  FROM fx.scores s JOIN fx.crossing_minutes m USING (ts, intersection_id),
       LATERAL gridkit.safety_index(m.vru_events, m.vehicle_events, m.volume, m.avg_speed, m.speed_variance, m.hard_braking, m.ts) i;
-- The blend, written as plain SQL: λ = (volume + 1) / (volume + 51) toward
-- the intersection's mean for the hour of day.
SELECT count(*) FILTER (WHERE abs(s.vru_index_eb - e.vru) > 1e-9 OR abs(s.vehicle_index_eb - e.vehicle) > 1e-9
                           OR abs(s.combined_index_eb - (0.6 * e.vru + 0.4 * e.vehicle)) > 1e-9) AS blend_mismatches
  FROM fx.scores s
  JOIN (SELECT ts, intersection_id,
               (traffic_volume + 1.0) / (traffic_volume + 51.0) * vru_index
                 + 50.0 / (traffic_volume + 51.0) * avg(vru_index) OVER w AS vru,
               (traffic_volume + 1.0) / (traffic_volume + 51.0) * vehicle_index
                 + 50.0 / (traffic_volume + 51.0) * avg(vehicle_index) OVER w AS vehicle
          FROM fx.scores WINDOW w AS (PARTITION BY intersection_id, extract(hour FROM ts AT TIME ZONE 'UTC'))) e
 USING (ts, intersection_id);

-- Empirical Bayes: the prior written as plain SQL, then each minute's VRU
-- count estimate fed to the one-row function.
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00', 'empirical_bayes') AS written;
WITH g AS (SELECT intersection_id, sum(vru_events)::float8 AS y, sum(vehicle_events)::float8 AS yv, sum(volume)::float8 AS e
             FROM fx.crossing_minutes GROUP BY 1),
     p AS (SELECT sum(y) / sum(e) AS mu, sum(yv) / sum(e) AS muv, sum(e) AS te, avg(e) AS ebar FROM g),
     q AS (SELECT mu, muv,
                  greatest(0, sum(g.e * (g.y / g.e - mu) ^ 2) / te - mu / ebar) AS tau2,
                  greatest(0, sum(g.e * (g.yv / g.e - muv) ^ 2) / te - muv / ebar) AS tau2v
             FROM g, p GROUP BY mu, muv, te, ebar),
     est AS (SELECT m.*,
                    CASE WHEN q.tau2 = 0 THEN q.mu * m.volume
                         ELSE (q.mu / q.tau2) / (q.mu / q.tau2 + m.volume) * q.mu * m.volume
                              + m.volume / (q.mu / q.tau2 + m.volume) * m.vru_events END AS vru_hat,
                    CASE WHEN q.tau2v = 0 THEN q.muv * m.volume
                         ELSE (q.muv / q.tau2v) / (q.muv / q.tau2v + m.volume) * q.muv * m.volume
                              + m.volume / (q.muv / q.tau2v + m.volume) * m.vehicle_events END AS veh_hat
               FROM fx.crossing_minutes m, q),
     c AS (SELECT * FROM gridkit.safety_constants WHERE source = 'fx.crossing_minutes'::regclass ORDER BY id DESC LIMIT 1)
SELECT count(*) FILTER (WHERE abs(s.vru_index_eb - 100 * least(1, 0.5 * CASE WHEN c.vru_events_max > 0 THEN least(1, est.vru_hat / c.vru_events_max) ELSE 0 END
                                                         + (s.vru_index / 100 - 0.5 * CASE WHEN c.vru_events_max > 0 THEN least(1, est.vru_events / c.vru_events_max) ELSE 0 END))) > 1e-9
                          OR abs(s.vehicle_index_eb - 100 * least(1, 0.4 * CASE WHEN c.vehicle_events_max > 0 THEN least(1, est.veh_hat / c.vehicle_events_max) ELSE 0 END
                                                         + (s.vehicle_index / 100 - 0.4 * CASE WHEN c.vehicle_events_max > 0 THEN least(1, est.vehicle_events / c.vehicle_events_max) ELSE 0 END))) > 1e-9)
         AS eb_mismatches
  FROM fx.scores s JOIN est USING (ts, intersection_id), c;

-- Recomputing a range replaces it; high-risk minutes and data quality in a rollup.
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 08:00+00', '2024-06-03 09:00+00') AS written;
SELECT count(*) AS rows FROM fx.scores;
SELECT gridkit.high_risk_minutes(x) FROM unnest(ARRAY[10, 75, 75.5, NULL, 99]::float8[]) x;
SELECT intersection_id, gridkit.high_risk_minutes(combined_index_eb) = count(*) FILTER (WHERE combined_index_eb > 75) AS same,
       round(gridkit.data_quality(count(*), '2024-06-03 08:00+00', '2024-06-03 10:00+00')::numeric, 3) AS quality
  FROM fx.scores GROUP BY 1 ORDER BY 1;
SELECT gridkit.data_quality(30, '2024-06-03 08:00+00', '2024-06-03 09:00+00') AS half,
       gridkit.data_quality(90, '2024-06-03 08:00+00', '2024-06-03 09:00+00') AS capped,
       gridkit.data_quality(1, '2024-06-03 09:00+00', '2024-06-03 08:00+00') AS empty_period;

-- Targets of another shape. Columns of other types go through an INSERT
-- that converts them; a partitioned target with a rollup is written by COPY,
-- which routes rows to partitions and fires the change-log triggers. All
-- three must hold the same values (the blend over the whole day).
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00') AS written;
CREATE TABLE fx.scores_wide (ts timestamptz, intersection_id bigint, traffic_volume bigint, vru_event_count numeric,
    vehicle_event_count int, vru_index real, vru_index_eb numeric, vehicle_index float8, vehicle_index_eb float8,
    combined_index float8, combined_index_eb float8, note text DEFAULT 'computed');
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores_wide', '2024-06-03 00:00+00', '2024-06-04 00:00+00') AS written;
CREATE TABLE fx.scores_p (LIKE fx.scores INCLUDING ALL) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('fx.scores_p', 'ts', '1 hour', premake => 0);
SELECT gridkit.rollup_create('scores_p_hourly', 'fx.scores_p', 'ts', '1 hour', ARRAY['intersection_id'],
       '{"high_risk": "high_risk_minutes(combined_index_eb)", "mean": "avg(combined_index_eb)", "minutes": "count(*)"}');
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores_p', '2024-06-03 00:00+00', '2024-06-04 00:00+00') AS written;
SELECT count(*) AS partitions FROM gridkit.ts_partitions('fx.scores_p');
SELECT gridkit.rollup_refresh('scores_p_hourly') > 0 AS refreshed;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE w.note <> 'computed' OR w.vru_index <> s.vru_index::real OR abs(w.vru_index_eb - s.vru_index_eb::numeric) > 1e-9
                          OR w.combined_index_eb <> s.combined_index_eb OR w.intersection_id <> s.intersection_id) AS wide_mismatches,
       count(*) FILTER (WHERE p IS DISTINCT FROM s) AS partitioned_mismatches
  FROM fx.scores s JOIN fx.scores_wide w USING (ts, intersection_id) JOIN fx.scores_p p USING (ts, intersection_id);
SELECT count(*) AS buckets,
       count(*) FILTER (WHERE r.high_risk <> g.high_risk OR abs(r.mean - g.mean) > 1e-9 OR r.minutes <> g.minutes) AS rollup_mismatches
  FROM fx.scores_p_hourly r
  JOIN (SELECT date_trunc('hour', ts, 'UTC') AS bucket, intersection_id, count(*) FILTER (WHERE combined_index_eb > 75) AS high_risk,
               avg(combined_index_eb) AS mean, count(*) AS minutes
          FROM fx.scores GROUP BY 1, 2) g USING (bucket, intersection_id);
-- A range without minutes writes nothing, by COPY and by INSERT alike.
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores_p', '2024-06-05 00:00+00', '2024-06-06 00:00+00') AS copied,
       gridkit.safety_compute('fx.crossing_minutes', 'fx.scores_wide', '2024-06-05 00:00+00', '2024-06-06 00:00+00') AS inserted;
-- COPY checks the caller's INSERT privilege like the INSERT did.
CREATE ROLE regress_scorer;
GRANT USAGE ON SCHEMA fx TO regress_scorer;
GRANT SELECT ON fx.crossing_minutes, fx.scores TO regress_scorer;
GRANT DELETE ON fx.scores TO regress_scorer;
GRANT EXECUTE ON FUNCTION gridkit.safety_compute(regclass, regclass, timestamptz, timestamptz, text, double precision, text),
                          gridkit._safety_compute(oid, oid, timestamptz, timestamptz, text, double precision, text) TO regress_scorer;
SET ROLE regress_scorer;
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS rows_kept FROM fx.scores;
REVOKE ALL ON SCHEMA fx FROM regress_scorer;
REVOKE ALL ON fx.crossing_minutes, fx.scores FROM regress_scorer;
REVOKE ALL ON FUNCTION gridkit.safety_compute(regclass, regclass, timestamptz, timestamptz, text, double precision, text),
                       gridkit._safety_compute(oid, oid, timestamptz, timestamptz, text, double precision, text) FROM regress_scorer;
DROP ROLE regress_scorer;
SELECT gridkit.rollup_drop('scores_p_hourly');
DROP TABLE fx.scores_wide, fx.scores_p;

-- Bad input.
SELECT * FROM gridkit.safety_index(-1, 0, 0, NULL, NULL, 0, '2024-06-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.safety_index(0, 0, 0, 'NaN', NULL, 0, '2024-06-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.safety_index(0, 0, 0, NULL, NULL, 0, '2030-06-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00', 'median');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00', 'blend', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-04 00:00+00', '2024-06-03 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.crossing_minutes', '2024-06-03 00:00+00', '2024-06-04 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2030-06-03 00:00+00', '2030-06-04 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_constants_compute('fx.crossing_minutes', '2020-01-01 00:00+00', '2020-01-02 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_constants_compute('fx.crossing_minutes', '2024-01-02 00:00+00', '2024-01-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.safety_target_create('fx.x; DROP TABLE fx.scores');
\echo :LAST_ERROR_SQLSTATE
UPDATE fx.crossing_minutes SET volume = -3 WHERE intersection_id = 2 AND ts = '2024-06-03 08:30+00';
SELECT gridkit.safety_compute('fx.crossing_minutes', 'fx.scores', '2024-06-03 00:00+00', '2024-06-04 00:00+00');
\echo :LAST_ERROR_SQLSTATE
-- Nothing was written by the failed calls.
SELECT count(*) AS rows FROM fx.scores;

DROP TABLE fx.crossing_minutes, fx.scores;
DELETE FROM gridkit.safety_constants;

-- Congestion: two weeks of hourly LMP for 3 zones of ISO X (2 nodes each)
-- and one zone of ISO Y. Zone A congests at weekday peak, zone B's energy
-- swings, zone C is calm; node a2 sees half of a1's congestion; node c9
-- reported for 10 hours only.
CREATE TABLE fx.lmp (ts timestamptz, iso text, zone text, pnode_id text, lmp float8, energy float8, congestion float8, loss float8);
INSERT INTO fx.lmp (ts, iso, zone, pnode_id, energy, congestion, loss)
SELECT t, iso, zone, node,
       CASE zone WHEN 'B' THEN 30 + 25 * sin(h / 3.0) ELSE 30 + (zone = 'C')::int * 2 END,
       CASE zone WHEN 'A' THEN (CASE WHEN extract(isodow FROM t) <= 5 AND extract(hour FROM t) BETWEEN 7 AND 22 THEN 20 ELSE 1 END)
                               * CASE node WHEN 'a2' THEN 0.5 ELSE 1 END
                 WHEN 'B' THEN 0.5 ELSE 1 END,
       CASE zone WHEN 'B' THEN 2 ELSE 0.5 END
  FROM generate_series(0, 335) h, LATERAL (SELECT timestamptz '2024-06-03 00:00+00' + h * interval '1 hour') x(t),
       (VALUES ('X', 'A', 'a1'), ('X', 'A', 'a2'), ('X', 'B', 'b1'), ('X', 'B', 'b2'), ('X', 'C', 'c1'), ('X', 'C', 'c2'),
               ('Y', 'Q', 'q1')) n(iso, zone, node)
 UNION ALL
SELECT timestamptz '2024-06-03 00:00+00' + h * interval '1 hour', 'X', 'C', 'c9', 31, 40, 0.5
  FROM generate_series(0, 9) h;
UPDATE fx.lmp SET lmp = energy + congestion + loss;
SELECT iso, zone, hours, round(transmission_score::numeric, 3) AS transmission, round(generation_score::numeric, 3) AS generation,
       classification
  FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso') ORDER BY 1, 2;
-- Metrics equal plain SQL over the same rows.
SELECT count(*) AS metric_mismatches
  FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso') z
  JOIN (SELECT iso, zone, avg(abs(congestion)) / avg(abs(lmp)) AS ratio, avg((abs(congestion) > 5)::int) AS share,
               stddev_pop(congestion) AS vol, avg(abs(loss)) / avg(abs(lmp)) AS loss_ratio
          FROM fx.lmp GROUP BY 1, 2) p USING (iso, zone)
 WHERE abs(z.congestion_ratio - p.ratio) > 1e-9 OR abs(z.congested_share - p.share) > 1e-9
    OR abs(z.congestion_volatility - p.vol) > 1e-9 OR abs(z.loss_ratio - p.loss_ratio) > 1e-9;
-- Without an ISO column every zone is compared with every other.
SELECT zone, classification FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00') ORDER BY 1;
SELECT zone, hour_local, round(avg_congestion::numeric, 3) AS avg, max_abs_congestion AS max_abs, hours
  FROM gridkit.congestion_zone_stats('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', iso_column => 'iso')
 WHERE zone = 'A' AND hour_local IN (3, 12) ORDER BY 2;
SELECT zone, pnode, hours, round(severity_score::numeric, 3) AS severity, tier
  FROM gridkit.pnode_severity('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00') ORDER BY 1, 2;
SELECT count(*) AS rows_in_empty_window FROM gridkit.zone_classify('fx.lmp', '2020-01-01 00:00+00', '2020-01-02 00:00+00');

SELECT * FROM gridkit.zone_classify('fx.lmp', '2024-07-01 00:00+00', '2024-06-01 00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', lmp_column => 'price');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', threshold => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.zone_classify('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', timezone => 'Mars/Base');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.pnode_severity('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', min_hours => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.pnode_severity('fx.lmp', '2024-06-01 00:00+00', '2024-07-01 00:00+00', zone_column => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gridkit.congestion_zone_stats('fx.lmp', '2024-06-01 00:00+00', 'infinity');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE fx.lmp;
