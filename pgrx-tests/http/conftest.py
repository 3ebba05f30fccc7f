"""The HTTP suite: gridkit-server against the test cluster's demo database,
driven with the standard library's HTTP client (no decoding done for us),
tiles decoded by mapbox-vector-tile."""

import os
import urllib.parse

import psycopg
import pytest

from serverproc import ROOT, running_server, server_env


@pytest.fixture(scope="session")
def db():
    """A superuser connection to the database the server reads."""
    c = psycopg.connect(os.environ["GRIDKIT_DSN"], autocommit=True)
    c.execute("CREATE EXTENSION IF NOT EXISTS gridkit CASCADE")
    if c.execute("SELECT to_regclass('demo.pnodes') IS NULL").fetchone()[0]:
        c.execute("SELECT gridkit.demo_generate(1, 42)")
    c.execute("SELECT gridkit.api_grant('gridkit_web', create_role => true, login => true)")
    c.execute((ROOT / "pgrx-tests/http/lmp_rows.sql").read_text())
    # A small layer the tests change.
    c.execute("""
        DROP TABLE IF EXISTS public.http_points CASCADE;
        CREATE TABLE public.http_points (id int PRIMARY KEY, val int, label text, geom geometry(Point, 4326));
        INSERT INTO public.http_points SELECT i, i, 'p' || i, ST_SetSRID(ST_MakePoint(-100 + i, 40), 4326)
          FROM generate_series(1, 10) i;
        CREATE INDEX ON public.http_points USING gist (geom);
        SELECT gridkit.layer_register('http_points', 'public.http_points', attributes => '{val,label}',
                                      options => '{"max_age": 7}');
        -- Two weeks of hourly LMPs: zone A congests at weekday peaks.
        DROP TABLE IF EXISTS public.http_lmp CASCADE;
        CREATE TABLE public.http_lmp (ts timestamptz NOT NULL, iso text, zone text, pnode_id text, lmp float8,
                                      energy float8, congestion float8, loss float8) PARTITION BY RANGE (ts);
        SELECT gridkit.ts_create('public.http_lmp', 'ts', '7 days', premake => 0);
        INSERT INTO public.http_lmp SELECT * FROM public.lmp_rows;
        -- A layer whose every read outlasts the statement timeout.
        CREATE OR REPLACE VIEW public.http_slow AS
          SELECT p.id, p.geom FROM public.http_points p CROSS JOIN LATERAL (SELECT pg_sleep(20)) s;
        SELECT gridkit.layer_register('http_slow', 'public.http_slow');
    """)
    yield c
    c.close()


@pytest.fixture(scope="session")
def server(db):
    info = db.info
    with running_server(server_env(info.host, info.port, info.dbname), "http-server.log") as client:
        yield client


def q(s):
    return urllib.parse.quote(s, safe="")
