"""Single node against a Citus coordinator with two workers, same machine,
same data, one after the other:

- LMP ingest: COPY of hourly LMPs (500 pricing nodes x 90 days = 1.08M
  rows) into a gridkit time-series table (weekly partitions), local on the
  coordinator, then distributed by pnode_id;
- congestion indices: zone_classify and pnode_severity over those 90 days;
- one more day (12,000 rows) by COPY, then an hourly rollup by zone
  (count, avg, max, exact sum): its first refresh over the 91 days; COPY
  of a further day through the rollup's change triggers (on the shards,
  for Citus), against the day before without them; the refresh after that
  day and a correction of one day of 50 nodes (late rows and updates);
- raw tiles of data centres (the demo at scale 100, 117,900 points), a
  local table against the same rows distributed by id: p50 per zoom.

Usage: bench/citus.py COORDINATOR_DSN   (superuser; Citus nodes added)
"""

import io
import math
import random
import statistics
import sys
import time

import psycopg

NODES, DAYS = 500, 90
ROLLUP = '{"n": "count(*)", "lmp_avg": "avg(lmp)", "lmp_max": "max(lmp)", "congestion": "sum(congestion)"}'


def ms(conn, sql, args=()):
    t = time.perf_counter()
    conn.execute(sql, args).fetchall()
    return (time.perf_counter() - t) * 1000


def lmp_csv(first_hour=0, hours=DAYS * 24):
    out = io.StringIO()
    start = 1735689600  # 2025-01-01 00:00 UTC
    for h in range(first_hour, first_hour + hours):
        ts = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(start + h * 3600))
        for n in range(NODES):
            energy = 30 + 10 * math.sin(h / 24.0 * 2 * math.pi) + n % 25
            cong = (n % 25) * 1.5 if (h + n) % 7 == 0 else (n % 3) * 0.4
            loss = 0.3 + (n % 5) * 0.1
            out.write(f"{ts},ISO,Z{n % 25},N{n},{energy + cong + loss},{energy},{cong},{loss}\n")
    return out.getvalue()


def tile_of(lon, lat, z):
    n = 2**z
    x = min(n - 1, max(0, int((lon + 180) / 360 * n)))
    y = min(n - 1, max(0, int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)))
    return z, x, y


