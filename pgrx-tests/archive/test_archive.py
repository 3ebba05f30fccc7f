"""Retention archives partitions to Parquet and restores them: every value
checked with pyarrow against what the table held, statistics equal after a
restore, rollups re-materialized from restored rows, crashes between the
steps losing nothing, and the directory rules."""

import datetime
import decimal
import os
import signal
import threading
import time

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import connect

STEP_LOCK_CLASS = 1735287157
COLUMNS = "ts, node, mw, price, price_exact, ok, small, n, big, r, local, day, doc, raw, span, geom"


def make_table(conn, name, days=3, nodes=40, archive="arch"):
    """A table of every kind of column, `days` days of per-minute rows from
    2023-05-01 (long past retention), NULLs throughout, an hourly rollup."""
    conn.execute(f"SELECT gridkit.rollup_drop(name) FROM gridkit.rollup WHERE source = to_regclass('public.{name}')")
    conn.execute(f"DROP TABLE IF EXISTS public.{name} CASCADE")
    conn.execute(f"""CREATE TABLE public.{name} (
        ts timestamptz NOT NULL, node text NOT NULL, mw double precision, price numeric(10,2),
        price_exact numeric, ok boolean, small smallint, n integer, big bigint, r real,
        local timestamp, day date, doc jsonb, raw bytea, span interval, geom geometry(Point, 4326),
        mw2 double precision GENERATED ALWAYS AS (mw * 2) STORED) PARTITION BY RANGE (ts)""")
    conn.execute(f"SELECT gridkit.ts_create('public.{name}', 'ts', '1 day', premake => 0)")
    conn.execute(f"""INSERT INTO public.{name} ({COLUMNS})
        SELECT t, 'node ' || k || CASE WHEN k % 7 = 0 THEN E'\\ttab\\n"q"' ELSE '' END,
               CASE WHEN (i + k) % 13 = 0 THEN NULL ELSE ((i * k) % 1000) / 7.0 END,
               CASE WHEN (i + k) % 11 = 0 THEN NULL ELSE ((i * 31 + k) % 200000 - 100000) / 100.0 END,
               CASE WHEN (i + k) % 17 = 0 THEN NULL WHEN k = 3 THEN 'NaN'::numeric ELSE (i * k)::numeric / 3 END,
               CASE WHEN (i + k) % 5 = 0 THEN NULL ELSE (i + k) % 2 = 0 END,
               (i % 30000 - 15000)::smallint, i * k - 1000000, i::bigint * 1000000007 * k,
               CASE WHEN k = 4 THEN 'Infinity'::real ELSE (i % 997) / 3.0 END,
               t AT TIME ZONE 'America/Chicago', (t AT TIME ZONE 'UTC')::date - k,
               CASE WHEN k % 3 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'k', k, 'tags', jsonb_build_array('a', k)) END,
               CASE WHEN k % 4 = 0 THEN NULL ELSE decode(lpad(to_hex(i), 8, '0'), 'hex') END,
               make_interval(mins => i % 90, secs => k),
               CASE WHEN k % 5 = 0 THEN NULL ELSE ST_SetSRID(ST_MakePoint(-120 + k * 0.1, 35 + (i % 100) * 0.01), 4326) END
          FROM generate_series(0, {days} * 1440 - 1) i,
               LATERAL (SELECT timestamptz '2023-05-01 00:00+00' + i * interval '1 minute' AS t) tt,
               generate_series(1, {nodes}) k""")
    conn.execute(f"SELECT gridkit.ts_move_default_rows('public.{name}')")
    conn.execute(f"SELECT gridkit.rollup_create('{name}_hourly', 'public.{name}', 'ts', '1 hour', '{{node}}', "
                 "'{\"n\": \"count(*)\", \"mw_sum\": \"sum(mw)\", \"mw_max\": \"max(mw)\"}')")
    conn.execute(f"SELECT gridkit.rollup_refresh('{name}_hourly')")
    conn.execute(f"SELECT gridkit.retention_set('public.{name}', '30 days', archive => %s)", (archive,))


def rows_of(conn, name, where="true"):
    # Unconstrained numerics as text: Decimal('NaN') equals nothing.
    columns = COLUMNS.replace("price_exact", "price_exact::text")
    return conn.execute(f"SELECT {columns}, ST_AsEWKB(geom) FROM public.{name} WHERE {where} "
                        "ORDER BY ts, node").fetchall()


def statistics(conn, name):
    # Exact sums: a float sum depends on the order rows are read in.
    return conn.execute(f"""SELECT node, count(*), count(mw), min(mw), max(mw), sum(mw::numeric), sum(price), min(ts), max(ts),
                                   sum(big), count(doc), count(geom)
                              FROM public.{name} GROUP BY node ORDER BY node""").fetchall()


