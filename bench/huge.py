"""One geometry of millions of vertices (issue 24, finding 6): a deep tile
and a low-zoom tile of a single transmission line of 1M to 10M vertices,
grid_tile against the ST_AsMVT SQL a user would write, in one run; and how
soon statement_timeout stops the largest tile.

Usage: huge.py DSN

The line is a random walk over the continental US (a vertex every few
hundred metres, as a surveyed line has), made in SQL from a fixed seed.
"""

import statistics
import sys
import time

import psycopg

from tiles import tile_of

SIZES = [1_000_000, 2_000_000, 5_000_000, 10_000_000]
REPS = 3

BASELINE_SQL = """
SELECT ST_AsMVT(q, 'huge', 4096, 'geom', 'id') FROM (
  SELECT id, ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
    FROM bench_huge.line_{n}
   WHERE geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4326)
) q WHERE geom IS NOT NULL"""


def make_line(conn, n):
    conn.execute(f"""
        CREATE TABLE IF NOT EXISTS bench_huge.line_{n} AS
        SELECT 1 AS id, ST_SetSRID(ST_MakeLine(array_agg(ST_MakePoint(x, y) ORDER BY i)), 4326) AS geom
          FROM (SELECT i, -100 + sum(0.003 * cos(a)) OVER w AS x, 38 + sum(0.002 * sin(a)) OVER w AS y
                  FROM (SELECT i, 6.2831853 * random() AS a FROM generate_series(1, {n}) i) s
                WINDOW w AS (ORDER BY i)) p""")
    conn.execute(f"CREATE INDEX IF NOT EXISTS line_{n}_geom ON bench_huge.line_{n} USING gist (geom)")
    conn.execute("SELECT gridkit.layer_register(%s, %s::regclass)", (f"huge_{n}", f"bench_huge.line_{n}"))


def timed(conn, sql, params):
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        conn.execute(sql, params).fetchone()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main(dsn):
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SELECT setseed(0.42)")
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench_huge")
    print("| vertices | tile | gridkit ms | PostGIS ms | ratio |")
    print("|---:|---|---:|---:|---:|")
    for n in SIZES:
        make_line(conn, n)
        start = conn.execute(f"SELECT ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)) FROM bench_huge.line_{n}").fetchone()
        for z in (5, 14):
            z, x, y = tile_of(start[0], start[1], z)
            params = {"z": z, "x": x, "y": y}
            ours = timed(conn, "SELECT grid_tile(%s, %s, %s, %s)", (f"huge_{n}", z, x, y))
            theirs = timed(conn, BASELINE_SQL.format(n=n), params)
            print(f"| {n:,} | {z}/{x}/{y} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.1f}x |")
    n = SIZES[-1]
    start = conn.execute(f"SELECT ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)) FROM bench_huge.line_{n}").fetchone()
    print()
    print("| statement_timeout | tile | stopped after ms | error |")
    print("|---:|---|---:|---|")
    for z in (0, 5):
        z, x, y = tile_of(start[0], start[1], z)
        conn.execute("SET statement_timeout = '100ms'")
        t = time.perf_counter()
        try:
            conn.execute("SELECT grid_tile(%s, %s, %s, %s)", (f"huge_{n}", z, x, y)).fetchone()
            error = "none (finished)"
        except psycopg.errors.QueryCanceled as e:
            error = e.sqlstate
        elapsed = (time.perf_counter() - t) * 1e3
        conn.execute("RESET statement_timeout")
        print(f"| 100 ms | {z}/{x}/{y} | {elapsed:.0f} | {error} |")
    for n in SIZES:
        conn.execute("SELECT gridkit.layer_drop(%s)", (f"huge_{n}",))
    conn.execute("DROP SCHEMA bench_huge CASCADE")


if __name__ == "__main__":
    main(sys.argv[1])
