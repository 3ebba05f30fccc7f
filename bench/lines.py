"""Lines and polygons at low zoom: gridkit's generalized bands against the
SQL a user would write (ST_AsMVT over ST_Simplify for lines,
ST_SimplifyPreserveTopology for zones, with the same zoom rules and the same
pixel tolerance), on the same tiles, in one run.

Usage: lines.py DSN

Prints Markdown tables: generalization build per layer, then per layer and
zoom the tile times (p50, p99; and p50 with the stored low-zoom tiles off),
the largest tile, and features per tile.
"""

import statistics
import sys
import time

import mapbox_vector_tile
import psycopg

from tiles import backend_peak_kb, lonlat_box, pct, tile_of, tiles_for, timed

REPS = 5
WORLD = 40075016.685578488
# The demo's transmission line rules: (max_zoom, voltage at or above).
RULES = [(4, 500), (6, 345), (8, 230), (10, 115)]


def min_kv(z, rules):
    if not rules:
        return 0
    return next((kv for max_z, kv in rules if z <= max_z), 0)


# What a hand-written tile query does: simplify by the same one-pixel
# tolerance in metres, clip, encode; the same voltage rule in WHERE.
LINES_SQL = """
SELECT ST_AsMVT(q, %(layer)s, 4096, 'geom', 'id') FROM (
  SELECT id, voltage_kv, circuits, length_km, owner, iso_id,
         ST_AsMVTGeom(ST_Simplify(ST_Transform(geom, 3857), %(tol)s, true),
                      ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
    FROM demo.transmission_lines
   WHERE geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) AND voltage_kv >= %(kv)s
) q WHERE geom IS NOT NULL"""

ZONES_SQL = """
SELECT ST_AsMVT(q, %(layer)s, 4096, 'geom', 'id') FROM (
  SELECT id, zone_code, iso_id, congestion_level,
         ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_Transform(geom, 3857), %(tol)s),
                      ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
    FROM demo.zones
   WHERE geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
) q WHERE geom IS NOT NULL"""

OURS_SQL = "SELECT grid_tile(%(layer)s, %(z)s, %(x)s, %(y)s)"


def n_features(data, layer):
    if not data:
        return 0
    return len(mapbox_vector_tile.decode(data).get(layer, {}).get("features", []))


def build(dsn):
    print("### Generalization build\n")
    print("| layer | features | source vertices | bands | band rows | band vertices | shared arcs | stored tiles "
          "| generalize_refresh ms | backend peak memory MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for layer in ("transmission_lines", "lines_all", "zones"):
        with psycopg.connect(dsn, autocommit=True) as conn:
            t0 = time.perf_counter()
            conn.execute("SELECT gridkit.generalize_refresh(%s)", (layer,))
            ms = (time.perf_counter() - t0) * 1000
            peak = backend_peak_kb(conn) / 1024
            f, sv, mz, rows, v, arcs, stored_in, tz = conn.execute(
                "SELECT features, source_vertices, max_zoom, rows, vertices, shared_arcs, tiles::text, tiles_max_zoom "
                "FROM gridkit.generalization WHERE layer = %s", (layer,)).fetchone()
            stored = conn.execute(f"SELECT count(*) FROM {stored_in}").fetchone()[0]
        print(f"| {layer} | {f} | {sv} | 0–{mz} | {rows} | {v} | {arcs} | {stored} (z0–{tz}) | {ms:.0f} | {peak:.0f} |")


def tiles(conn, rendered_conn, layer, sql, zooms, rules=None, baseline_layer=None):
    """gridkit as served, gridkit rendered from the bands (stored tiles off,
    on `rendered_conn`) and the baseline, interleaved on the same tiles."""
    for z in zooms:
        ours, rendered, base, ours_kb, base_kb, ours_n, base_n = [], [], [], [], [], [], []
        for t in tiles_for(z):
            w, s, e, n = lonlat_box(*t)
            p = {"layer": layer, "z": t[0], "x": t[1], "y": t[2], "w": w, "s": s, "e": e, "n": n,
                 "tol": WORLD / 512 / 2**z, "kv": min_kv(z, rules)}
            # Warm both, then interleave.
            _, a = timed(conn, OURS_SQL, p)
            _, r = timed(rendered_conn, OURS_SQL, p)
            assert r == a, ("a stored tile differs from the rendered one", layer, t)
            _, b = timed(conn, sql, p)
            ours_kb.append(len(a) / 1024)
            base_kb.append(len(b) / 1024)
            ours_n.append(n_features(a, layer))
            base_n.append(n_features(b, layer))
            for _ in range(REPS):
                ours.append(timed(conn, OURS_SQL, p)[0])
                rendered.append(timed(rendered_conn, OURS_SQL, p)[0])
                base.append(timed(conn, sql, p)[0])
        o50, b50 = statistics.median(ours), statistics.median(base)
        print(f"| {baseline_layer or layer} | {z} | {len(tiles_for(z))} | {o50:.2f} | {pct(ours, 0.99):.2f} "
              f"| {statistics.median(rendered):.2f} "
              f"| {max(ours_kb):.0f} | {b50:.1f} | {pct(base, 0.99):.1f} | {max(base_kb):.0f} | **{b50 / o50:.0f}x** "
              f"| {statistics.mean(ours_n):.0f} / {statistics.mean(base_n):.0f} |", flush=True)


def main():
    dsn = sys.argv[1]
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Every line at every zoom (no zoom rules): the worst case.
        conn.execute("SELECT gridkit.layer_register('lines_all', 'demo.transmission_lines', "
                     "attributes => '{voltage_kv,circuits,length_km,owner,iso_id}', options => '{\"rank\": \"voltage_kv\"}')")
        lines, vertices = conn.execute(
            "SELECT count(*), sum(ST_NPoints(geom)) FROM demo.transmission_lines").fetchone()
        zones, zone_vertices = conn.execute("SELECT count(*), sum(ST_NPoints(geom)) FROM demo.zones").fetchone()
        print(f"{lines} transmission lines ({vertices} vertices), {zones} zones ({zone_vertices} vertices)\n")
    build(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn, psycopg.connect(dsn, autocommit=True) as rendered_conn:
        rendered_conn.execute("SET gridkit.stored_tiles = off")
        print("\n### Tiles\n")
        print("| layer | zoom | tiles | gridkit p50 ms | gridkit p99 ms | gridkit rendered from bands p50 ms "
              "| gridkit max KB | PostGIS p50 ms | PostGIS p99 ms | PostGIS max KB | p50 ratio "
              "| features/tile gridkit / PostGIS |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        tiles(conn, rendered_conn, "transmission_lines", LINES_SQL, range(0, 7), RULES, "transmission_lines (zoom rules)")
        tiles(conn, rendered_conn, "lines_all", LINES_SQL, range(0, 7), None, "transmission_lines (every line)")
        tiles(conn, rendered_conn, "zones", ZONES_SQL, range(3, 9))


if __name__ == "__main__":
    main()