def archives(conn, name):
    return conn.execute("SELECT id, lower, upper, path, rows, bytes, checksum, restored_into FROM gridkit.archives "
                        "WHERE relid = %s::regclass::oid ORDER BY lower, id", (f"public.{name}",)).fetchall()


def partitions(conn, name):
    # (premake 0 still makes today's partition.)
    return [r[0] for r in conn.execute("SELECT lower FROM gridkit.ts_partitions(%s) WHERE NOT is_default "
                                       "AND lower < '2024-01-01' ORDER BY 1",
                                       (f"public.{name}",)).fetchall()]


def retention(conn, name):
    return conn.execute("SELECT gridkit.ts_apply_retention(%s)", (f"public.{name}",)).fetchone()[0]


def files_in(root, sub="arch"):
    d = root / sub
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def pyarrow_value(v):
    """A value pyarrow read, in the form psycopg gives the table's value."""
    if isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(datetime.timezone.utc)
    return v


def table_value(v):
    if isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(datetime.timezone.utc)
    if isinstance(v, datetime.timedelta):
        return v
    return v


def test_retention_archives_every_value_as_pyarrow_reads_it(conn, root):
    make_table(conn, "arch_values")
    before = rows_of(conn, "arch_values")
    assert len(before) == 3 * 1440 * 40
    assert retention(conn, "arch_values") == len(before)
    assert partitions(conn, "arch_values") == []
    listed = archives(conn, "arch_values")
    assert [(a[1].day, a[2].day) for a in listed] == [(1, 2), (2, 3), (3, 4)]
    assert sum(a[4] for a in listed) == len(before)

    by_day = {}
    for row in before:
        by_day.setdefault(row[0].astimezone(datetime.timezone.utc).day, []).append(row)
    for (_id, lower, _upper, path, rows, size, checksum, restored) in listed:
        f = root / path
        assert f.stat().st_size == size and len(checksum) == 64 and restored is None
        table = pq.read_table(f)
        schema = table.schema
        # Types a reader sees as themselves, not as text.
        assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
        assert schema.field("local").type == pa.timestamp("us")
        assert schema.field("day").type == pa.date32()
        assert schema.field("price").type == pa.decimal128(10, 2)
        assert schema.field("mw").type == pa.float64() and schema.field("r").type == pa.float32()
        assert schema.field("small").type == pa.int16() and schema.field("big").type == pa.int64()
        assert schema.field("ok").type == pa.bool_() and schema.field("raw").type == pa.binary()
        assert schema.field("node").type == pa.string()
        # The generated column is archived too (a restore computes it again).
        assert "mw2" in schema.names
        meta = pq.read_metadata(f)
        assert meta.num_rows == rows and meta.row_group(0).column(0).compression == "ZSTD"
        got = table.to_pylist()
        want = by_day[lower.day]
        assert len(got) == len(want)
        got.sort(key=lambda r: (r["ts"], r["node"]))
        for g, w in zip(got, want):
            ts, node, mw, price, price_exact, ok, small, n, big, r, local, day, doc, raw, span, _geom, ewkb = w
            assert pyarrow_value(g["ts"]) == table_value(ts)
            assert g["node"] == node and g["ok"] == ok and g["small"] == small and g["n"] == n and g["big"] == big
            assert g["mw"] == mw and g["price"] == price
            assert g["local"] == local and g["day"] == day
            if r is None:
                assert g["r"] is None
            else:
                assert g["r"] == pytest.approx(r, rel=1e-7) or (r == float("inf") and g["r"] == float("inf"))
            # Unconstrained numerics (NaN among them) keep their exact text.
            assert g["price_exact"] == price_exact
            assert (None if g["doc"] is None else __import__("json").loads(g["doc"])) == doc
            assert g["raw"] == (None if raw is None else bytes(raw))
            assert (g["span"] is None) == (span is None)
            assert (g["geom"] is None) == (ewkb is None)
            if ewkb is not None:
                assert bytes.fromhex(g["geom"]) == bytes(ewkb)


