"""grid_tile against ST_AsMVT(ST_AsMVTGeom(...)), same data, same tiles, same run.

Usage: tiles.py SCALE=DSN [SCALE=DSN ...]

For each layer and zoom, the tiles over a fixed list of metro areas are
fetched by both queries, interleaved, REPS times each after one warm-up, one
statement per tile as a tile server sends them (both prepared; PostgreSQL
plans the baseline for each tile, as it would in production). Times are
client round trips over the Unix socket. Prints one Markdown table row per
case; p50/p95 are over all fetches.

Both sides do the same work: gridkit's tile budget is lifted (the default
500 kB would make large tiles cheaper still, by dropping features), and the
baseline's bounding box is the exact lon/lat box of the tile plus buffer. The
form usually written, ``ST_Transform(ST_TileEnvelope(z, x, y, margin => m),
4326)``, wraps across the antimeridian for tiles on the west edge of the map
and misses their features.
"""

import math
import pathlib
import statistics
import sys
import time

import mapbox_vector_tile
import psycopg

REPS = 7
US = (-125, 24, -66, 50)
METROS = [(-87.63, 41.88), (-75.16, 39.95), (-77.49, 39.04), (-96.8, 32.78), (-95.37, 29.76),
          (-118.24, 34.05), (-122.27, 37.8), (-93.27, 44.98), (-97.52, 35.47), (-90.2, 38.63)]
CASES = [
    ("pnodes_raw", "points", [0, 2, 4, 6, 8, 10, 12, 14]),
    ("data_centers_raw", "points", [0, 2, 4, 6, 8, 10, 12, 14]),
    ("transmission_lines_raw", "lines", [0, 2, 4, 6, 8, 10, 12, 14]),
    ("zones_raw", "polygons", [0, 2, 4, 6, 8, 10, 12]),
]


def tile_of(lon, lat, z):
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, min(x, n - 1), min(y, n - 1)


def lonlat_box(z, x, y, margin=64 / 4096):
    """The tile plus buffer in degrees: exact, since Mercator is separable."""
    n = 2**z

    def lon(tx):
        return tx / n * 360 - 180

    def lat(ty):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))

    return lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin)


# Shared by cluster.py and lines.py.
def tiles_for(z):
    """Every tile over the United States up to zoom 4; deeper, the tiles
    around ten metro areas with their neighbours."""
    if z <= 4:
        _, x0, y0 = tile_of(US[0], US[3], z)
        _, x1, y1 = tile_of(US[2], US[1], z)
        return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    out = set()
    for lon, lat in METROS:
        _, x, y = tile_of(lon, lat, z)
        out |= {(z, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    return sorted(out)


def timed(conn, sql, p):
    t0 = time.perf_counter()
    row = conn.execute(sql, p, prepare=True).fetchone()
    return (time.perf_counter() - t0) * 1000, bytes(row[0] or b"")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def backend_peak_kb(conn):
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def baseline_sql(conn, layer):
    """What a user writes with PostGIS: the GiST-indexed && filter on the
    buffered tile, ST_AsMVTGeom, ST_AsMVT."""
    src, geom, idcol, attrs, srid = conn.execute(
        "SELECT source::text, geom_column, id_column, attributes, srid FROM gridkit.layer WHERE name = %s", (layer,)
    ).fetchone()
    cols = "".join(f'"{a}", ' for a in attrs)
    return (
        f"SELECT ST_AsMVT(q, '{layer}', 4096, 'geom', 'id') FROM ("
        f' SELECT "{idcol}" AS id, {cols}'
        f'  ST_AsMVTGeom(ST_Transform("{geom}", 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom'
        f" FROM {src}"
        f' WHERE "{geom}" && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, {srid})'
        f") q WHERE geom IS NOT NULL"
    )


def fetch(conn, sql, params):
    return bytes(conn.execute(sql, params, prepare=True).fetchone()[0] or b"")


def timed_ms(conn, sql, params):
    t0 = time.perf_counter()
    conn.execute(sql, params, prepare=True).fetchone()
    return (time.perf_counter() - t0) * 1000


def features(data, layer):
    return len(mapbox_vector_tile.decode(data).get(layer, {}).get("features", [])) if data else 0


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)]


def main():
    print("| scale | layer | kind | zoom | tiles | gridkit p50 ms | gridkit p95 ms | PostGIS p50 ms | PostGIS p95 ms "
          "| p50 ratio | gridkit KB | PostGIS KB | features gridkit / PostGIS |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for arg in sys.argv[1:]:
        scale, dsn = arg.split("=", 1)
        conn = psycopg.connect(dsn, autocommit=True)
        # The demo clusters its point layers at low zoom (see cluster.py),
        # filters lines by voltage and generalizes lines and zones (see
        # lines.py); these compare the encoder on every feature at every
        # zoom, lines at its own half-unit tolerance.
        for layer, attrs in [("pnodes", "{name,iso_id,zone_id,node_type,severity_score,tier}"),
                             ("data_centers", "{name,operator,capacity_mw,status,iso_id}"),
                             ("transmission_lines", "{voltage_kv,circuits,length_km,owner,iso_id}"),
                             ("zones", "{zone_code,iso_id,congestion_level}")]:
            conn.execute("SELECT gridkit.layer_register(%s, %s::regclass, attributes => %s::text[], "
                         "options => '{\"simplify\": {\"tolerance_px\": 0}}')",
                         (f"{layer}_raw", f"demo.{layer}", attrs))
        conn.execute("SET gridkit.max_features = 10000000")
        conn.execute("SET gridkit.max_bytes = '256MB'")
        for layer, kind, zooms in CASES:
            base = baseline_sql(conn, layer)
            ours_sql = "SELECT grid_tile(%(layer)s, %(z)s, %(x)s, %(y)s)"
            for z in zooms:
                tiles = sorted({tile_of(lon, lat, z) for lon, lat in METROS})
                t_ours, t_base, b_ours, b_base, f_ours, f_base = [], [], [], [], 0, 0
                for t in tiles:
                    w, s, e, n = lonlat_box(*t)
                    p = {"layer": layer, "z": t[0], "x": t[1], "y": t[2], "w": w, "s": s, "e": e, "n": n}
                    a, b = fetch(conn, ours_sql, p), fetch(conn, base, p)
                    b_ours.append(len(a))
                    b_base.append(len(b))
                    f_ours += features(a, layer)
                    f_base += features(b, layer)
                    for _ in range(REPS):
                        t_ours.append(timed_ms(conn, ours_sql, p))
                        t_base.append(timed_ms(conn, base, p))
                mo, mb = statistics.median(t_ours), statistics.median(t_base)
                print(f"| {scale} | {layer} | {kind} | {z} | {len(tiles)} | {mo:.2f} | {p95(t_ours):.2f} | {mb:.2f} "
                      f"| {p95(t_base):.2f} | **{mb / mo:.1f}x** | {statistics.mean(b_ours) / 1024:.1f} "
                      f"| {statistics.mean(b_base) / 1024:.1f} | {f_ours} / {f_base} |", flush=True)
        conn.close()


if __name__ == "__main__":
    main()