def main():
    db = psycopg.connect(sys.argv[1], autocommit=True)
    workers = db.execute("SELECT count(*) FROM citus_get_active_worker_nodes()").fetchone()[0]
    data = lmp_csv()
    rows = data.count("\n")
    next_days = [lmp_csv(DAYS * 24, 24), lmp_csv((DAYS + 1) * 24, 24)]
    results, rollups = {}, {}
    for kind in ("local", "distributed"):
        table = f"bench_lmp_{kind}"
        db.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        db.execute(f"""CREATE TABLE {table} (ts timestamptz NOT NULL, iso text, zone text, pnode_id text NOT NULL,
                       lmp float8, energy float8, congestion float8, loss float8) PARTITION BY RANGE (ts)""")
        if kind == "distributed":
            db.execute(f"SELECT create_distributed_table('{table}', 'pnode_id')")
        db.execute(f"SELECT gridkit.ts_create('{table}', 'ts', '7 days', premake => 0)")
        # Partitions for the 90 days first, as maintenance keeps them ahead.
        db.execute(f"SELECT gridkit._ts_make_range('{table}'::regclass, '2025-01-01', '2025-04-03')")
        t = time.perf_counter()
        with db.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as cp:
            cp.write(data)
        results[(kind, "ingest")] = (time.perf_counter() - t) * 1000
        db.execute(f"ANALYZE {table}")
        window = ("2025-01-01 00:00+00", "2025-04-01 00:00+00")
        results[(kind, "zone_classify")] = min(
            ms(db, f"SELECT * FROM gridkit.zone_classify('{table}', %s, %s)", window) for _ in range(3))
        results[(kind, "pnode_severity")] = min(
            ms(db, f"SELECT * FROM gridkit.pnode_severity('{table}', %s, %s)", window) for _ in range(3))
        zones = db.execute(f"SELECT * FROM gridkit.zone_classify('{table}', %s, %s) ORDER BY 1, 2", window).fetchall()
        if kind == "local":
            z_local = zones
        else:
            # Same classes; scores equal but for float rounding (the shards'
            # sums are added in another order).
            same = [r[-1] for r in zones] == [r[-1] for r in z_local] and len(zones) == len(z_local)
            # Scores are ratios and z-scores of order 1; some are 0 up to
            # rounding, so the difference is absolute.
            worst = max((abs(a - b) for g, e in zip(zones, z_local) for a, b in zip(g, e) if isinstance(a, float)),
                        default=0.0)
        name = f"{table}_hourly"
        for day, (label, rollup) in enumerate((("copy day", False), ("copy day with rollup", True))):
            if rollup:
                db.execute("SELECT gridkit.rollup_create(%s, %s, 'ts', '1 hour', ARRAY['zone'], %s)",
                           [name, table, ROLLUP])
                results[(kind, "first refresh")] = ms(db, "SELECT gridkit.rollup_refresh(%s)", [name])
            t = time.perf_counter()
            with db.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as cp:
                cp.write(next_days[day])
            results[(kind, label)] = (time.perf_counter() - t) * 1000
        db.execute(f"UPDATE {table} SET lmp = lmp + 1 WHERE ts >= '2025-02-01' AND ts < '2025-02-02' "
                   "AND pnode_id = ANY (%s)", [[f"N{n}" for n in range(0, NODES, NODES // 50)]])
        results[(kind, "incremental refresh")] = ms(db, "SELECT gridkit.rollup_refresh(%s)", [name])
        rollups[kind] = db.execute(f"SELECT bucket, zone, n, lmp_avg, lmp_max, congestion FROM {name} "
                                   "ORDER BY bucket, zone").fetchall()
        db.execute("SELECT gridkit.rollup_drop(%s)", [name])
    buckets = len(rollups["local"])
    # Counts, maxima and exact sums are equal; averages up to float rounding.
    rollups_equal = buckets > 0 and len(rollups["distributed"]) == buckets and all(
        d[:3] == l[:3] and d[4:] == l[4:] and abs(d[3] - l[3]) <= 1e-12 * abs(l[3])
        for d, l in zip(rollups["distributed"], rollups["local"]))
    # Tiles: the demo's data centres and the same rows distributed by id.
    db.execute("DROP TABLE IF EXISTS bench_dc CASCADE")
    db.execute("CREATE TABLE bench_dc (LIKE demo.data_centers INCLUDING ALL)")
    db.execute("SELECT create_distributed_table('bench_dc', 'id')")
    db.execute("INSERT INTO bench_dc SELECT * FROM demo.data_centers")
    db.execute("ANALYZE bench_dc")
    points = db.execute("SELECT count(*) FROM bench_dc").fetchone()[0]
    db.execute("SELECT gridkit.layer_register('bench_dc_local', 'demo.data_centers', attributes => '{capacity_mw,status}')")
    db.execute("SELECT gridkit.layer_register('bench_dc_dist', 'bench_dc', attributes => '{capacity_mw,status}')")
    rng = random.Random(42)
    sample = [r for r in db.execute("SELECT ST_X(geom), ST_Y(geom) FROM demo.data_centers ORDER BY id")]
    tiles = {}
    for z in (0, 4, 8, 12, 14):
        tiles[z] = [tile_of(*rng.choice(sample), z) for _ in range(20)]
    tile_ms = {}
    for layer in ("bench_dc_local", "bench_dc_dist"):
        for z, ts in tiles.items():
            db.execute("SELECT length(grid_tile(%s, %s, %s, %s))", [layer, *ts[0]])  # plan cached
            tile_ms[(layer, z)] = statistics.median(ms(db, "SELECT grid_tile(%s, %s, %s, %s)", [layer, *t]) for t in ts)
    for layer in ("bench_dc_local", "bench_dc_dist"):
        db.execute("SELECT gridkit.layer_drop(%s)", [layer])
    db.execute("DROP TABLE bench_dc, bench_lmp_local, bench_lmp_distributed CASCADE")

    print(f"\n### Citus: single node against a coordinator with {workers} workers (same machine, 2 cores)\n")
    print(f"{rows:,} hourly LMP rows ({NODES} nodes x {DAYS} days) in weekly partitions; "
          f"congestion best of 3; tiles of {points:,} data centres, p50 of 20 per zoom.\n")
    print("| work | single node ms | Citus ms | Citus / single |")
    print("|---|---:|---:|---:|")
    ing_l, ing_d = results[("local", "ingest")], results[("distributed", "ingest")]
    print(f"| COPY {rows:,} rows into the time-series table | {ing_l:.0f} ({rows / ing_l * 1000:,.0f} rows/s) | "
          f"{ing_d:.0f} ({rows / ing_d * 1000:,.0f} rows/s) | {ing_d / ing_l:.2f}x |")
    for w in ("zone_classify", "pnode_severity"):
        l, d = results[("local", w)], results[("distributed", w)]
        print(f"| gridkit.{w}, 90 days | {l:.0f} | {d:.0f} | {d / l:.2f}x |")
    day_rows = next_days[0].count("\n")
    for w, label in (("copy day", f"COPY one more day ({day_rows:,} rows), no rollup"),
                     ("first refresh", f"hourly rollup by zone: first refresh, 91 days ({buckets - 24 * 25:,} buckets)"),
                     ("copy day with rollup", f"COPY a further day ({day_rows:,} rows) through the rollup triggers"),
                     ("incremental refresh", "refresh after that day and one corrected day of 50 nodes")):
        l, d = results[("local", w)], results[("distributed", w)]
        print(f"| {label} | {l:.0f} | {d:.0f} | {d / l:.2f}x |")
    for z in tiles:
        l, d = tile_ms[("bench_dc_local", z)], tile_ms[("bench_dc_dist", z)]
        print(f"| raw tile z{z} | {l:.2f} | {d:.2f} | {d / l:.2f}x |")
    print(f"\nzone_classify: same class for every zone on both: {same}; "
          f"largest difference of a score: {worst:.1e}")
    print(f"rollup by zone: {buckets:,} buckets, equal on both (counts, maxima and exact sums identical, "
          f"averages within 1e-12): {rollups_equal}")


if __name__ == "__main__":
    main()
