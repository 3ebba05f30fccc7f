"""Clustered point tiles: gridkit's pyramid against what users write without
it (snap-to-grid GROUP BY, ST_ClusterDBSCAN) and against supercluster, the
in-memory JavaScript library, on the same points and tiles, in one run.

Usage: cluster.py DSN

Prints Markdown tables: pyramid build, per-zoom tile times (p50, p99),
on-the-fly filtered clustering, and clusters per tile against supercluster.
"""

import json
import os
import pathlib
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import psycopg

from tiles import METROS, backend_peak_kb, lonlat_box, pct, tile_of, tiles_for, timed

HERE = pathlib.Path(__file__).parent
LAYER, TABLE = "data_centers", "demo.data_centers"
RADIUS, MAX_ZOOM = 40, 9
REPS = 5
HALF = 20037508.342789244


# What the dashboard's owners would write: group points by a grid cell of the
# cluster radius (in Web Mercator), one feature per cell, in ST_AsMVT.
SNAP_SQL = f"""
SELECT ST_AsMVT(q, '{LAYER}', 4096, 'geom') FROM (
  SELECT count(*) AS point_count, sum(capacity_mw) AS capacity_mw,
         ST_AsMVTGeom(ST_Centroid(ST_Collect(m)), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64) AS geom
    FROM (SELECT ST_Transform(geom, 3857) AS m, capacity_mw FROM {TABLE}
           WHERE geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) {{where}}) p
   GROUP BY ST_SnapToGrid(m, %(cell)s)
) q WHERE geom IS NOT NULL"""

# The original plan: DBSCAN with eps = the radius, in every tile query.
DBSCAN_SQL = f"""
SELECT ST_AsMVT(q, '{LAYER}', 4096, 'geom') FROM (
  SELECT count(*) AS point_count, sum(capacity_mw) AS capacity_mw,
         ST_AsMVTGeom(ST_Centroid(ST_Collect(m)), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64) AS geom
    FROM (SELECT m, capacity_mw, ST_ClusterDBSCAN(m, eps := %(cell)s, minpoints := 1) OVER () AS cid
            FROM (SELECT ST_Transform(geom, 3857) AS m, capacity_mw FROM {TABLE}
                   WHERE geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)) p) c
   GROUP BY cid
) q WHERE geom IS NOT NULL"""

OURS_SQL = "SELECT grid_tile(%(layer)s, %(z)s, %(x)s, %(y)s)"
OURS_FILTERED_SQL = "SELECT grid_tile(%(layer)s, %(z)s, %(x)s, %(y)s, %(filter)s::jsonb)"


def params(z, x, y, **extra):
    w, s, e, n = lonlat_box(z, x, y)
    cell = 2 * HALF / 2**z * RADIUS / 512
    return {"layer": LAYER, "z": z, "x": x, "y": y, "w": w, "s": s, "e": e, "n": n, "cell": cell, **extra}


def count_inside(data):
    """Features in the tile proper, and the points they stand for."""
    import mapbox_vector_tile

    if not data:
        return 0, 0, 0
    fs = mapbox_vector_tile.decode(data).get(LAYER, {}).get("features", [])
    features = clusters = points = 0
    for f in fs:
        x, y = f["geometry"]["coordinates"]
        if 0 <= x < 4096 and 0 <= y < 4096:
            features += 1
            clusters += bool(f["properties"].get("cluster"))
            points += f["properties"].get("point_count", 1)
    return features, clusters, points


def build(dsn):
    rows = []
    for layer in ("data_centers", "pnodes"):
        times, peaks = [], []
        for _ in range(3):
            with psycopg.connect(dsn, autocommit=True) as c:
                before = backend_peak_kb(c)
                t0 = time.perf_counter()
                n = c.execute("SELECT gridkit.cluster_refresh(%s)", (layer,)).fetchone()[0]
                times.append((time.perf_counter() - t0) * 1000)
                peaks.append(backend_peak_kb(c) - before)
        rows.append((layer, n, statistics.median(times), max(peaks)))
    return rows


