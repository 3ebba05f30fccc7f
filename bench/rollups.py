"""Rollups, latest values and history against what a user would otherwise
run, on the same data in one run.

Usage: rollups.py DSN

- ingest: COPY of one day of minute rows for 1000 keys into a
  daily-partitioned table with a primary key: plain, with a rollup's
  change-logging triggers, and with those plus latest-value triggers; and
  3000 single-row INSERT statements, plain and with a rollup's triggers;
- refresh: 7 days x 1000 keys of minute rows (10.08M), an hourly rollup;
  one late hour (60K rows) arrives: gridkit.rollup_refresh against the
  INSERT ... SELECT ... GROUP BY of that hour a cron script runs and a full
  REFRESH MATERIALIZED VIEW;
- latest: one key and all keys from the latest table against DISTINCT ON;
- history: 30 days of one key (hourly points) against GROUP BY over the
  minute rows;
- bytes per raw row.
Prints Markdown tables.
"""

import io
import statistics
import sys
import time

import psycopg

KEYS = 1000
DAYS = 7
AGG = '{"n": "count(*)", "v_avg": "avg(v)", "v_min": "min(v)", "v_max": "max(v)"}'


def ms(conn, sql, *args):
    t0 = time.perf_counter()
    cur = conn.execute(sql, *args)
    if cur.description:
        cur.fetchall()
    return (time.perf_counter() - t0) * 1000


def p50(conn, sql, runs=100, *args):
    ms(conn, sql, *args)
    return statistics.median(ms(conn, sql, *args) for _ in range(runs))


def minute_rows(start_epoch, minutes, keys):
    buf = io.StringIO()
    for m in range(minutes):
        ts = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(start_epoch + 60 * m))
        for k in range(1, keys + 1):
            buf.write(f"{k}\t{ts}\t{(k * 31 + m * 7) % 1000 / 10}\n")
    return buf.getvalue().encode()


def make_table(conn, name, start, days):
    conn.execute(f"DROP TABLE IF EXISTS {name}, {name}_latest, {name}_hourly CASCADE")
    conn.execute(f"CREATE TABLE {name} (k int NOT NULL, ts timestamptz NOT NULL, v real, PRIMARY KEY (k, ts)) "
                 "PARTITION BY RANGE (ts)")
    # The time index rollup_create would add, in every variant alike.
    conn.execute(f"CREATE INDEX ON {name} USING brin (ts)")
    conn.execute(f"SELECT gridkit.ts_create('{name}', 'ts', '1 day', premake => 0)")
    conn.execute(f"SELECT gridkit._ts_make_range('{name}', %s::timestamptz, %s::timestamptz + %s * interval '1 day')",
                 (start, start, days + 1))


def copy_ms(conn, table, data):
    t0 = time.perf_counter()
    with conn.cursor().copy(f"COPY {table} (k, ts, v) FROM STDIN") as cp:
        cp.write(data)
    return (time.perf_counter() - t0) * 1000


def shares(title, runs, columns, cells):
    """A Markdown table of the best run per variant and its share of the
    plain variant's throughput."""
    best = {k: min(v) for k, v in runs.items()}
    print(f"### {title}\n")
    print("| variant | " + " | ".join(columns) + " | share of plain |")
    print("|---|" + "---:|" * (len(columns) + 1))
    for k, v in best.items():
        print(f"| {k} | " + " | ".join(cells(v)) + f" | {best['plain'] / v * 100:.0f}% |")


def drop_rollups(conn):
    names = [r[0] for r in conn.execute("SELECT name FROM gridkit._rollups_in_order() r(name) WHERE name LIKE 'bench\\_%'")]
    for name in reversed(names):  # rollups built on others first
        conn.execute("SELECT gridkit.rollup_drop(%s)", (name,))


