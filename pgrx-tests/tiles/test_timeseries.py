"""Time-series maintenance across sessions: overlapping runs, and writers
during a move of late rows."""

import os
import threading

import psycopg


def setup_table(conn, name):
    conn.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
    conn.execute(f"CREATE TABLE {name} (k int, ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)")
    conn.execute("SELECT gridkit.ts_create(%s, 'ts', '1 day', premake => 1)", (name,))


def test_an_overlapping_run_is_skipped_and_logged(conn):
    setup_table(conn, "public.ts_overlap")
    with psycopg.connect(os.environ["GRIDKIT_DSN"]) as a, psycopg.connect(os.environ["GRIDKIT_DSN"],
                                                                            autocommit=True) as b:
        a.execute("SELECT count(*) FROM gridkit.run_maintenance()")  # holds the run's lock until commit
        rows = b.execute("SELECT job, error FROM gridkit.run_maintenance()").fetchall()
        assert rows == [("maintenance", "skipped: another run is in progress")]
        # An hourly run is the same kind as a full one.
        assert b.execute("SELECT job, error FROM gridkit.run_maintenance('hourly')").fetchall() == rows
        a.commit()
    rows = conn.execute("SELECT job, error FROM gridkit.run_maintenance()").fetchall()
    assert rows and all(error is None for _, error in rows)
    conn.execute("DROP TABLE public.ts_overlap CASCADE")


def test_no_row_is_lost_while_late_rows_move(conn):
    setup_table(conn, "public.ts_moving")
    conn.execute("""INSERT INTO public.ts_moving
                    SELECT i, timestamptz '2021-06-01 00:00+00' + i * interval '1 minute', i
                      FROM generate_series(0, 20000) i""")
    stop = threading.Event()
    written = []
    failures = []

    def writer():
        with psycopg.connect(os.environ["GRIDKIT_DSN"], autocommit=True) as w:
            i = 0
            while not stop.is_set():
                # Rows for days with no partition yet, a new day every 24
                # rows: each run attaches partitions while they arrive.
                try:
                    w.execute("INSERT INTO public.ts_moving VALUES (%s, timestamptz '2021-07-01 00:00+00' + %s * interval "
                              "'1 hour', -1)", (i, i))
                except psycopg.Error as e:
                    failures.append(str(e))
                    return
                written.append(i)
                i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(6):
            conn.execute("SELECT count(*) FROM gridkit.run_maintenance()")
    finally:
        stop.set()
        t.join()
    conn.execute("SELECT count(*) FROM gridkit.run_maintenance()")
    # Writers wait for a move; none fails.
    assert failures == []
    assert len(written) > 10
    total = conn.execute("SELECT count(*) FROM public.ts_moving").fetchone()[0]
    assert total == 20001 + len(written)
    in_default = conn.execute("SELECT count(*) FROM public.ts_moving_default").fetchone()[0]
    assert in_default == 0
    errors = conn.execute("SELECT count(*) FROM gridkit.job_runs WHERE target LIKE '%ts_moving' AND error IS NOT NULL").fetchone()[0]
    assert errors == 0
    conn.execute("DROP TABLE public.ts_moving CASCADE")
    # Dropping the table ends its management.
    assert conn.execute("SELECT count(*) FROM gridkit.ts_table WHERE relid::oid NOT IN (SELECT oid FROM pg_class)").fetchone()[0] == 0