def supercluster(conn, tiles):
    pts = conn.execute(f"SELECT ST_X(geom), ST_Y(geom) FROM {TABLE} ORDER BY id").fetchall()
    with tempfile.TemporaryDirectory() as tmp:
        pf, tf = pathlib.Path(tmp, "points.f64"), pathlib.Path(tmp, "tiles.json")
        pf.write_bytes(b"".join(struct.pack("<dd", lon, lat) for lon, lat in pts))
        tf.write_text(json.dumps(tiles))
        out = subprocess.run(["node", str(HERE / "supercluster" / "bench.mjs"), str(pf), str(tf), str(RADIUS),
                              str(MAX_ZOOM), str(REPS)], check=True, stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(out)
    result["by_tile"] = {(t["z"], t["x"], t["y"]): t for t in result["tiles"]}
    return result


def main():
    dsn = sys.argv[1]
    conn = psycopg.connect(dsn, autocommit=True)
    npoints = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    all_tiles = [t for z in range(MAX_ZOOM + 1) for t in tiles_for(z)]
    sc = supercluster(conn, all_tiles)

    print(f"### Pyramid build ({npoints} points in {TABLE})\n")
    print("| layer | points | gridkit cluster_refresh ms (median of 3) | backend peak memory MB "
          "| supercluster load ms | node peak memory MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for layer, n, ms, peak in build(dsn):
        peer = f"{sc['build_ms']:.0f} | {sc['max_rss_kb'] / 1024:.0f}" if layer == LAYER else "– | –"
        print(f"| {layer} | {n} | {ms:.0f} | {peak / 1024:.0f} | {peer} |", flush=True)

    print("\n### Clustered tiles, zoom 0–9\n")
    print("| zoom | tiles | gridkit p50 ms | gridkit p99 ms | snap-to-grid p50 ms | ST_ClusterDBSCAN ms "
          "| supercluster p50 ms | gridkit vs snap-to-grid | features/tile gridkit | features/tile supercluster "
          "| clusters/tile gridkit | clusters/tile supercluster |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    conn.execute("SET statement_timeout = '120s'")
    for z in range(MAX_ZOOM + 1):
        tiles = tiles_for(z)
        ours, feats, clus, sc_feats, sc_clus, sc_times = [], [], [], [], [], []
        for t in tiles:
            p = params(*t)
            _, data = timed(conn, OURS_SQL, p)
            f, c, pts = count_inside(data)
            feats.append(f)
            clus.append(c)
            s = sc["by_tile"][t]
            sc_feats.append(s["features"])
            sc_clus.append(s["clusters"])
            sc_times += s["times"]
            for _ in range(REPS):
                ours.append(timed(conn, OURS_SQL, p)[0])
        # The baselines take up to seconds per tile: the metro tiles only, once each.
        metro = sorted({tile_of(lon, lat, z) for lon, lat in METROS})
        snap = [timed(conn, SNAP_SQL.format(where=""), params(*t))[0] for t in metro]
        dbscan = "–"
        if z in (0, 3, 6, 9):
            t = tile_of(*METROS[0], z)
            p = params(*t)
            n = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE geom && "
                             "ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)", p).fetchone()[0]
            # DBSCAN runs inside GEOS and does not heed statement_timeout:
            # past 100K points it runs for hours. Say so instead.
            if n > 100_000:
                dbscan = f"not run ({n} points)"
            else:
                dbscan = f"{timed(conn, DBSCAN_SQL, p)[0]:.0f} ({n} points)"
        o50, s50 = statistics.median(ours), statistics.median(snap)
        print(f"| {z} | {len(tiles)} | {o50:.2f} | {pct(ours, 0.99):.2f} | {s50:.1f} | {dbscan} "
              f"| {statistics.median(sc_times):.3f} | **{s50 / o50:.0f}x** | {statistics.mean(feats):.1f} "
              f"| {statistics.mean(sc_feats):.1f} | {statistics.mean(clus):.1f} | {statistics.mean(sc_clus):.1f} |",
              flush=True)

    print("\n### Filtered tiles clustered on the fly (zoom 5)\n")
    print("| tile | filter | points in tile | gridkit p50 ms | snap-to-grid p50 ms | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    statuses = [r[0] for r in conn.execute(f"SELECT DISTINCT status FROM {TABLE} ORDER BY 1")]
    # The densest metro tile (Washington/Ashburn) with the two commonest
    # statuses, then tiles and filters with fewer points.
    cases = [((-77.49, 39.04), [s for s in statuses if s != "planned"]),
             ((-77.49, 39.04), ["planned"]),
             ((-87.63, 41.88), [s for s in statuses if s != "planned"]),
             ((-96.8, 32.78), [s for s in statuses if s != "planned"])]
    for (lon, lat), keep in cases:
        t = tile_of(lon, lat, 5)
        filt = json.dumps({"status": keep})
        where = "AND status = ANY(%(statuses)s)"
        p = params(*t, filter=filt, statuses=keep)
        n = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) "
                         f"{where}", p).fetchone()[0]
        timed(conn, OURS_FILTERED_SQL, p)
        # Three times the repetitions: tens of milliseconds swing more
        # with this machine's load than sub-millisecond tiles do.
        ours = [timed(conn, OURS_FILTERED_SQL, p)[0] for _ in range(3 * REPS)]
        snap = [timed(conn, SNAP_SQL.format(where=where), p)[0] for _ in range(3)]
        print(f"| {t[0]}/{t[1]}/{t[2]} | `{filt}` | {n} | {statistics.median(ours):.1f} | {statistics.median(snap):.1f} "
              f"| **{statistics.median(snap) / statistics.median(ours):.1f}x** |", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
