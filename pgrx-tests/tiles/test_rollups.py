"""Rollups across sessions: two refreshes at once, retention racing a
refresh, and pg_cron running the maintenance job in this cluster."""

import os
import threading
import time

import psycopg
import pytest

DSN = os.environ["GRIDKIT_DSN"]


def setup_meter(conn, name, days=6):
    conn.execute(f"SELECT gridkit.rollup_drop(name) FROM gridkit.rollup WHERE source = to_regclass('public.{name}')")
    conn.execute(f"DROP TABLE IF EXISTS public.{name} CASCADE")
    conn.execute(f"CREATE TABLE public.{name} (ts timestamptz NOT NULL, k int NOT NULL, v double precision) "
                 "PARTITION BY RANGE (ts)")
    conn.execute(f"SELECT gridkit.ts_create('public.{name}', 'ts', '1 day', premake => 0)")
    conn.execute(f"""INSERT INTO public.{name}
                     SELECT timestamptz '2023-05-01 00:00+00' + i * interval '1 minute', k, (i * k) % 101
                       FROM generate_series(0, {days} * 1440 - 1) i, generate_series(1, 20) k""")
    conn.execute(f"SELECT gridkit.ts_move_default_rows('public.{name}')")
    conn.execute(f"SELECT gridkit.rollup_create('{name}_hourly', 'public.{name}', 'ts', '1 hour', '{{k}}', "
                 "'{\"n\": \"count(*)\", \"avg\": \"avg(v)\"}')")
    conn.execute(f"SELECT gridkit.rollup_refresh('{name}_hourly')")


def mismatches(conn, name):
    return conn.execute(f"""
        SELECT count(*) FROM (SELECT date_trunc('hour', ts, 'UTC') AS bucket, k, count(*) AS n FROM public.{name} GROUP BY 1, 2) p
        FULL JOIN public.{name}_hourly h USING (bucket, k) WHERE p.n IS DISTINCT FROM h.n""").fetchone()[0]


def waiting_on_lock(conn, pid):
    for _ in range(100):
        if conn.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
            return True
        time.sleep(0.05)
    return False


def blocked_behind(conn, holder, waiter, sql, why):
    """Runs `sql` on `waiter` in a thread, checks it waits on a lock, commits
    `holder` and returns the first column of the waiter's result."""
    result = []
    t = threading.Thread(target=lambda: result.append(waiter.execute(sql).fetchone()[0]))
    t.start()
    assert waiting_on_lock(conn, waiter.info.backend_pid), why
    holder.commit()
    t.join()
    return result


def test_two_refreshes_at_once_take_turns(conn):
    setup_meter(conn, "roll_turns")
    conn.execute("INSERT INTO public.roll_turns SELECT ts + interval '30 seconds', k, 1 FROM public.roll_turns "
                 "WHERE ts < '2023-05-02'")
    with psycopg.connect(DSN) as a, psycopg.connect(DSN, autocommit=True) as b:
        first = a.execute("SELECT gridkit.rollup_refresh('roll_turns_hourly')").fetchone()[0]
        assert first == 24 * 20
        second = blocked_behind(conn, a, b, "SELECT gridkit.rollup_refresh('roll_turns_hourly')",
                                "the second refresh should wait for the first")
    # The second found nothing left to do: the first consumed the changes.
    assert second == [0]
    assert mismatches(conn, "roll_turns") == 0
    conn.execute("SELECT gridkit.rollup_drop('roll_turns_hourly')")
    conn.execute("DROP TABLE public.roll_turns")


def test_retention_racing_a_refresh_loses_nothing(conn):
    setup_meter(conn, "roll_race")
    total = conn.execute("SELECT count(*) FROM public.roll_race").fetchone()[0]
    conn.execute("SELECT gridkit.retention_set('public.roll_race', '30 days')")
    # Late rows on the third day: that day's buckets are stale until a
    # refresh commits.
    conn.execute("INSERT INTO public.roll_race SELECT ts + interval '10 seconds', k, 5 FROM public.roll_race "
                 "WHERE ts >= '2023-05-03' AND ts < '2023-05-03 06:00'")
    late = 6 * 60 * 20
    with psycopg.connect(DSN) as a, psycopg.connect(DSN, autocommit=True) as b:
        a.execute("SELECT gridkit.rollup_refresh('roll_race_hourly')")
        # Dropping a partition locks the table: retention waits for the
        # uncommitted refresh, then sees what it materialized.
        dropped = blocked_behind(conn, a, b, "SELECT gridkit.ts_apply_retention('public.roll_race')",
                                 "retention should wait for the refresh")
    # (The rows it logs are the statistics' estimate, so only "some".)
    assert dropped and dropped[0] > 0
    assert conn.execute("SELECT count(*) FROM public.roll_race").fetchone()[0] == 0
    # Every raw row ever written is in the rollup.
    assert conn.execute("SELECT sum(n) FROM public.roll_race_hourly").fetchone()[0] == total + late
    conn.execute("SELECT gridkit.rollup_drop('roll_race_hourly')")
    conn.execute("DROP TABLE public.roll_race")


