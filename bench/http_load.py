"""gridkit-server under load, against the bare SQL it wraps.

On one database (demo data, by default at scale 1000), with wrk on loopback:
- cached tiles: a fixed set of clustered pnodes tiles (z0-z9), warmed once,
  then requested at random by 64 connections (gzip accepted);
- uncached tiles: a server with its tile cache off, random tiles from a
  larger set over the data at z0-z9, 16 connections;
- the same uncached tiles as a bare `SELECT grid_tile(...)` loop in pgbench
  with 16 clients (what the HTTP layer costs is the difference).
Prints requests/s and latency percentiles for each, and the ratios.

Usage: bench/http_load.py DSN   (a superuser DSN; needs wrk and pgbench)
"""

import math
import os
import pathlib
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[1]
DURATION = int(os.environ.get("BENCH_HTTP_SECONDS", "15"))
LAYER = "pnodes"

WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("GRIDKIT_PATHS")) do paths[#paths + 1] = line end
local seeded = false
request = function()
  if not seeded then math.randomseed(os.time() + math.floor(os.clock() * 1e6)); seeded = true end
  return wrk.format("GET", paths[math.random(#paths)], {["Accept-Encoding"] = "gzip"})
end
"""


def tiles_over(extent, zooms, per_zoom, rng):
    west, south, east, north = extent
    out = []
    for z in zooms:
        n = 2**z

        def tx(lon):
            return min(n - 1, max(0, int((lon + 180) / 360 * n)))

        def ty(lat):
            r = math.radians(lat)
            return min(n - 1, max(0, int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))

        xs, ys = range(tx(west), tx(east) + 1), range(ty(north), ty(south) + 1)
        cells = [(z, x, y) for x in xs for y in ys]
        out += rng.sample(cells, min(per_zoom, len(cells)))
    return out


def free_port():
    """A port nothing holds now, picked by the kernel: fixed ports in the
    ephemeral range (32768-60999) can be taken by any outgoing connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(dsn_info, cache_mb):
    """gridkit-server (release) on a free port; returns (process, port)."""
    port = free_port()
    env = {**os.environ,
           "DATABASE_URL": f"host={dsn_info.host} port={dsn_info.port} user=gridkit_web dbname={dsn_info.dbname}",
           "GRIDKIT_CACHE_MB": str(cache_mb), "GRIDKIT_POOL_SIZE": "16", "GRIDKIT_WEB_DIR": str(ROOT / "web"),
           "RUST_LOG": "warn"}
    proc = subprocess.Popen([str(ROOT / "target/release/gridkit-server"), "--listen", f"127.0.0.1:{port}"], env=env)
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit(f"gridkit-server exited with {proc.returncode} (port {port})")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gridkit-server did not start")


def wrk(port, paths_file, connections):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{DURATION}s", "--latency", "-s", f.name,
                          f"http://127.0.0.1:{port}"], env={**os.environ, "GRIDKIT_PATHS": str(paths_file)},
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else "none"}


def pgbench(dsn_info, n_tiles, clients):
    script = ("\\set i random(1, %d)\n"
              "SELECT grid_tile('%s', z, x, y) FROM bench_http_tiles WHERE i = :i;\n") % (n_tiles, LAYER)
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "tile.sql"
        path.write_text(script)
        os.chmod(d, 0o777)
        out = subprocess.run(["pgbench", "-n", "-h", dsn_info.host, "-p", str(dsn_info.port), "-U", "postgres",
                              "-c", str(clients), "-j", "2", "-T", str(DURATION), "-l", "--log-prefix",
                              f"{d}/log", "-f", str(path), dsn_info.dbname],
                             capture_output=True, text=True, check=True, cwd=d).stdout
        latencies = []
        for log in pathlib.Path(d).glob("log*"):
            for line in log.read_text().splitlines():
                latencies.append(int(line.split()[2]) / 1000.0)
    latencies.sort()
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    return {"rps": tps, "p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * 0.99)],
            "non2xx": 0, "socket_errors": "none"}


def main():
    dsn = sys.argv[1]
    db = psycopg.connect(dsn, autocommit=True)
    db.execute("SELECT gridkit.api_grant('gridkit_web', create_role => true, login => true)")
    # The cluster pyramids, as a deployment keeps them (pg_cron).
    db.execute("SELECT * FROM gridkit.refresh_stale()")
    db.execute("VACUUM ANALYZE")
    points = db.execute(f"SELECT count(*) FROM demo.{LAYER}").fetchone()[0]
    extent = db.execute(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM demo.{LAYER}) s").fetchone()
    rng = random.Random(42)
    cached_set = tiles_over(extent, range(10), 50, rng)
    uncached_set = tiles_over(extent, range(10), 400, rng)
    db.execute("DROP TABLE IF EXISTS bench_http_tiles")
    db.execute("CREATE TABLE bench_http_tiles (i int PRIMARY KEY, z int, x int, y int)")
    with db.cursor().copy("COPY bench_http_tiles FROM STDIN") as cp:
        for i, t in enumerate(uncached_set, 1):
            cp.write_row((i, *t))
    db.execute("ANALYZE bench_http_tiles")
    work = pathlib.Path(tempfile.mkdtemp())
    (work / "cached.txt").write_text("".join(f"/tiles/{LAYER}/{z}/{x}/{y}.mvt\n" for z, x, y in cached_set))
    (work / "uncached.txt").write_text("".join(f"/tiles/{LAYER}/{z}/{x}/{y}.mvt\n" for z, x, y in uncached_set))

    results = {}
    cached, cached_port = start_server(db.info, 256)
    uncached, uncached_port = start_server(db.info, 0)
    try:
        for p in (work / "cached.txt").read_text().split():
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{cached_port}{p}",
                                                          headers={"Accept-Encoding": "gzip"})).read()
        results["HTTP, cached tiles (64 connections)"] = wrk(cached_port, work / "cached.txt", 64)
        results["HTTP, uncached tiles (16 connections)"] = wrk(uncached_port, work / "uncached.txt", 16)
        results["SQL loop: grid_tile in pgbench (16 clients)"] = pgbench(db.info, len(uncached_set), 16)
    finally:
        for proc in (cached, uncached):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    db.execute("DROP TABLE bench_http_tiles")

    print(f"\n### HTTP: `{LAYER}` ({points} points, clustered to z9), {DURATION} s each, wrk -t2 on loopback\n")
    print(f"{len(cached_set)} cached tiles, {len(uncached_set)} uncached tiles (z0-z9 over the data's extent).\n")
    print("| load | requests/s | p50 ms | p99 ms | non-2xx | socket errors |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['non2xx']} | {r['socket_errors']} |")
    c, u, s = results.values()
    print(f"\nuncached HTTP / SQL loop: {u['rps'] / s['rps']:.2f}x the throughput; "
          f"cached / uncached HTTP: {c['rps'] / u['rps']:.1f}x")


if __name__ == "__main__":
    main()