def main():
    conn = psycopg.connect(sys.argv[1], autocommit=True)
    # The demo data was just loaded: vacuum it now rather than let
    # autovacuum run during the timings.
    conn.execute("VACUUM ANALYZE")
    drop_rollups(conn)
    conn.execute("DROP MATERIALIZED VIEW IF EXISTS bench_mv")
    # Tables an interrupted run left behind (the extension was recreated, so
    # they are no longer registered rollups).
    conn.execute("DROP TABLE IF EXISTS bench_hourly, bench_hist_hourly, bench_cron_hourly CASCADE")
    now = conn.execute("SELECT extract(epoch FROM date_trunc('hour', now()))::bigint").fetchone()[0]

    # Ingest: the same day of rows into three tables, each variant three
    # times, interleaved; best of three.
    day_start = now - 3 * 86400 - (now % 86400)
    data = minute_rows(day_start, 1440, KEYS)
    start_iso = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(day_start))
    results = {"plain": [], "rollup": [], "rollup+latest": []}
    for _ in range(3):
        for variant in results:
            make_table(conn, "bench_ingest", start_iso, 1)
            if variant != "plain":
                conn.execute(f"SELECT gridkit.rollup_create('bench_ingest_hourly', 'bench_ingest', 'ts', '1 hour', '{{k}}', '{AGG}')")
            if variant == "rollup+latest":
                conn.execute("SELECT gridkit.latest_enable('bench_ingest', '{k}', '1 minute')")
            conn.execute("CHECKPOINT")
            results[variant].append(copy_ms(conn, "bench_ingest", data))
            drop_rollups(conn)
            conn.execute("DROP TABLE IF EXISTS bench_ingest, bench_ingest_latest CASCADE")
    rows = 1440 * KEYS
    shares(f"Ingest: COPY of {rows} rows (1000 keys, one day of minutes) into a daily-partitioned table with a primary key",
           results, ["ms", "rows/s"], lambda v: [f"{v:.0f}", f"{rows / v * 1000:,.0f}"])

    # Ingest one row per statement, as a sensor gateway might: the
    # triggers' cost per statement rather than per row.
    small = {"plain": [], "rollup": []}
    statements = 3000
    for _ in range(3):
        for variant in small:
            make_table(conn, "bench_ingest", start_iso, 1)
            if variant == "rollup":
                conn.execute(f"SELECT gridkit.rollup_create('bench_ingest_hourly', 'bench_ingest', 'ts', '1 hour', '{{k}}', '{AGG}')")
            cur = conn.cursor()
            t0 = time.perf_counter()
            for i in range(statements):
                cur.execute("INSERT INTO bench_ingest VALUES (%s, %s::timestamptz + %s * interval '1 minute', 1)",
                            (i % KEYS + 1, start_iso, i // KEYS), prepare=True)
            small[variant].append((time.perf_counter() - t0) * 1000 / statements)
            drop_rollups(conn)
            conn.execute("DROP TABLE IF EXISTS bench_ingest CASCADE")
    print()
    shares(f"Ingest: {statements} single-row INSERT statements (prepared)", small, ["ms per statement"],
           lambda v: [f"{v:.3f}"])

    # Refresh.
    start = now - DAYS * 86400 - 3 * 3600
    start_iso = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(start))
    make_table(conn, "bench_raw", start_iso, DAYS)
    conn.execute(f"""INSERT INTO bench_raw SELECT k, %s::timestamptz + m * interval '1 minute', (k * 31 + m * 7) %% 1000 / 10.0
                       FROM generate_series(0, {DAYS} * 1440 - 1) m, generate_series(1, {KEYS}) k ORDER BY m, k""", (start_iso,))
    conn.execute("VACUUM ANALYZE bench_raw")
    raw_rows = DAYS * 1440 * KEYS
    conn.execute(f"SELECT gridkit.rollup_create('bench_hourly', 'bench_raw', 'ts', '1 hour', '{{k}}', '{AGG}')")
    full_ms = ms(conn, "SELECT gridkit.rollup_refresh('bench_hourly')")
    conn.execute("CREATE TABLE bench_cron_hourly AS SELECT date_trunc('hour', ts) AS bucket, k, count(*) AS n, avg(v) AS v_avg, "
                 "min(v) AS v_min, max(v) AS v_max FROM bench_raw GROUP BY 1, 2")
    conn.execute("CREATE MATERIALIZED VIEW bench_mv AS SELECT date_trunc('hour', ts) AS bucket, k, count(*) AS n, "
                 "avg(v) AS v_avg, min(v) AS v_min, max(v) AS v_max FROM bench_raw GROUP BY 1, 2")
    # Three rounds, each a new hour of 1000 keys arriving after the
    # watermark (the raw data ends 3 hours ago).
    refresh_runs, cron_runs, exact_runs, numeric_runs = [], [], [], []
    for hour in range(3):
        late_start = start + DAYS * 86400 + hour * 3600
        copy_ms(conn, "bench_raw", minute_rows(late_start, 60, KEYS))
        late_iso = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(late_start))
        # Both sides read the late hour with hint bits set and statistics known.
        conn.execute("VACUUM ANALYZE bench_raw")
        refresh_runs.append(ms(conn, "SELECT gridkit.rollup_refresh('bench_hourly')"))
        cron_runs.append(ms(conn, """INSERT INTO bench_cron_hourly SELECT date_trunc('hour', ts), k, count(*), avg(v), min(v), max(v)
                                       FROM bench_raw WHERE ts >= %s::timestamptz AND ts < %s::timestamptz + interval '1 hour'
                                      GROUP BY 1, 2""", (late_iso, late_iso)))
        # The state's sums alone: gridkit's exact-sum aggregates against the
        # numeric sums they replace (every output used, so none is dropped).
        for fn, runs in (("gridkit._exact_sum(v), gridkit._exact_sum_squares(v)", exact_runs),
                         ("sum(v::numeric), sum(v::numeric * v::numeric)", numeric_runs)):
            runs.append(min(ms(conn, f"""SELECT sum(s), sum(q) FROM (SELECT k, {fn} FROM bench_raw
                                           WHERE ts >= %s::timestamptz AND ts < %s::timestamptz + interval '1 hour'
                                           GROUP BY k) x(k, s, q)""", (late_iso, late_iso)) for _ in range(3)))
    refresh_ms, cron_ms = statistics.median(refresh_runs), statistics.median(cron_runs)
    mv_ms = ms(conn, "REFRESH MATERIALIZED VIEW bench_mv")
    check = conn.execute("""SELECT count(*) FROM bench_hourly h FULL JOIN bench_mv m USING (bucket, k)
                             WHERE h.n IS DISTINCT FROM m.n OR abs(h.v_avg - m.v_avg) > 1e-6""").fetchone()[0]
    runs = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
    print(f"\n### Incremental refresh: one new hour ({60 * KEYS} rows, {KEYS} keys) after {raw_rows:,} rows ({DAYS} days), 3 hours\n")
    print("| what | ms (median) | each hour | gridkit's advantage |")
    print("|---|---:|---:|---:|")
    print(f"| gridkit.rollup_refresh (one hour from the change log) | {refresh_ms:.1f} | {runs(refresh_runs)} | |")
    print(f"| INSERT ... SELECT ... GROUP BY of that hour (cron script) | {cron_ms:.1f} | {runs(cron_runs)} | {cron_ms / refresh_ms:.1f}x |")
    print(f"| sums of the hour: gridkit._exact_sum + _exact_sum_squares | {statistics.median(exact_runs):.1f} | {runs(exact_runs)} | |")
    print(f"| sums of the hour: sum(v::numeric) + sum(v::numeric * v::numeric) | {statistics.median(numeric_runs):.1f} | {runs(numeric_runs)} | {statistics.median(numeric_runs) / statistics.median(exact_runs):.1f}x |")
    print(f"| REFRESH MATERIALIZED VIEW ({DAYS} days) | {mv_ms:.0f} | | {mv_ms / refresh_ms:.0f}x |")
    print(f"| (first rollup_refresh: all {DAYS} days) | {full_ms:.0f} | | |")
    print(f"\nRollup rows differing from the materialized view: {check}")

    # Latest.
    conn.execute("SELECT gridkit.latest_enable('bench_raw', '{k}', '1 minute')")
    conn.execute("ANALYZE bench_raw_latest")
    one = p50(conn, "SELECT * FROM bench_raw_latest WHERE k = 500")
    one_raw = p50(conn, "SELECT DISTINCT ON (k) * FROM bench_raw WHERE k = 500 ORDER BY k, ts DESC")
    all_l = p50(conn, "SELECT * FROM bench_raw_latest", 20)
    all_raw = p50(conn, "SELECT DISTINCT ON (k) * FROM bench_raw ORDER BY k, ts DESC", 3)
    print("\n### Latest value (p50)\n")
    print("| query | gridkit latest table ms | DISTINCT ON over the raw table ms | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| one key | {one:.3f} | {one_raw:.3f} | {one_raw / one:.1f}x |")
    print(f"| all {KEYS} keys | {all_l:.2f} | {all_raw:.0f} | {all_raw / all_l:.0f}x |")

    # History: 30 days of one key.
    hist_keys = 20
    hstart = now - 31 * 86400
    hstart_iso = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(hstart))
    make_table(conn, "bench_hist", hstart_iso, 31)
    conn.execute(f"""INSERT INTO bench_hist SELECT k, %s::timestamptz + m * interval '1 minute', (k * 31 + m * 7) %% 1000 / 10.0
                       FROM generate_series(0, 31 * 1440 - 1) m, generate_series(1, {hist_keys}) k
                      WHERE %s::timestamptz + m * interval '1 minute' < now() ORDER BY m, k""", (hstart_iso, hstart_iso))
    conn.execute("VACUUM ANALYZE bench_hist")
    conn.execute(f"SELECT gridkit.rollup_create('bench_hist_hourly', 'bench_hist', 'ts', '1 hour', '{{k}}', '{AGG}')")
    conn.execute("SELECT gridkit.rollup_refresh('bench_hist_hourly')")
    conn.execute("ANALYZE bench_hist_hourly")
    hist = p50(conn, "SELECT * FROM gridkit.history('bench_hist', '{\"k\": 7}', now() - interval '30 days', now())", 50)
    points = conn.execute("SELECT count(*) FROM gridkit.history('bench_hist', '{\"k\": 7}', now() - interval '30 days', now())").fetchone()[0]
    hist_raw = p50(conn, """SELECT date_trunc('hour', ts), avg(v), min(v), max(v), count(v) FROM bench_hist
                             WHERE k = 7 AND ts >= now() - interval '30 days' AND ts < now() GROUP BY 1 ORDER BY 1""", 20)
    print(f"\n### History: 30 days of one key ({points} hourly points from minute rows), p50\n")
    print("| gridkit.history ms | GROUP BY over the minute rows ms | ratio |")
    print("|---:|---:|---:|")
    print(f"| {hist:.2f} | {hist_raw:.1f} | {hist_raw / hist:.1f}x |")

    heap = conn.execute("SELECT sum(pg_relation_size(partition)) FROM gridkit.ts_partitions('bench_raw')").fetchone()[0]
    total = conn.execute("SELECT sum(pg_total_relation_size(partition)) FROM gridkit.ts_partitions('bench_raw')").fetchone()[0]
    n = raw_rows + 60 * KEYS
    print(f"\nBytes per raw row (k int, ts timestamptz, v real): heap {heap / n:.1f}, with the primary key {total / n:.1f}")

    drop_rollups(conn)
    conn.execute("DROP MATERIALIZED VIEW IF EXISTS bench_mv")
    conn.execute("DROP TABLE IF EXISTS bench_raw, bench_raw_latest, bench_hist, bench_cron_hourly CASCADE")


if __name__ == "__main__":
    main()
