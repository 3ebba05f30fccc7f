-- The demo data set: checked with PostGIS's own functions.
\set VERBOSITY default
SELECT * FROM gridkit.demo_generate(0.5, 7);
SELECT name, source, geometry_type, srid, attributes FROM gridkit.layers WHERE source::text LIKE 'demo.%' ORDER BY name;

-- Zones and ISOs are valid, and the zones of an ISO cover it exactly: their
-- areas add up to the ISO's and their union equals it.
SELECT count(*) FILTER (WHERE NOT ST_IsValid(geom)) AS invalid_zones, min(ST_NPoints(geom)) >= 600 AS detailed FROM demo.zones;
SELECT count(*) FILTER (WHERE NOT ST_IsValid(geom)) AS invalid_isos FROM demo.isos;
SELECT i.iso_id,
       abs(ST_Area(i.geom) - sum(ST_Area(z.geom))) < 1e-9 * ST_Area(i.geom) AS areas_add_up,
       ST_Area(ST_SymDifference(i.geom, ST_Union(z.geom))) < 1e-6 * ST_Area(i.geom) AS union_is_iso
  FROM demo.isos i JOIN demo.zones z USING (iso_id)
 GROUP BY i.iso_id, i.geom ORDER BY i.iso_id;
-- Neighbouring zones share borders: no two zones overlap.
SELECT count(*) AS overlapping_pairs
  FROM demo.zones a JOIN demo.zones b ON a.id < b.id AND a.geom && b.geom
 WHERE ST_Relate(a.geom, b.geom, '2********');

-- Points lie in the zone they name; pricing nodes always in an ISO.
SELECT count(*) FILTER (WHERE NOT ST_Contains(z.geom, p.geom)) AS pnodes_outside_zone,
       count(*) FILTER (WHERE p.iso_id <> z.iso_id) AS wrong_iso
  FROM demo.pnodes p JOIN demo.zones z ON z.id = p.zone_id;
SELECT count(*) FILTER (WHERE NOT ST_Contains(z.geom, d.geom)) AS data_centers_outside_zone
  FROM demo.data_centers d JOIN demo.zones z ON z.id = d.zone_id;
SELECT tier, min(severity_score), max(severity_score) FROM demo.pnodes GROUP BY tier ORDER BY min(severity_score);
SELECT DISTINCT voltage_kv FROM demo.transmission_lines ORDER BY 1;
-- Lines start and end at their substations.
SELECT count(*) AS detached_lines
  FROM demo.transmission_lines l
  JOIN demo.substations a ON a.id = l.from_substation
  JOIN demo.substations b ON b.id = l.to_substation
 WHERE NOT (ST_Equals(ST_StartPoint(l.geom), a.geom) AND ST_Equals(ST_EndPoint(l.geom), b.geom));

-- Deterministic for a seed.
CREATE TEMP TABLE fingerprint AS
SELECT (SELECT md5(string_agg(id || ST_AsText(geom) || tier, ',' ORDER BY id)) FROM demo.pnodes) AS pnodes,
       (SELECT md5(string_agg(ST_AsBinary(geom)::text, ',' ORDER BY id)) FROM demo.zones) AS zones;
SELECT count(*) FROM gridkit.demo_generate(0.5, 7);
SELECT (SELECT md5(string_agg(id || ST_AsText(geom) || tier, ',' ORDER BY id)) FROM demo.pnodes) = pnodes AS same_pnodes,
       (SELECT md5(string_agg(ST_AsBinary(geom)::text, ',' ORDER BY id)) FROM demo.zones) = zones AS same_zones
  FROM fingerprint;

-- The headline tile.
SELECT length(grid_tile('pnodes', 5, 9, 12)) > 0 AS pnodes_tile,
       length(grid_tile(ARRAY['isos', 'zones', 'transmission_lines', 'substations', 'pnodes', 'data_centers'], 4, 4, 6)) > 0 AS map_tile;

-- Bad input, and a demo schema we did not make is never touched.
-- The time series: a year of hourly observations and a week of minutes,
-- ending at the current hour, rolled up (every row counted once in each
-- rollup), latest values per key, retention set.
SELECT name, bucket, timezone, source_rollup, pending_changes FROM gridkit.rollups WHERE "table"::text LIKE 'demo.%' ORDER BY name;
SELECT (SELECT sum(hours) FROM demo.observations_daily_realtime) AS daily_hours,
       (SELECT sum(hours) FROM demo.observations_monthly_realtime) AS monthly_hours,
       (SELECT sum(minutes) FROM demo.safety_hourly_realtime) AS hourly_minutes,
       (SELECT sum(minutes) FROM demo.safety_daily_realtime) AS daily_minutes;
SELECT (SELECT count(*) FROM demo.observations_latest) AS observation_keys,
       (SELECT count(*) FROM demo.safety_minutes_latest) AS intersections,
       (SELECT count(DISTINCT series) FROM demo.observations) AS series;
SELECT relid, keep FROM gridkit.ts_table WHERE keep IS NOT NULL ORDER BY 1;
-- Safety inputs stay in their ranges.
SELECT min(volume) >= 0 AS volume_ok, max(vru_events) <= 2 AS vru_ok, min(avg_speed) > 0 AS speed_ok,
       count(*) FILTER (WHERE volume = 0 AND avg_speed IS NOT NULL) AS speed_without_traffic
  FROM demo.safety_minutes;

SELECT gridkit.demo_generate(0);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.demo_generate(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.demo_generate('NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT gridkit.demo_generate(20000);
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA demo CASCADE;
CREATE SCHEMA demo;
CREATE TABLE demo.precious (id int);
INSERT INTO demo.precious VALUES (1);
SELECT gridkit.demo_generate(0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS precious_rows FROM demo.precious;