def test_archive_read_returns_the_rows_without_restoring(conn, root):
    make_table(conn, "arch_read", days=1, nodes=10)
    before = conn.execute("SELECT ts, node, mw, price, doc FROM public.arch_read ORDER BY ts, node").fetchall()
    retention(conn, "arch_read")
    (path,) = [a[3] for a in archives(conn, "arch_read")]
    n = conn.execute("SELECT count(*) FROM gridkit.archive_read(%s)", (path,)).fetchone()[0]
    assert n == len(before)
    one = conn.execute("SELECT r FROM gridkit.archive_read(%s) r LIMIT 1", (path,)).fetchone()[0]
    assert set(one) >= {"ts", "node", "mw", "price", "doc", "geom", "mw2"}
    typed = conn.execute("SELECT ts, node, mw, price, doc FROM gridkit.archive_read(NULL::public.arch_read, %s) "
                         "ORDER BY ts, node", (path,)).fetchall()
    assert typed == before
    assert partitions(conn, "arch_read") == []


def test_restore_equals_the_original_and_rematerializes_rollups(conn, root):
    make_table(conn, "arch_restore", days=3, nodes=20)
    before_rows = rows_of(conn, "arch_restore")
    before_stats = statistics(conn, "arch_restore")
    retention(conn, "arch_restore")
    assert conn.execute("SELECT count(*) FROM public.arch_restore").fetchone()[0] == 0

    # Two of the three days, by a range inside them.
    n = conn.execute("SELECT gridkit.archive_restore('public.arch_restore', '2023-05-01 12:00+00', "
                     "'2023-05-02 01:00+00')").fetchone()[0]
    assert n == 2 * 1440 * 20
    assert [p.day for p in partitions(conn, "arch_restore")] == [1, 2]
    conn.execute("SELECT gridkit.archive_restore('public.arch_restore', '2023-05-03', '2023-05-04')")
    assert rows_of(conn, "arch_restore") == before_rows
    assert statistics(conn, "arch_restore") == before_stats
    # Restoring again finds nothing left to restore.
    assert conn.execute("SELECT gridkit.archive_restore('public.arch_restore', '2023-05-01', '2023-05-04')"
                        ).fetchone()[0] == 0

    # Reprocessing a restored range: replace_range, then the rollup follows
    # the new rows although the range is long behind retention's horizon.
    conn.execute("CREATE TEMP TABLE fixed AS SELECT * FROM public.arch_restore WHERE ts >= '2023-05-02' AND ts < '2023-05-03'")
    conn.execute("ALTER TABLE fixed DROP COLUMN mw2")
    conn.execute("UPDATE fixed SET mw = 1000 + coalesce(mw, 0)")
    conn.execute("SELECT gridkit.replace_range('public.arch_restore', '2023-05-02', '2023-05-03', 'fixed')")
    conn.execute("SELECT gridkit.rollup_refresh('arch_restore_hourly')")
    wrong = conn.execute("""
        SELECT count(*) FROM (SELECT date_trunc('hour', ts, 'UTC') AS bucket, node, count(*) AS n, sum(mw) AS s
                                FROM public.arch_restore GROUP BY 1, 2) p
        FULL JOIN public.arch_restore_hourly h USING (bucket, node)
       WHERE p.n IS DISTINCT FROM h.n OR abs(p.s - h.mw_sum) > 1e-6 * abs(p.s)""").fetchone()[0]
    assert wrong == 0
    assert conn.execute("SELECT min(mw_sum) FROM public.arch_restore_hourly WHERE bucket >= '2023-05-02' "
                        "AND bucket < '2023-05-03'").fetchone()[0] > 1000


def test_a_restored_partition_is_kept_then_archived_again(conn, root):
    make_table(conn, "arch_again", days=1, nodes=5)
    retention(conn, "arch_again")
    (first,) = archives(conn, "arch_again")
    conn.execute("SELECT gridkit.archive_restore('public.arch_again', '2023-05-01', '2023-05-02', keep => '1 day')")
    # Kept for reprocessing: retention leaves it.
    assert retention(conn, "arch_again") == 0
    assert len(partitions(conn, "arch_again")) == 1
    conn.execute("UPDATE public.arch_again SET mw = -1 WHERE node = 'node 1'")
    conn.execute("UPDATE gridkit.archives SET kept_until = now() - interval '1 second' WHERE id = %s", (first[0],))
    # Retention waits for the rollup to take the change in.
    assert retention(conn, "arch_again") == 0
    conn.execute("SELECT gridkit.rollup_refresh('arch_again_hourly')")
    assert retention(conn, "arch_again") == 1440 * 5
    (second,) = archives(conn, "arch_again")
    assert second[0] != first[0] and second[6] != first[6]
    # The old file went with the commit; the new one holds the changed rows.
    assert not (root / first[3]).exists() and (root / second[3]).exists()
    table = pq.read_table(root / second[3])
    mws = [r["mw"] for r in table.to_pylist() if r["node"] == "node 1"]
    assert mws and set(mws) == {-1}


