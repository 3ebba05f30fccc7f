"""The cold tier: archiving partitions to Parquet (retention with an
archive directory) against COPY TO in binary, the floor of any export, and
restoring them against COPY FROM of the same rows, on the demo's data in
one run.

Usage: archive.py DSN

Two data sets, copied out of the demo so its tables stay whole: a day of
per-minute safety indices (demo.safety_index) and a year of hourly grid
observations (demo.observations, monthly partitions). Prints a Markdown
table.
"""

import os
import sys
import time

import psycopg


def timed(conn, sql, *args):
    t0 = time.perf_counter()
    cur = conn.execute(sql, *args)
    row = cur.fetchone() if cur.description else None
    return (time.perf_counter() - t0) * 1000, row


def copy_of(conn, source, name, interval, lo, hi, shift="0"):
    """`name`: a managed table with `source`'s columns, holding its rows of
    [lo, hi), moved back by `shift` (so every partition is in the past)."""
    conn.execute(f"DROP TABLE IF EXISTS {name}, {name}_plain CASCADE")
    conn.execute(f"CREATE TABLE {name} (LIKE {source}) PARTITION BY RANGE (ts)")
    conn.execute(f"SELECT gridkit.ts_create('{name}', 'ts', '{interval}', premake => 0)")
    conn.execute(f"INSERT INTO {name} SELECT * FROM {source} WHERE ts >= {lo} AND ts < {hi}")
    conn.execute(f"UPDATE {name} SET ts = ts - interval '{shift}'")
    conn.execute(f"SELECT gridkit.ts_move_default_rows('{name}')")
    conn.execute(f"VACUUM ANALYZE {name}")
    # The same rows as COPY FROM would load them: a plain table of the columns.
    conn.execute(f"CREATE TABLE {name}_plain (LIKE {source})")


def measure(conn, root, label, name):
    parts = conn.execute(f"SELECT partition::text FROM gridkit.ts_partitions('{name}') WHERE NOT is_default "
                         "ORDER BY lower").fetchall()
    parts = [p for (p,) in parts if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {p})").fetchone()[0]]
    rows = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    heap = sum(conn.execute(f"SELECT pg_relation_size('{p}')").fetchone()[0] for p in parts)
    scratch = f"{root}/_bench"
    conn.execute(f"SELECT gridkit._archive_directory('_bench')")

    # The floor: COPY TO in binary, one file per partition, on the server.
    ms_copy_to = 0.0
    for i, p in enumerate(parts):
        ms, _ = timed(conn, f"COPY {p} TO '{scratch}/{name}_{i}.bin' (FORMAT binary)")
        ms_copy_to += ms
    copy_bytes = sum(os.path.getsize(f"{scratch}/{name}_{i}.bin") for i in range(len(parts)))
    # Text files for the COPY FROM baseline of the restore.
    for i, p in enumerate(parts):
        conn.execute(f"COPY {p} TO '{scratch}/{name}_{i}.txt'")

    conn.execute(f"SELECT gridkit.retention_set('{name}', '1 second', archive => 'bench')")
    ms_archive, (archived,) = timed(conn, f"SELECT gridkit.ts_apply_retention('{name}')")
    assert archived == rows, (archived, rows)
    parquet_bytes = conn.execute("SELECT sum(bytes) FROM gridkit.archives WHERE relid = %s::regclass::oid "
                                 "AND restored_into IS NULL", (name,)).fetchone()[0]

    ms_restore, (restored,) = timed(conn, f"SELECT gridkit.archive_restore('{name}', '-infinity', 'infinity')")
    assert restored == rows, (restored, rows)
    ms_copy_from = 0.0
    for i in range(len(parts)):
        ms, _ = timed(conn, f"COPY {name}_plain FROM '{scratch}/{name}_{i}.txt'")
        ms_copy_from += ms
    same = conn.execute(f"SELECT (SELECT count(*) FROM (SELECT * FROM {name} EXCEPT ALL SELECT * FROM {name}_plain) a) "
                        f"+ (SELECT count(*) FROM (SELECT * FROM {name}_plain EXCEPT ALL SELECT * FROM {name}) b)"
                        ).fetchone()[0] == 0
    for i in range(len(parts)):
        os.remove(f"{scratch}/{name}_{i}.bin")
        os.remove(f"{scratch}/{name}_{i}.txt")
    return dict(label=label, rows=rows, parts=len(parts), heap=heap, copy_bytes=copy_bytes,
                parquet=parquet_bytes, archive=ms_archive, copy_to=ms_copy_to, restore=ms_restore,
                copy_from=ms_copy_from, same=same)


def main():
    conn = psycopg.connect(sys.argv[1], autocommit=True)
    root = conn.execute("SELECT current_setting('gridkit.archive_directory')").fetchone()[0]
    assert root, "the bench cluster has no gridkit.archive_directory"
    day = conn.execute("SELECT max(date_trunc('day', ts, 'UTC')) - interval '1 day' FROM demo.safety_index").fetchone()[0]
    copy_of(conn, "demo.safety_index", "bench_arch_index", "1 day", f"'{day.isoformat()}'::timestamptz",
            f"'{day.isoformat()}'::timestamptz + interval '1 day'")
    copy_of(conn, "demo.observations", "bench_arch_obs", "1 month", "'-infinity'", "'infinity'", shift="1 month")
    results = [measure(conn, root, "a day of per-minute safety indices", "bench_arch_index"),
               measure(conn, root, "a year of hourly observations", "bench_arch_obs")]

    print("| data | rows (partitions) | heap B/row | COPY binary B/row | Parquet B/row "
          "| archive ms (rows/s) | COPY TO binary ms (rows/s) | ratio | restore ms (rows/s) | COPY FROM ms (rows/s) | ratio | restored = original |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        n = r["rows"]
        rate = lambda ms: f"{ms:.0f} ({n / ms * 1000:,.0f})"  # noqa: E731
        print(f"| {r['label']} | {n:,} ({r['parts']}) | {r['heap'] / n:.1f} | {r['copy_bytes'] / n:.1f} "
              f"| {r['parquet'] / n:.1f} | {rate(r['archive'])} | {rate(r['copy_to'])} "
              f"| {r['archive'] / r['copy_to']:.2f}x | {rate(r['restore'])} | {rate(r['copy_from'])} "
              f"| {r['restore'] / r['copy_from']:.2f}x | {'yes' if r['same'] else 'NO'} |")
    print("\narchive: write, fsync, read back and compare (rows, SHA-256), rename, list, drop; "
          "COPY TO: write only, no fsync. restore: read, check the SHA-256, COPY FROM text into "
          "the partitions; COPY FROM: the same rows as text, into a plain table.")


if __name__ == "__main__":
    main()
