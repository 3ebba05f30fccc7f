-- What the replica suite reads besides the demo: a small point layer the
-- tests change on the primary, and two weeks of hourly LMPs in a
-- time-series table with a daily rollup.
CREATE TABLE public.replica_points (id int PRIMARY KEY, val int, label text, geom geometry(Point, 4326));
INSERT INTO public.replica_points SELECT i, i, 'p' || i, ST_SetSRID(ST_MakePoint(-100 + i, 40), 4326)
  FROM generate_series(1, 10) i;
CREATE INDEX ON public.replica_points USING gist (geom);
SELECT gridkit.layer_register('replica_points', 'public.replica_points', attributes => '{val,label}');
-- Another layer, which no test changes.
CREATE TABLE public.replica_still (id int PRIMARY KEY, geom geometry(Point, 4326));
INSERT INTO public.replica_still SELECT i, ST_SetSRID(ST_MakePoint(-90 + i, 35), 4326) FROM generate_series(1, 5) i;
SELECT gridkit.layer_register('replica_still', 'public.replica_still');
-- A table unrelated to any layer, written to make WAL.
CREATE TABLE public.replica_noise (n int);

CREATE TABLE public.replica_lmp (ts timestamptz NOT NULL, iso text, zone text, pnode_id text, lmp float8,
                                 energy float8, congestion float8, loss float8) PARTITION BY RANGE (ts);
SELECT gridkit.ts_create('public.replica_lmp', 'ts', '7 days', premake => 0);
-- public.lmp_rows: pgrx-tests/http/lmp_rows.sql, run first.
INSERT INTO public.replica_lmp SELECT * FROM public.lmp_rows;
SELECT gridkit.rollup_create('replica_lmp_daily', 'public.replica_lmp', 'ts', '1 day', ARRAY['pnode_id'],
       '{"avg": "avg(lmp)", "lo": "min(lmp)", "hi": "max(lmp)", "rows": "count(*)"}');
SELECT gridkit.rollup_refresh('replica_lmp_daily');
SELECT gridkit.latest_enable('public.replica_lmp', '{pnode_id}');