def test_pg_cron_runs_the_maintenance_job():
    """pg_cron (preloaded, cron.database_name = 'gridkit') runs
    gridkit.schedule's job; its steps land in gridkit.job_runs."""
    with psycopg.connect(DSN, autocommit=True) as c:
        if not c.execute("SELECT true FROM pg_database WHERE datname = 'gridkit'").fetchone():
            c.execute("CREATE DATABASE gridkit")
    with psycopg.connect(DSN.replace("dbname=gridkit_tiles", "dbname=gridkit"), autocommit=True) as g:
        g.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        g.execute("CREATE EXTENSION IF NOT EXISTS gridkit CASCADE")
        g.execute("DROP TABLE IF EXISTS public.cron_meter")
        g.execute("CREATE TABLE public.cron_meter (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)")
        g.execute("SELECT gridkit.ts_create('public.cron_meter', 'ts', '1 day', premake => 0)")
        g.execute("INSERT INTO public.cron_meter VALUES ('2023-01-01', 1)")
        jobs = dict(g.execute("SELECT job, jobid FROM gridkit.schedule('* * * * *')").fetchall())
        assert set(jobs) == {"gridkit-maintenance", "gridkit-daily"}
        assert g.execute("SELECT schedule, command FROM cron.job WHERE jobid = %s", (jobs["gridkit-daily"],)).fetchone() \
            == ("20 0 * * *", "SELECT count(*) FROM gridkit.run_maintenance('daily')")
        job = jobs["gridkit-maintenance"]
        try:
            before = g.execute("SELECT coalesce(max(id), 0) FROM gridkit.job_runs").fetchone()[0]
            deadline = time.time() + 75
            runs = []
            while time.time() < deadline and not runs:
                time.sleep(2)
                runs = g.execute("SELECT job, target, rows FROM gridkit.job_runs WHERE id > %s AND job = 'late rows'",
                                 (before,)).fetchall()
            assert runs == [("late rows", "public.cron_meter", 1)], "pg_cron did not run gridkit.run_maintenance within 75 s"
            status = g.execute("SELECT status FROM cron.job_run_details WHERE jobid = %s ORDER BY runid DESC LIMIT 1",
                               (job,)).fetchone()
            assert status == ("succeeded",)
        finally:
            for j in jobs.values():
                g.execute("SELECT cron.unschedule(%s)", (j,))
            g.execute("DROP TABLE public.cron_meter")


def refresh_path(conn, name):
    """Which way a refresh aggregated its ranges, from its DEBUG1 phases."""
    notes = []
    handler = lambda d: notes.append(d.message_primary or "")  # noqa: E731
    conn.add_notice_handler(handler)
    conn.execute("SET client_min_messages = debug1")
    try:
        conn.execute(f"SELECT gridkit.rollup_refresh('{name}')")
    finally:
        conn.execute("RESET client_min_messages")
        conn.remove_notice_handler(handler)
    phases = [n for n in notes if f"rollup_refresh('{name}')" in n]
    assert len(phases) == 1, notes
    return "rust" if "aggregate in Rust" in phases[0] else "sql"


