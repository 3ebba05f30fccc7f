"""Tiles from a streaming replica against the same tiles from its primary,
over HTTP: one gridkit-server on each, same data (the replica replays the
primary), same tile sets, same load, one after the other.

- cached tiles: a fixed set of clustered pnodes tiles (z0-z9), warmed,
  requested at random by 64 connections (gzip accepted);
- uncached tiles: servers with the tile cache off, random tiles from a
  larger set, 16 connections;
- freshness: a row changed on the primary, then the time until each server
  serves the tile with a new ETag (the primary's hears NOTIFY; the
  replica's sees the replay within one --poll-ms), over 20 changes.

Usage: bench/replica.py PRIMARY_DSN STANDBY_DSN   (superuser DSNs; needs wrk)
"""

import pathlib
import random
import signal
import statistics
import sys
import tempfile
import time
import urllib.request

import psycopg

from http_load import DURATION, LAYER, start_server, tiles_over, wrk


def etag(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r:
        r.read()
        return r.headers["ETag"]


def wait_new_etag(port, path, old, seconds=10):
    deadline = time.monotonic() + seconds
    while True:
        tag = etag(port, path)
        if tag != old:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} on port {port} kept its ETag for {seconds} s")
        time.sleep(0.002)


def main():
    primary = psycopg.connect(sys.argv[1], autocommit=True)
    standby = psycopg.connect(sys.argv[2], autocommit=True)
    if not standby.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
        raise SystemExit("the second DSN is not a hot standby")
    primary.execute("SELECT gridkit.api_grant('gridkit_web', create_role => true, login => true)")
    primary.execute("SELECT * FROM gridkit.refresh_stale()")
    primary.execute("VACUUM ANALYZE")
    # A small layer the freshness runs change.
    primary.execute("""
        DROP TABLE IF EXISTS public.bench_fresh CASCADE;
        CREATE TABLE public.bench_fresh (id int PRIMARY KEY, val int, geom geometry(Point, 4326));
        INSERT INTO public.bench_fresh SELECT i, i, ST_SetSRID(ST_MakePoint(-100 + i, 40), 4326)
          FROM generate_series(1, 10) i;
        SELECT gridkit.layer_register('bench_fresh', 'public.bench_fresh', attributes => '{val}');
    """)
    points = primary.execute(f"SELECT count(*) FROM demo.{LAYER}").fetchone()[0]
    extent = primary.execute(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                             f"FROM (SELECT ST_Extent(geom) e FROM demo.{LAYER}) s").fetchone()
    rng = random.Random(42)
    cached_set = tiles_over(extent, range(10), 50, rng)
    uncached_set = tiles_over(extent, range(10), 400, rng)
    work = pathlib.Path(tempfile.mkdtemp())
    (work / "cached.txt").write_text("".join(f"/tiles/{LAYER}/{z}/{x}/{y}.mvt\n" for z, x, y in cached_set))
    (work / "uncached.txt").write_text("".join(f"/tiles/{LAYER}/{z}/{x}/{y}.mvt\n" for z, x, y in uncached_set))
    lsn = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
        time.sleep(0.05)

    # (cached port, uncached port) of each side's two servers
    servers, ports, results, fresh = [], {}, {}, {}
    try:
        for side, conn in (("primary", primary), ("replica", standby)):
            (c, c_port), (u, u_port) = start_server(conn.info, 256), start_server(conn.info, 0)
            servers += [c, u]
            ports[side] = (c_port, u_port)
        for side in ("primary", "replica"):
            c, _ = ports[side]
            for p in (work / "cached.txt").read_text().split():
                urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{c}{p}",
                                                              headers={"Accept-Encoding": "gzip"})).read()
        for side in ("primary", "replica"):
            c, _ = ports[side]
            results[(side, "cached tiles (64 connections)")] = wrk(c, work / "cached.txt", 64)
        for side in ("primary", "replica"):
            _, u = ports[side]
            results[(side, "uncached tiles (16 connections)")] = wrk(u, work / "uncached.txt", 16)
        path = "/tiles/bench_fresh/0/0/0.mvt"
        for side in ("primary", "replica"):
            fresh[side] = []
        for i in range(20):
            old = {side: etag(ports[side][0], path) for side in ("primary", "replica")}
            primary.execute("UPDATE public.bench_fresh SET val = val + 1 WHERE id = %s", [1 + i % 10])
            committed = time.monotonic()
            for side in ("primary", "replica"):
                fresh[side].append(1000 * (wait_new_etag(ports[side][0], path, old[side]) - committed))
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        primary.execute("SELECT gridkit.layer_drop('bench_fresh')")
        primary.execute("DROP TABLE public.bench_fresh")

    print(f"\n### Replica: `{LAYER}` ({points} points, clustered to z9), {DURATION} s each, wrk -t2 on loopback\n")
    print("One gridkit-server on the primary and one on its streaming replica (same machine, 2 cores shared "
          f"by both clusters, both servers and wrk); {len(cached_set)} cached tiles, {len(uncached_set)} uncached.\n")
    print("| load | primary requests/s | replica requests/s | replica / primary | primary p50 / p99 ms "
          "| replica p50 / p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for load in ("cached tiles (64 connections)", "uncached tiles (16 connections)"):
        p, r = results[("primary", load)], results[("replica", load)]
        print(f"| {load} | {p['rps']:.0f} | {r['rps']:.0f} | {r['rps'] / p['rps']:.2f}x | "
              f"{p['p50']:.2f} / {p['p99']:.2f} | {r['p50']:.2f} / {r['p99']:.2f} | {p['non2xx'] + r['non2xx']} |")
    p, r = fresh["primary"], fresh["replica"]
    print("\nFrom a commit on the primary to a new ETag, over 20 changes (ms): "
          f"primary's server (NOTIFY) median {statistics.median(p):.1f}, max {max(p):.1f}; "
          f"replica's server (replay, --poll-ms 250) median {statistics.median(r):.1f}, max {max(r):.1f}.")


if __name__ == "__main__":
    main()