def test_rows_that_arrive_after_the_archive_get_a_file_of_their_own(conn, root):
    make_table(conn, "arch_late", days=1, nodes=3)
    retention(conn, "arch_late")
    conn.execute("INSERT INTO public.arch_late (ts, node, mw) VALUES ('2023-05-01 10:00+00', 'late', 1)")
    conn.execute("SELECT gridkit.ts_move_default_rows('public.arch_late')")
    conn.execute("SELECT gridkit.rollup_refresh('arch_late_hourly')")
    assert retention(conn, "arch_late") == 1
    listed = archives(conn, "arch_late")
    assert [a[4] for a in listed] == [1440 * 3, 1]
    assert conn.execute("SELECT gridkit.archive_restore('public.arch_late', '2023-05-01', '2023-05-02')"
                        ).fetchone()[0] == 1440 * 3 + 1


def test_a_damaged_file_is_refused_and_nothing_restored(conn, root):
    make_table(conn, "arch_damaged", days=1, nodes=5)
    retention(conn, "arch_damaged")
    (a,) = archives(conn, "arch_damaged")
    f = root / a[3]
    # Rewrite the file with one value changed, as valid Parquet.
    table = pq.read_table(f)
    mw = table.column("mw").to_pylist()
    mw[100] = 123456.0
    table = table.set_column(table.schema.get_field_index("mw"), "mw", pa.array(mw, pa.float64()))
    pq.write_table(table, f)
    with pytest.raises(psycopg.errors.DataCorrupted, match="not the 7200 it was listed with"):
        conn.execute("SELECT gridkit.archive_restore('public.arch_damaged', '2023-05-01', '2023-05-02')")
    assert conn.execute("SELECT count(*) FROM public.arch_damaged").fetchone()[0] == 0
    assert archives(conn, "arch_damaged")[0][7] is None


def waiting_on_step(conn, pid, step, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if conn.execute("""SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND locktype = 'advisory'
                                            AND NOT granted AND classid = %s AND objid = %s)""",
                        (pid, STEP_LOCK_CLASS, step)).fetchone()[0]:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("step", [1, 2, 3])
def test_a_backend_killed_between_steps_loses_nothing(conn, root, step):
    name = f"arch_crash_{step}"
    make_table(conn, name, days=1, nodes=10)
    before = rows_of(conn, name)
    holder = connect(autocommit=False)
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (STEP_LOCK_CLASS, step))
    worker = connect()
    pid = worker.info.backend_pid
    failure = []

    def run():
        try:
            worker.execute("SELECT gridkit.ts_apply_retention(%s)", (f"public.{name}",))
        except psycopg.Error as e:
            failure.append(e)

    t = threading.Thread(target=run)
    t.start()
    assert waiting_on_step(conn, pid, step), f"retention did not reach step {step}"
    os.kill(pid, signal.SIGKILL)
    t.join(60)
    assert failure, "the killed backend's statement did not fail"
    for c in (holder, worker, conn):
        try:
            c.close()
        except psycopg.Error:
            pass
    # The server restarts every backend; then nothing is lost.
    c = connect()
    assert rows_of(c, name) == before
    assert archives(c, name) == []
    # Every listed file is there; the kill left at most one unlisted file
    # (the temporary one before the rename, the renamed one after it).
    listed = {r[0] for r in c.execute("SELECT path FROM gridkit.archives").fetchall()}
    assert all((root / p).exists() for p in listed)
    unlisted = [f for f in files_in(root) if f"arch/{f}" not in listed and f"public.{name}_" in f]
    assert len(unlisted) == 1, unlisted
    if step == 1:
        assert unlisted[0].startswith(".") and unlisted[0].endswith(".tmp")
    assert c.execute("SELECT gridkit.ts_apply_retention(%s)", (f"public.{name}",)).fetchone()[0] == len(before)
    # The next archive of the table removes a temporary file left behind.
    assert [f for f in files_in(root) if f.endswith(".tmp") and f"public.{name}_" in f] == []
    (a,) = archives(c, name)
    assert pq.read_metadata(root / a[3]).num_rows == len(before)
    c.execute(f"SELECT gridkit.archive_restore('public.{name}', '2023-05-01', '2023-05-02')")
    assert rows_of(c, name) == before
    c.close()


