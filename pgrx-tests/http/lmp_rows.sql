-- Two weeks of hourly LMPs from 2024-06-03 for four pricing nodes in three
-- zones of ISO X: zone A congests at peaks (7-22 h), B's energy swings.
-- The HTTP, replica and Citus suites copy these rows into their tables.
DROP TABLE IF EXISTS public.lmp_rows;
CREATE TABLE public.lmp_rows AS
SELECT t AS ts, 'X'::text AS iso, zone, node AS pnode_id,
       0::float8 AS lmp,
       (30 + (zone = 'B')::int * 10 * sin(h / 3.0))::float8 AS energy,
       (CASE WHEN zone = 'A' AND extract(hour FROM t) BETWEEN 7 AND 22 THEN 20 ELSE 1 END)::float8 AS congestion,
       0.5::float8 AS loss
  FROM generate_series(0, 335) h, LATERAL (SELECT timestamptz '2024-06-03 00:00+00' + h * interval '1 hour') x(t),
       (VALUES ('A', 'a1'), ('A', 'a2'), ('B', 'b1'), ('C', 'c1')) n(zone, node);
UPDATE public.lmp_rows SET lmp = energy + congestion + loss;
