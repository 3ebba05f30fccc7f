"""Time-series maintenance: retention by dropping a partition against the
DELETE a cron script would run, and moving late rows, on the same data in
one run.

Usage: timeseries.py DSN

Two copies of the same minute readings (1000 sensors, one UTC day each for
three days, 1.44M rows a day): one managed by gridkit.ts_create (daily
partitions), one plain table with an index on the time column, as a cron
script would keep it. Prints a Markdown table.
"""

import sys
import time

import psycopg

SENSORS = 1000
DAYS = 3


def timed(conn, sql, *args):
    t0 = time.perf_counter()
    cur = conn.execute(sql, *args)
    row = cur.fetchone() if cur.description else None
    return (time.perf_counter() - t0) * 1000, row


def main():
    conn = psycopg.connect(sys.argv[1], autocommit=True)
    conn.execute("DROP TABLE IF EXISTS bench_ts_managed, bench_ts_plain CASCADE")
    conn.execute("""CREATE TABLE bench_ts_managed (sensor_id int NOT NULL, ts timestamptz NOT NULL, value real,
                                                   PRIMARY KEY (sensor_id, ts)) PARTITION BY RANGE (ts)""")
    conn.execute("SELECT gridkit.ts_create('bench_ts_managed', 'ts', '1 day', premake => 0)")
    conn.execute("""CREATE TABLE bench_ts_plain (sensor_id int NOT NULL, ts timestamptz NOT NULL, value real,
                                                 PRIMARY KEY (sensor_id, ts))""")
    conn.execute("CREATE INDEX ON bench_ts_plain (ts)")
    fill = """INSERT INTO {t} SELECT s, timestamptz '2025-01-01 00:00+00' + d * interval '1 day' + m * interval '1 minute',
                                  (s * m) % 1000
                FROM generate_series(0, {days} - 1) d, generate_series(0, 1439) m, generate_series(1, {n}) s"""
    # Rows for days with no partition yet land in the default partition.
    ms_default, _ = timed(conn, fill.format(t="bench_ts_managed", days=DAYS, n=SENSORS))
    ms_plain, _ = timed(conn, fill.format(t="bench_ts_plain", days=DAYS, n=SENSORS))
    rows = DAYS * 1440 * SENSORS
    ms_move, (moved,) = timed(conn, "SELECT gridkit.ts_move_default_rows('bench_ts_managed')")
    conn.execute("VACUUM ANALYZE bench_ts_managed, bench_ts_plain")
    size = conn.execute("SELECT sum(pg_total_relation_size(partition)) FROM gridkit.ts_partitions('bench_ts_managed')").fetchone()[0]
    heap = conn.execute("SELECT sum(pg_relation_size(partition)) FROM gridkit.ts_partitions('bench_ts_managed')").fetchone()[0]

    # Retention of the oldest day: gridkit drops its partition; the script
    # deletes its rows.
    conn.execute("SELECT gridkit.retention_set('bench_ts_managed', now() - timestamptz '2025-01-02 00:00+00')")
    ms_drop, (dropped,) = timed(conn, "SELECT gridkit.ts_apply_retention('bench_ts_managed')")
    ms_delete, _ = timed(conn, "WITH d AS (DELETE FROM bench_ts_plain WHERE ts < '2025-01-02 00:00+00' RETURNING 1) "
                               "SELECT count(*) FROM d")
    print(f"{SENSORS} sensors, one row a minute, {DAYS} UTC days: {rows} rows\n")
    print("| step | gridkit ms | plain table + cron SQL ms | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| insert {rows} rows (gridkit: into the default partition; plain: table with 2 indexes) "
          f"| {ms_default:.0f} | {ms_plain:.0f} | |")
    print(f"| move {moved} late rows into {DAYS} new partitions | {ms_move:.0f} | – | |")
    print(f"| retention of one day ({dropped} rows) | {ms_drop:.1f} (drop partition) | {ms_delete:.0f} (DELETE) "
          f"| **{ms_delete / ms_drop:.0f}x** |")
    print(f"\nBytes per row in partitions (heap / with indexes): {heap / rows:.0f} / {size / rows:.0f}")
    conn.execute("DROP TABLE bench_ts_managed, bench_ts_plain CASCADE")


if __name__ == "__main__":
    main()
