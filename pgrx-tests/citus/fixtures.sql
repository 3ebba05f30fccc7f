-- Citus copies of demo tables, made the way users make them: distributed
-- (by id) or reference tables, then filled.
CREATE TABLE public.dc (LIKE demo.data_centers INCLUDING ALL);
SELECT create_distributed_table('public.dc', 'id');
INSERT INTO public.dc SELECT * FROM demo.data_centers;

CREATE TABLE public.pn (LIKE demo.pnodes INCLUDING ALL);
SELECT create_distributed_table('public.pn', 'id', shard_count => 8);
INSERT INTO public.pn SELECT * FROM demo.pnodes;

CREATE TABLE public.zones_ref (LIKE demo.zones INCLUDING ALL);
SELECT create_reference_table('public.zones_ref');
INSERT INTO public.zones_ref SELECT * FROM demo.zones;

CREATE TABLE public.lines_dist (LIKE demo.transmission_lines INCLUDING ALL);
SELECT create_distributed_table('public.lines_dist', 'id');
INSERT INTO public.lines_dist SELECT * FROM demo.transmission_lines;

-- A view over a distributed table.
CREATE VIEW public.dc_operating AS SELECT * FROM public.dc WHERE status = 'operating';
CREATE VIEW public.dc_operating_local AS SELECT * FROM demo.data_centers WHERE status = 'operating';

-- Filled before it was distributed: its rows stay in the coordinator's own
-- heap ("still on disk"), which no read may ever look at.
CREATE TABLE public.moved (LIKE demo.data_centers INCLUDING ALL);
INSERT INTO public.moved SELECT * FROM demo.data_centers;
SELECT create_distributed_table('public.moved', 'id');

-- Two weeks of hourly LMPs (zone A congests at weekday peaks), as a local
-- time-series table and as one distributed by pricing node.
CREATE TABLE public.lmp_local (ts timestamptz NOT NULL, iso text, zone text, pnode_id text NOT NULL, lmp float8,
                               energy float8, congestion float8, loss float8) PARTITION BY RANGE (ts);
CREATE TABLE public.lmp_dist (LIKE public.lmp_local) PARTITION BY RANGE (ts);
SELECT create_distributed_table('public.lmp_dist', 'pnode_id');
-- Their rows: public.lmp_rows (pgrx-tests/http/lmp_rows.sql, run first).
