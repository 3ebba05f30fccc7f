"""Instructions per tile, gridkit against the PostGIS SQL, counted by
callgrind in a single-user backend: for small tiles, where a millisecond
clock measures the machine's scheduler more than either query.

    bench/instructions.py register DSN        registers the *_raw layers
    bench/instructions.py count DATADIR DB    counts (the cluster stopped)

Each query is prepared (as a tile server would) and executed for every tile
REPS times after one warm-up round; a second backend runs only the warm-up,
and the difference divided by the executions is the cost of one tile,
start-up and catalog caches left out. Both queries run in the same backend
kind on the same data; the counts repeat exactly from run to run."""

import os
import re
import subprocess
import sys
import tempfile

import psycopg

sys.path.insert(0, os.path.dirname(__file__))
from tiles import METROS, baseline_sql, lonlat_box, tile_of  # noqa: E402

LAYERS = {
    "pnodes_raw": ("demo.pnodes", "{name,iso_id,zone_id,node_type,severity_score,tier}"),
    "data_centers_raw": ("demo.data_centers", "{name,operator,capacity_mw,status,iso_id}"),
    "transmission_lines_raw": ("demo.transmission_lines", "{voltage_kv,circuits,length_km,owner,iso_id}"),
}
ZOOMS = [8, 10, 12, 14]
REPS = 40


def register(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        for layer, (source, attrs) in LAYERS.items():
            conn.execute("SELECT gridkit.layer_register(%s, %s::regclass, attributes => %s::text[], "
                         "options => '{\"simplify\": {\"tolerance_px\": 0}}')", (layer, source, attrs))
        # The baseline's text, with psycopg's %(name)s turned into $n.
        with open(os.path.join(tempfile.gettempdir(), "gridkit_baselines.txt"), "w") as f:
            for layer in LAYERS:
                sql = baseline_sql(conn, layer)
                for i, name in enumerate(["z", "x", "y", "w", "s", "e", "n"], 1):
                    sql = sql.replace(f"%({name})s", f"${i}")
                f.write(f"{layer}\t{sql}\n")


def instructions(datadir, db, lines):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(f.name, 0o644)
    out = tempfile.mktemp(suffix=".callgrind")
    bindir = subprocess.run([os.environ.get("PG_CONFIG", "pg_config"), "--bindir"], capture_output=True,
                            text=True, check=True).stdout.strip()
    with open(f.name) as stdin:
        r = subprocess.run(["sudo", "-u", "postgres", "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            f"{bindir}/postgres", "--single", "-D", datadir, db],
                           stdin=stdin, capture_output=True, text=True)
    os.unlink(f.name)
    if "ERROR" in r.stdout + r.stderr:
        sys.exit(f"a statement failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    m = re.search(r"I\s+refs:\s+([\d,]+)", r.stderr)
    subprocess.run(["sudo", "rm", "-f", out])
    return int(m.group(1).replace(",", ""))


def count(datadir, db):
    baselines = dict(line.rstrip("\n").split("\t", 1)
                     for line in open(os.path.join(tempfile.gettempdir(), "gridkit_baselines.txt")))
    # gridkit as it runs, and with its tile query forced (no index read);
    # PostGIS as a prepared statement runs by default (re-planned while
    # custom plans look cheaper), and with generic plans forced (its best).
    variants = {
        "ours": "",
        "ours_query": "SET gridkit.index_read = off",
        "base": "",
        "base_generic": "SET plan_cache_mode = force_generic_plan",
    }
    print("| layer | zoom | tiles | gridkit | gridkit, tile query | PostGIS | PostGIS, generic plan "
          "| ratio | ratio to generic |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for layer in LAYERS:
        for z in ZOOMS:
            tiles = sorted({tile_of(lon, lat, z) for lon, lat in METROS[:5]})
            per_tile = {}
            for who, setting in variants.items():
                ours = who.startswith("ours")
                prepare = (f"PREPARE q(int, int, int) AS SELECT grid_tile('{layer}', $1, $2, $3)" if ours
                           else f"PREPARE q(int, int, int, float8, float8, float8, float8) AS {baselines[layer]}")

                def execute(t):
                    args = list(t) if ours else list(t) + list(lonlat_box(*t))
                    return f"EXECUTE q({', '.join(repr(a) for a in args)})"
                warm = ([setting] if setting else []) + [prepare] + [execute(t) for t in tiles]
                timed = warm + [execute(t) for _ in range(REPS) for t in tiles]
                per_tile[who] = (instructions(datadir, db, timed) - instructions(datadir, db, warm)) / (
                    REPS * len(tiles))
            p = per_tile
            print(f"| {layer} | {z} | {len(tiles)} | {p['ours']:,.0f} | {p['ours_query']:,.0f} | {p['base']:,.0f} "
                  f"| {p['base_generic']:,.0f} | **{p['base'] / p['ours']:.2f}x** "
                  f"| **{p['base_generic'] / p['ours']:.2f}x** |", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "register":
        register(sys.argv[2])
    else:
        count(sys.argv[2], sys.argv[3])