def test_refreshes_aggregate_in_rust_when_the_types_allow(conn):
    """The native path is taken for integer/float/text rollups and only then;
    07_rollups checks that both paths write the same rows."""
    conn.execute("DROP TABLE IF EXISTS public.roll_paths CASCADE")
    conn.execute("DROP COLLATION IF EXISTS public.roll_ci")
    conn.execute("CREATE COLLATION public.roll_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
    conn.execute("CREATE TABLE public.roll_paths (ts timestamptz NOT NULL, k int, name text, ci text COLLATE public.roll_ci, "
                 "v real, x numeric) PARTITION BY RANGE (ts)")
    conn.execute("SELECT gridkit.ts_create('public.roll_paths', 'ts', '1 day', premake => 0)")
    cases = {
        "roll_paths_int": ("{k}", '{"n": "count(*)", "v": "avg(v)"}', "rust"),
        "roll_paths_text": ("{name}", '{"hi": "max(v)", "sd": "stddev(v)"}', "rust"),
        "roll_paths_numeric": ("{k}", '{"x": "avg(x)"}', "sql"),
        "roll_paths_ci": ("{ci}", '{"n": "count(*)"}', "sql"),
    }
    for name, (groups, aggs, _) in cases.items():
        conn.execute(f"SELECT gridkit.rollup_create('{name}', 'public.roll_paths', 'ts', '1 hour', '{groups}', '{aggs}')")
        conn.execute(f"SELECT gridkit.rollup_refresh('{name}')")
    conn.execute("""INSERT INTO public.roll_paths SELECT timestamptz '2024-01-01' + i * interval '1 minute', i % 5,
                           'n' || i % 3, i, i FROM generate_series(0, 299) i""")
    for name, (_, _, path) in cases.items():
        assert refresh_path(conn, name) == path, name
    conn.execute("INSERT INTO public.roll_paths VALUES ('2024-01-01 00:30', 1, 'n1', 1, 1)")
    conn.execute("SET gridkit.rollup_native = off")
    assert refresh_path(conn, "roll_paths_int") == "sql"
    conn.execute("RESET gridkit.rollup_native")
    for name in cases:
        conn.execute(f"SELECT gridkit.rollup_drop('{name}')")
    conn.execute("DROP TABLE public.roll_paths CASCADE")
    conn.execute("DROP COLLATION public.roll_ci")


def test_a_statement_far_apart_in_time_rewrites_only_its_buckets(conn):
    """One statement touching two hours four days apart logs two ranges, and
    the refresh rewrites those two hourly buckets, not the 100 between."""
    setup_meter(conn, "roll_gaps")
    conn.execute("DELETE FROM gridkit.rollup_invalidation WHERE rollup = 'roll_gaps_hourly'")
    conn.execute("UPDATE public.roll_gaps SET v = v + 1 WHERE ts IN ('2023-05-01 03:10+00', '2023-05-05 10:20+00')")
    logged = conn.execute("SELECT lower, upper FROM gridkit.rollup_invalidation WHERE rollup = 'roll_gaps_hourly' "
                          "ORDER BY lower").fetchall()
    assert [(lo.isoformat(), hi.isoformat()) for lo, hi in logged] == [
        ("2023-05-01T03:10:00+00:00", "2023-05-01T03:10:00+00:00"),
        ("2023-05-05T10:20:00+00:00", "2023-05-05T10:20:00+00:00")]
    # 2 buckets of 20 keys.
    assert conn.execute("SELECT gridkit.rollup_refresh('roll_gaps_hourly')").fetchone()[0] == 2 * 20
    assert mismatches(conn, "roll_gaps") == 0
    # Rows in consecutive hours are one range, from the first to the last.
    conn.execute("UPDATE public.roll_gaps SET v = v + 1 WHERE ts >= '2023-05-02 22:30+00' AND ts < '2023-05-03 01:15+00' "
                 "AND k = 1")
    assert conn.execute("SELECT count(*), min(lower), max(upper) FROM gridkit.rollup_invalidation "
                        "WHERE rollup = 'roll_gaps_hourly'").fetchone()[0] == 1
    assert conn.execute("SELECT gridkit.rollup_refresh('roll_gaps_hourly')").fetchone()[0] == 4 * 20
    assert mismatches(conn, "roll_gaps") == 0


def test_job_runs_are_pruned_by_age_and_count(conn):
    conn.execute("DELETE FROM gridkit.job_runs")
    conn.execute("INSERT INTO gridkit.job_runs (job, started, finished, rows) "
                 "SELECT 'old', now() - i * interval '1 day' + interval '1 hour', now(), i "
                 "FROM generate_series(60, 1, -1) i")
    # The settings' default: 30 days.
    assert conn.execute("SELECT gridkit.job_runs_prune()").fetchone()[0] == 30
    assert conn.execute("SELECT gridkit.job_runs_prune(max_rows => 10)").fetchone()[0] == 20
    assert conn.execute("SELECT max(rows) FROM gridkit.job_runs").fetchone()[0] == 10
    # Maintenance prunes as its last step, and keeps its own log.
    conn.execute("SET gridkit.job_runs_max_rows = 5")
    try:
        steps = conn.execute("SELECT job, rows, error FROM gridkit.run_maintenance()").fetchall()
    finally:
        conn.execute("RESET gridkit.job_runs_max_rows")
    assert steps[-1][0] == "prune job runs" and steps[-1][2] is None
    assert conn.execute("SELECT count(*) FROM gridkit.job_runs").fetchone()[0] <= 6
    assert conn.execute("SELECT count(*) FROM gridkit.job_runs WHERE job = 'old'").fetchone()[0] == 0
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT gridkit.job_runs_prune(max_rows => -1)")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT gridkit.job_runs_prune(interval '-1 day')")