def test_a_failed_drop_leaves_no_file(conn, root):
    make_table(conn, "arch_blocked", days=1, nodes=3)
    part = conn.execute("SELECT partition::text FROM gridkit.ts_partitions('public.arch_blocked') "
                        "WHERE NOT is_default").fetchone()[0]
    conn.execute(f"CREATE VIEW public.arch_blocked_view AS SELECT * FROM {part}")
    mine = lambda: [f for f in files_in(root) if "public.arch_blocked_" in f]  # noqa: E731
    runs = conn.execute("SELECT job, error FROM gridkit.run_maintenance() WHERE target = 'public.arch_blocked'").fetchall()
    assert any(job == "retention" and error and "depend" in error for job, error in runs), runs
    # The step's subtransaction rolled back: its file went with it.
    assert mine() == []
    assert archives(conn, "arch_blocked") == []
    assert conn.execute("SELECT count(*) FROM public.arch_blocked").fetchone()[0] == 1440 * 3
    conn.execute("DROP VIEW public.arch_blocked_view")


def test_directories_stay_inside_the_archive_root(conn, root):
    make_table(conn, "arch_dirs", days=1, nodes=1, archive="arch")
    for bad in ["../escape", "/tmp", "a/../../b", ".hidden", "a b", ""]:
        if bad == "":
            continue
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT gridkit.retention_set('public.arch_dirs', '30 days', archive => %s)", (bad,))
    # A symbolic link inside the root that leads out of it.
    link = root / "outside"
    if not link.exists():
        os.symlink("/tmp", link)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="leads outside"):
        conn.execute("SELECT gridkit.retention_set('public.arch_dirs', '30 days', archive => 'outside/x')")
    # '' stops archiving; NULL leaves the setting alone.
    conn.execute("SELECT gridkit.retention_set('public.arch_dirs', '20 days', archive => 'arch/sub')")
    conn.execute("SELECT gridkit.retention_set('public.arch_dirs', '25 days')")
    assert conn.execute("SELECT archive FROM gridkit.ts_table WHERE relid = 'public.arch_dirs'::regclass"
                        ).fetchone()[0] == "arch/sub"
    conn.execute("SELECT gridkit.retention_set('public.arch_dirs', '25 days', archive => '')")
    assert conn.execute("SELECT archive FROM gridkit.ts_table WHERE relid = 'public.arch_dirs'::regclass"
                        ).fetchone()[0] is None


def test_the_archive_directory_is_a_superusers_setting(conn, root):
    conn.execute("DROP ROLE IF EXISTS arch_user")
    conn.execute("CREATE ROLE arch_user")
    make_table(conn, "arch_priv", days=1, nodes=2)
    retention(conn, "arch_priv")
    (a,) = archives(conn, "arch_priv")
    conn.execute("SET ROLE arch_user")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET gridkit.archive_directory = '/tmp'")
        # No SELECT on the table: no reading its archive.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for archive"):
            conn.execute("SELECT count(*) FROM gridkit.archive_read(%s)", (a[3],))
    finally:
        conn.execute("RESET ROLE")
    conn.execute("GRANT SELECT ON public.arch_priv TO arch_user")
    conn.execute("SET ROLE arch_user")
    try:
        assert conn.execute("SELECT count(*) FROM gridkit.archive_read(%s)", (a[3],)).fetchone()[0] == 1440 * 2
        # Row-level security cannot filter a file: with a policy, no reading.
        conn.execute("RESET ROLE")
        conn.execute("ALTER TABLE public.arch_priv ENABLE ROW LEVEL SECURITY")
        conn.execute("SET ROLE arch_user")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM gridkit.archive_read(%s)", (a[3],))
    finally:
        conn.execute("RESET ROLE")
    with pytest.raises(psycopg.errors.UndefinedObject):
        conn.execute("SELECT count(*) FROM gridkit.archive_read('arch/no-such-file.parquet')")


def test_without_an_archive_directory_archiving_is_refused_clearly(conn, root):
    make_table(conn, "arch_unset", days=1, nodes=1, archive="arch")
    conn.execute("SET gridkit.archive_directory = ''")
    try:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="archive_directory is not set"):
            conn.execute("SELECT gridkit.retention_set('public.arch_unset', '30 days', archive => 'arch')")
        # Retention with an archive set does not drop what it cannot archive.
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            retention(conn, "arch_unset")
    finally:
        conn.execute("RESET gridkit.archive_directory")
    assert conn.execute("SELECT count(*) FROM public.arch_unset").fetchone()[0] == 1440


def test_bad_restore_arguments(conn, root):
    make_table(conn, "arch_args", days=1, nodes=1)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT gridkit.archive_restore('public.arch_args', '2023-05-02', '2023-05-01')")
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        conn.execute("SELECT gridkit.archive_restore('public.arch_args', NULL, '2023-05-01')")
    with pytest.raises(psycopg.errors.UndefinedObject):
        conn.execute("SELECT gridkit.archive_restore('pg_class', '2023-05-01', '2023-05-02')")
