"""Layers on Citus tables (distributed by hash, reference, a view over a
distributed table) against the same layers on the local tables they were
copied from, on a coordinator with two workers."""

import math
import time

import mapbox_vector_tile
import psycopg
import pytest

from conftest import CITUS_POLL_MS, NODES, connect

# (demo layer whose registration is copied, local table, Citus table)
CASES = [
    ("data_centers", "demo.data_centers", "public.dc"),
    ("pnodes", "demo.pnodes", "public.pn"),
    ("zones", "demo.zones", "public.zones_ref"),
    ("transmission_lines", "demo.transmission_lines", "public.lines_dist"),
    ("data_centers", "public.dc_operating_local", "public.dc_operating"),
]
FILTERS = {"data_centers": '{"status": ["operating", "planned"]}', "pnodes": '{"tier": "critical"}',
           "zones": '{"iso_id": "PJM"}', "transmission_lines": '{"voltage_kv": [345, 500]}'}


def tile_of(lon, lat, z):
    n = 2**z
    x = min(n - 1, max(0, int((lon + 180) / 360 * n)))
    r = math.radians(lat)
    y = min(n - 1, max(0, int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))
    return z, x, y


def tiles_over(db, table):
    """Tiles at zooms 0-14 around a few of the table's features (generic
    plans start at zoom 6: both kinds are covered)."""
    points = db.execute(f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM {table} "
                        f"ORDER BY id LIMIT 4) s").fetchall()
    return sorted({tile_of(lon, lat, z) for lon, lat in points for z in (0, 2, 4, 5, 6, 8, 10, 12, 14)})


def register_like(db, name, source, demo_layer):
    attributes, options = db.execute("SELECT attributes, options FROM gridkit.layer WHERE name = %s",
                                      [demo_layer]).fetchone()
    db.execute("SELECT gridkit.layer_register(%s, %s, attributes => %s, options => %s::jsonb)",
               [name, source, attributes, psycopg.types.json.Jsonb(options)])
    status = db.execute("SELECT clustered, generalized FROM gridkit.layer_status() WHERE layer = %s", [name]).fetchone()
    if status[0]:
        db.execute("SELECT gridkit.cluster_refresh(%s)", [name])
    elif status[1]:
        db.execute("SELECT gridkit.generalize_refresh(%s)", [name])


def all_tiles(db, name, tiles, filt):
    out = []
    for z, x, y in tiles:
        out.append(db.execute("SELECT grid_tile(%s, %s, %s, %s)", [name, z, x, y]).fetchone()[0])
        if filt:
            out.append(db.execute("SELECT grid_tile(%s, %s, %s, %s, %s::jsonb)", [name, z, x, y, filt]).fetchone()[0])
    return out


@pytest.mark.parametrize("demo_layer,local,citus", CASES, ids=[c[2] for c in CASES])
def test_tiles_of_a_citus_table_equal_the_local_tables_byte_for_byte(coordinator, demo_layer, local, citus):
    db = coordinator
    name = "cmp_" + citus.split(".")[1]
    tiles = tiles_over(db, local)
    register_like(db, name, local, demo_layer)
    expected = all_tiles(db, name, tiles, FILTERS.get(demo_layer))
    register_like(db, name, citus, demo_layer)
    got = all_tiles(db, name, tiles, FILTERS.get(demo_layer))
    assert sum(len(t) for t in expected) > 0
    clustered = db.execute("SELECT clustered FROM gridkit.layer_status() WHERE layer = %s", [name]).fetchone()[0]
    addresses = [t for t in tiles for _ in (0, 1) if FILTERS.get(demo_layer) or _ == 0]
    for (z, x, y), e, g in zip(addresses, expected, got):
        if clustered:
            # A cluster's id carries its build's number: all else is equal.
            assert without_cluster_ids(g) == without_cluster_ids(e), f"{citus} tile {z}/{x}/{y} differs"
        else:
            assert g == e, f"{citus} tile {z}/{x}/{y} differs from {local}'s"
    db.execute("SELECT gridkit.layer_drop(%s)", [name])


def without_cluster_ids(tile):
    layers = mapbox_vector_tile.decode(tile)
    for layer in layers.values():
        for f in layer["features"]:
            if "point_count" in f["properties"]:
                f["properties"].pop("cluster_id", None)
                f.pop("id", None)
    return layers


def test_a_table_distributed_with_rows_in_its_heap_shows_only_its_shards(coordinator):
    db = coordinator
    db.execute("SELECT gridkit.layer_register('moved', 'public.moved')")
    tiles = [(0, 0, 0)] + tiles_over(db, "public.moved")
    before = [db.execute("SELECT grid_tile('moved', %s, %s, %s)", t).fetchone()[0] for t in tiles]
    db.execute("DELETE FROM public.moved WHERE id % 2 = 0")
    # The coordinator's own heap still holds every row it had (Citus leaves
    # them on disk): a read of the heap would show the deleted rows.
    assert db.execute("SELECT pg_relation_size('public.moved')").fetchone()[0] > 0
    for t, old in zip(tiles, before):
        db.execute("SET gridkit.index_read = on")
        tile = db.execute("SELECT grid_tile('moved', %s, %s, %s)", t).fetchone()[0]
        db.execute("SET gridkit.index_read = off")
        assert tile == db.execute("SELECT grid_tile('moved', %s, %s, %s)", t).fetchone()[0]
        assert tile != old or not old, f"tile {t} still shows the deleted rows"
    db.execute("RESET gridkit.index_read")
    db.execute("SELECT gridkit.layer_drop('moved')")


@pytest.mark.parametrize("table,layer", [("public.dc", "v_dc"), ("public.zones_ref", "v_zones")])
def test_every_write_counts_on_the_coordinator(coordinator, worker, table, layer):
    db = coordinator
    db.execute("SELECT gridkit.layer_register(%s, %s)", [layer, table])

    def version():
        return db.execute("SELECT gridkit.layer_data_version(%s)", [layer]).fetchone()[0]

    seen = [version()]
    db.execute(f"UPDATE {table} SET name = name WHERE id = 1" if table == "public.dc"
               else f"UPDATE {table} SET zone_code = zone_code WHERE id = 1")
    seen.append(version())
    db.execute(f"CREATE TEMP TABLE keep AS SELECT * FROM {table}")
    five = [r[0] for r in db.execute("SELECT id FROM keep ORDER BY id LIMIT 5")]
    db.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [five])
    seen.append(version())
    db.execute(f"INSERT INTO {table} SELECT * FROM keep WHERE id = ANY(%s)", [five])
    seen.append(version())
    # A rolled-back write counts nothing.
    with pytest.raises(psycopg.errors.RaiseException):
        with db.transaction():
            db.execute(f"DELETE FROM {table}")
            db.execute("DO $$ BEGIN RAISE EXCEPTION 'undo'; END $$")
    assert version() == seen[-1]
    db.execute(f"TRUNCATE {table}")
    seen.append(version())
    db.execute(f"INSERT INTO {table} SELECT * FROM keep")
    seen.append(version())
    db.execute("DROP TABLE keep")
    assert all(b > a for a, b in zip(seen, seen[1:])), seen
    # Compaction folds the counts on every node; versions stay as they are.
    db.execute("SELECT gridkit.compact_data_versions()")
    assert version() == seen[-1]
    assert worker.execute("SELECT count(*) FROM gridkit.source_change").fetchone()[0] == 0
    db.execute("SELECT gridkit.layer_drop(%s)", [layer])


def test_a_write_makes_the_pyramid_stale_and_refresh_stale_rebuilds_it(coordinator):
    db = coordinator
    register_like(db, "stale_pn", "public.pn", "pnodes")
    assert not db.execute("SELECT stale FROM gridkit.layer_status() WHERE layer = 'stale_pn'").fetchone()[0]
    db.execute("UPDATE public.pn SET tier = tier WHERE id = 3")
    assert db.execute("SELECT stale FROM gridkit.layer_status() WHERE layer = 'stale_pn'").fetchone()[0]
    assert ("stale_pn", "cluster pyramid") in [r[:2] for r in db.execute("SELECT * FROM gridkit.refresh_stale()")]
    assert not db.execute("SELECT stale FROM gridkit.layer_status() WHERE layer = 'stale_pn'").fetchone()[0]
    db.execute("SELECT gridkit.layer_drop('stale_pn')")


def test_cluster_leaves_and_the_spatial_functions_answer_as_on_the_local_table(coordinator):
    db = coordinator
    register_like(db, "leaves_local", "demo.pnodes", "pnodes")
    register_like(db, "leaves_citus", "public.pn", "pnodes")
    # Cluster ids carry the build's number: clusters are matched by zoom,
    # position and size, then their members compared.
    pairs = db.execute("""
        SELECT l.cluster_id, c.cluster_id
          FROM gridkit.pyramid_rows('leaves_local') l
          JOIN gridkit.pyramid_rows('leaves_citus') c
            ON c.level = l.level AND c.x = l.x AND c.y = l.y AND c.point_count = l.point_count
         WHERE l.point_count > 1
         ORDER BY l.level, l.cluster_id""").fetchall()
    clusters = db.execute("SELECT count(*) FROM gridkit.pyramid_rows('leaves_local') WHERE point_count > 1").fetchone()[0]
    assert len(pairs) == clusters > 0
    for local_id, citus_id in pairs[:: max(1, len(pairs) // 20)]:
        local = db.execute("SELECT * FROM gridkit.cluster_leaves('leaves_local', %s, 100000) ORDER BY id",
                           [local_id]).fetchall()
        assert db.execute("SELECT * FROM gridkit.cluster_leaves('leaves_citus', %s, 100000) ORDER BY id",
                          [citus_id]).fetchall() == local
        assert local
    db.execute("SELECT gridkit.layer_register('sp_local', 'demo.data_centers', attributes => '{name,status}')")
    db.execute("SELECT gridkit.layer_register('sp_citus', 'public.dc', attributes => '{name,status}')")
    for sql in ["SELECT * FROM gridkit.nearby(%s, -87.6, 41.9, 300000) ORDER BY distance_m, id",
                "SELECT * FROM gridkit.bbox(%s, -100, 30, -80, 45) ORDER BY id",
                "SELECT * FROM gridkit.within(%s, '{\"type\": \"Polygon\", \"coordinates\": "
                "[[[-100,30],[-90,30],[-90,40],[-100,40],[-100,30]]]}') ORDER BY id",
                "SELECT * FROM gridkit.along_route(%s, '[[-100,30],[-90,40]]', 50000) ORDER BY distance_m, id",
                "SELECT gridkit.feature(%s, 7)"]:
        local = db.execute(sql, ["sp_local"]).fetchall()
        assert local and db.execute(sql, ["sp_citus"]).fetchall() == local, sql
    for layer in ("leaves_local", "leaves_citus", "sp_local", "sp_citus"):
        db.execute("SELECT gridkit.layer_drop(%s)", [layer])


def test_a_layer_on_a_citus_table_is_registered_on_the_coordinator(coordinator, worker):
    with pytest.raises(psycopg.Error) as e:
        worker.execute("SELECT gridkit.layer_register('from_worker', 'public.dc')")
    assert e.value.diag.sqlstate == "0A000"
    assert "coordinator" in e.value.diag.message_primary


def test_dropping_a_layer_drops_its_triggers_on_every_shard(coordinator, worker):
    db = coordinator
    db.execute("SELECT gridkit.layer_register('drop_me', 'public.lines_dist')")
    count = ("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'gridkit_data_version%' "
             "AND tgrelid::regclass::text LIKE 'lines_dist%'")
    worker.execute("SET citus.show_shards_for_app_name_prefixes = '*'")
    assert worker.execute(count).fetchone()[0] > 1
    db.execute("SELECT gridkit.layer_drop('drop_me')")
    assert worker.execute(count).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.lines_dist'::regclass "
                      "AND tgname LIKE 'gridkit%'").fetchone()[0] == 0


def test_the_server_caches_tiles_of_a_citus_layer_and_follows_its_writes(coordinator, server):
    db = coordinator
    db.execute("SELECT gridkit.layer_register('served', 'public.dc', attributes => '{capacity_mw}')")
    db.execute("SELECT gridkit.api_grant('gridkit_web')")
    deadline = time.monotonic() + 5
    while server.json("/api/layers")[1] and "served" not in [l["name"] for l in server.json("/api/layers")[1]]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    layers = {l["name"]: l for l in server.json("/api/layers")[1]}
    assert layers["served"]["notified"] is False and layers["data_centers"]["notified"] is True
    path = "/tiles/served/0/0/0.mvt"
    status, h1, t1 = server.tile(path)
    hits = server.metric("tile_cache_hits")
    assert server.tile(path)[1]["etag"] == h1["etag"] and server.metric("tile_cache_hits") == hits + 1
    assert server.get(path, {"If-None-Match": h1["etag"]})[0] == 304
    db.execute("UPDATE public.dc SET capacity_mw = capacity_mw + 1 WHERE id = 1")
    changed = time.monotonic()
    while True:
        status, h2, t2 = server.tile(path)
        if h2["etag"] != h1["etag"]:
            break
        assert time.monotonic() - changed < CITUS_POLL_MS / 1000 + 3, "the write never reached the server"
        time.sleep(0.02)
    assert t2 != t1 and t2 == db.execute("SELECT grid_tile('served', 0, 0, 0)").fetchone()[0]
    db.execute("SELECT gridkit.layer_drop('served')")


def test_a_time_series_distributed_by_key_is_managed_like_a_local_one(coordinator):
    db = coordinator
    for table in ("public.lmp_local", "public.lmp_dist"):
        db.execute("SELECT gridkit.ts_create(%s, 'ts', '7 days', premake => 1)", [table])
        # Two weeks of 2024 land in the default partition, then move out.
        db.execute(f"INSERT INTO {table} SELECT * FROM public.lmp_rows")
        assert db.execute("SELECT gridkit.ts_move_default_rows(%s)", [table]).fetchone()[0] == 1344
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1344
    def partitions(table):
        bounds = db.execute("SELECT lower, upper FROM gridkit.ts_partitions(%s) WHERE NOT is_default "
                            "ORDER BY lower", [table]).fetchall()
        return [(lo, hi, db.execute(f"SELECT count(*) FROM {table} WHERE ts >= %s AND ts < %s", [lo, hi]).fetchone()[0])
                for lo, hi in bounds]

    local = partitions("public.lmp_local")
    assert len(local) >= 3 and partitions("public.lmp_dist") == local
    # Citus copied the moved rows into the new partitions' shards; the
    # copies ATTACH left in the coordinator's heap are gone.
    for (partition,) in db.execute("SELECT partition FROM gridkit.ts_partitions('public.lmp_dist') "
                                   "WHERE lower < '2025-01-01'"):
        assert db.execute("SELECT pg_relation_size(%s)", [partition]).fetchone()[0] == 0, partition
    window = ["2024-06-03 00:00+00", "2024-06-17 00:00+00"]
    for sql in ["SELECT * FROM gridkit.history(%s, '{\"pnode_id\": \"a1\"}', %s, %s, max_points => 14, "
                "value_column => 'lmp')",
                "SELECT * FROM gridkit.history(%s, '{\"pnode_id\": \"b1\"}', %s, %s, value_column => 'energy')",
                "SELECT * FROM gridkit.zone_classify(%s, %s, %s, iso_column => 'iso')",
                "SELECT * FROM gridkit.pnode_severity(%s, %s, %s, iso_column => 'iso', min_hours => 1)"]:
        expected = db.execute(sql, ["public.lmp_local", *window]).fetchall()
        got = db.execute(sql, ["public.lmp_dist", *window]).fetchall()
        # Workers sum their shards' floats, then the coordinator sums those:
        # another order of the same additions, equal to the last few bits.
        assert expected and len(got) == len(expected), sql
        for g, e in zip(got, expected):
            assert g == pytest.approx(e, rel=1e-12, abs=1e-12), sql
    # Retention drops the same partitions.
    for table in ("public.lmp_local", "public.lmp_dist"):
        db.execute("SELECT gridkit.retention_set(%s, '30 days')", [table])
        assert db.execute("SELECT gridkit.ts_apply_retention(%s)", [table]).fetchone()[0] == 1344
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


ROLLUP_AGGREGATES = ('{"avg": "avg(lmp)", "n": "count(*)", "congestion": "sum(congestion)", '
                     '"peak": "max(lmp)", "sd": "stddev(energy)"}')


def lmp_series(db, table, where="true"):
    """Time-series table `table` like public.lmp_local (distributed by
    pnode_id when its name says dist), holding the LMP rows `where` says."""
    db.execute(f"CREATE TABLE {table} (LIKE public.lmp_local) PARTITION BY RANGE (ts)")
    if "dist" in table:
        db.execute("SELECT create_distributed_table(%s, 'pnode_id')", [table])
    db.execute("SELECT gridkit.ts_create(%s, 'ts', '7 days', premake => 0)", [table])
    db.execute(f"INSERT INTO {table} SELECT * FROM public.lmp_rows WHERE {where}")


def series_pair(db, suffix):
    """A local and a distributed (by pnode_id) time-series table holding the
    two weeks of LMP rows, each with an hourly rollup of the same definition
    refreshed once. Returns the two table names."""
    tables = (f"public.rl_local_{suffix}", f"public.rl_dist_{suffix}")
    for table in tables:
        lmp_series(db, table)
        db.execute("SELECT gridkit.ts_move_default_rows(%s)", [table])
        name = table.split(".")[1] + "_hourly"
        db.execute("SELECT gridkit.rollup_create(%s, %s, 'ts', '1 hour', ARRAY['pnode_id'], %s)",
                   [name, table, ROLLUP_AGGREGATES])
        db.execute("SELECT gridkit.rollup_refresh(%s)", [name])
    return tables


def drop_pair(db, tables):
    for table in tables:
        db.execute("SELECT gridkit.rollup_drop(%s)", [table.split(".")[1] + "_hourly"])
        db.execute(f"DROP TABLE {table}")


def rollup_rows(db, table):
    return db.execute(f"SELECT bucket, pnode_id, avg, n, congestion, peak, sd FROM {table}_hourly "
                      "ORDER BY bucket, pnode_id").fetchall()


def assert_rollups_equal(db, tables):
    local, dist = (rollup_rows(db, t) for t in tables)
    assert local and len(dist) == len(local)
    for d, l in zip(dist, local):
        assert d[:2] == l[:2]
        # Sums are exact; stddev's float arithmetic may differ in its last bits.
        assert d == pytest.approx(l, rel=1e-12, abs=1e-12)


def changes_on_workers(table):
    """Rows of the change table's shards, read on each worker that holds
    them: (rows on worker 1, rows on worker 2)."""
    counts = []
    for node in NODES[1:]:
        with connect(*node) as c:
            c.execute("SET citus.override_table_visibility = off")
            shards = [r[0] for r in c.execute(
                "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relname ~ %s",
                [f"^{table.split('.')[1]}_rollup_changes_[0-9]+$"]).fetchall()]
            counts.append(sum(c.execute(f"SELECT count(*) FROM {s}").fetchone()[0] for s in shards))
    return counts


def test_rollups_of_a_citus_series_stay_equal_to_a_local_ones(coordinator, worker):
    db = coordinator
    tables = series_pair(db, "r")
    assert_rollups_equal(db, tables)
    # Late rows (COPY and INSERT), updates and deletes, the same on both.
    for table in tables:
        with db.cursor().copy(f"COPY {table} FROM STDIN") as cp:
            for h in range(48):
                cp.write_row((f"2024-06-04 {h % 24:02}:30+00", "X", "A", "a1", 90.0 + h, 30.0, 20.0, 0.5))
        db.execute(f"INSERT INTO {table} SELECT ts + interval '15 minutes', iso, zone, pnode_id, lmp + 1, energy, "
                   "congestion, loss FROM public.lmp_rows WHERE pnode_id IN ('b1', 'c1') AND ts < '2024-06-05'")
        db.execute(f"UPDATE {table} SET lmp = lmp * 2 WHERE ts >= '2024-06-10' AND ts < '2024-06-11'")
        db.execute(f"DELETE FROM {table} WHERE pnode_id = 'a2' AND ts >= '2024-06-12'")
    # The shards logged their changes on the workers, where the writes ran.
    logged = sum(changes_on_workers(tables[1]))
    assert logged > 0
    assert db.execute("SELECT pending_changes FROM gridkit.rollups WHERE name = 'rl_dist_r_hourly'").fetchone()[0] \
        >= logged
    for table in tables:
        db.execute("SELECT gridkit.rollup_refresh(%s)", [table.split(".")[1] + "_hourly"])
    assert_rollups_equal(db, tables)
    assert db.execute(f"SELECT count(*) FROM {tables[1]}_rollup_changes").fetchone()[0] == 0
    # A refresh that aborts leaves the workers' log in place.
    for table in tables:
        db.execute(f"INSERT INTO {table} VALUES ('2024-06-06 05:10+00', 'X', 'A', 'a1', 100, 1, 1, 0)")
    with pytest.raises(psycopg.errors.QueryCanceled):
        with db.transaction():
            db.execute("SELECT gridkit.rollup_refresh('rl_dist_r_hourly')")
            db.execute("SET LOCAL statement_timeout = 1")
            db.execute("SELECT pg_sleep(1)")
    assert db.execute(f"SELECT count(*) FROM {tables[1]}_rollup_changes").fetchone()[0] == 1
    for table in tables:
        db.execute("SELECT gridkit.rollup_refresh(%s)", [table.split(".")[1] + "_hourly"])
    assert_rollups_equal(db, tables)
    # The realtime views and history read through the rollup agree too.
    for sql in ["SELECT bucket, pnode_id, n, congestion FROM {}_hourly_realtime ORDER BY 1, 2",
                "SELECT * FROM gridkit.history('{}', '{{\"pnode_id\": \"a1\"}}', '2024-06-03', '2024-06-17', "
                "max_points => 100, value_column => 'lmp')"]:
        local, dist = (db.execute(sql.format(t)).fetchall() for t in tables)
        assert local and dist == pytest.approx(local, rel=1e-12), sql
    # TRUNCATE runs on the coordinator, and is logged there.
    for table in tables:
        db.execute(f"TRUNCATE {table}")
        db.execute("SELECT gridkit.rollup_refresh(%s)", [table.split(".")[1] + "_hourly"])
        assert db.execute(f"SELECT count(*) FROM {table}_hourly").fetchone()[0] == 0
    drop_pair(db, tables)
    # The change table and the shards' triggers went with the last rollup.
    assert db.execute("SELECT to_regclass('public.rl_dist_r_rollup_changes')").fetchone()[0] is None
    worker.execute("SET citus.override_table_visibility = off")
    assert worker.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'gridkit_rollup%'").fetchone()[0] == 0


def test_a_partition_made_later_logs_its_rows_on_its_shards(coordinator):
    db = coordinator
    tables = series_pair(db, "p")
    for table in tables:
        # A week after the last: ts_create made no partition for it yet.
        db.execute("SELECT gridkit._ts_make_range(%s, '2024-06-17', '2024-06-24')", [table])
        db.execute(f"INSERT INTO {table} SELECT ts + interval '14 days', iso, zone, pnode_id, lmp, energy, "
                   "congestion, loss FROM public.lmp_rows WHERE ts < '2024-06-10'")
        assert db.execute("SELECT count(*) FROM gridkit.ts_partitions(%s) WHERE lower = '2024-06-17'",
                          [table]).fetchone()[0] == 1
    assert db.execute(f"SELECT count(*) FROM {tables[1]}_rollup_changes").fetchone()[0] > 0
    for table in tables:
        db.execute("SELECT gridkit.rollup_refresh(%s)", [table.split(".")[1] + "_hourly"])
    assert_rollups_equal(db, tables)
    assert db.execute(f"SELECT count(*) FROM {tables[1]}_hourly WHERE bucket >= '2024-06-17'").fetchone()[0] == 672
    drop_pair(db, tables)


def test_latest_values_of_a_citus_series_equal_a_local_ones(coordinator):
    db = coordinator
    tables = ("public.lv_local", "public.lv_dist")
    for table in tables:
        lmp_series(db, table, "ts < '2024-06-10'")
        db.execute("SELECT gridkit.latest_enable(%s, '{pnode_id}')", [table])
    def latest():
        return [db.execute(f"SELECT * FROM {t}_latest ORDER BY pnode_id").fetchall() for t in tables]
    local, dist = latest()
    assert len(local) == 4 and dist == local
    # New rows, a late row (older than what is kept), an update and a delete
    # of the newest rows: each key's row follows, the same on both.
    for table in tables:
        db.execute(f"INSERT INTO {table} SELECT * FROM public.lmp_rows WHERE ts >= '2024-06-10' AND pnode_id <> 'c1'")
        db.execute(f"INSERT INTO {table} VALUES ('2024-06-01 00:00+00', 'X', 'C', 'c1', 1, 1, 1, 0)")
        db.execute(f"UPDATE {table} SET lmp = -1 WHERE pnode_id = 'a1' AND ts = '2024-06-16 23:00+00'")
        db.execute(f"DELETE FROM {table} WHERE pnode_id = 'b1' AND ts >= '2024-06-16 12:00+00'")
    local, dist = latest()
    assert dist == local
    by_key = {r[3]: r for r in dist}
    assert by_key["a1"][4] == -1 and str(by_key["b1"][0]).startswith("2024-06-16 11:00")
    assert str(by_key["c1"][0]).startswith("2024-06-09 23:00")
    api = [db.execute("SELECT api.latest(%s)", [t]).fetchall() for t in tables]
    assert api[1] == api[0]
    for table in tables:
        db.execute(f"TRUNCATE {table}")
    assert latest() == [[], []]
    for table in tables:
        db.execute("SELECT gridkit.latest_disable(%s)", [table])
        db.execute(f"DROP TABLE {table}")


@pytest.mark.parametrize("sql,message", [
    ("SELECT gridkit.rollup_create('ref_daily', 'public.ref_series', 'ts', '1 day', ARRAY['id'], "
     "'{\"n\": \"count(*)\"}')", "rollups of a Citus table (reference) are not supported"),
    ("SELECT gridkit.latest_enable('public.lmp_dist', '{zone}')",
     "latest values of public.lmp_dist must be kept by keys that include its distribution column pnode_id"),
])
def test_what_a_citus_table_cannot_have_is_refused_by_name(coordinator, sql, message):
    db = coordinator
    if db.execute("SELECT to_regclass('public.ref_series') IS NULL").fetchone()[0]:
        db.execute("CREATE TABLE public.ref_series (ts timestamptz NOT NULL, id int NOT NULL, v float8)")
        db.execute("SELECT create_reference_table('public.ref_series')")
    db.execute("SELECT gridkit.ts_create('public.lmp_dist', 'ts', '7 days', premake => 0)")
    with pytest.raises(psycopg.Error) as e:
        db.execute(sql)
    assert e.value.diag.sqlstate == "0A000"
    assert e.value.diag.message_primary == message
    for table in ("public.lmp_dist", "public.ref_series"):
        assert db.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass "
                          "AND tgname LIKE 'gridkit_%%' AND tgname NOT LIKE 'gridkit_data_version%%'",
                          [table]).fetchone()[0] == 0


def test_a_rollup_of_a_citus_table_is_made_on_the_coordinator(worker):
    with pytest.raises(psycopg.Error) as e:
        worker.execute("SELECT gridkit.rollup_create('w_hourly', 'public.lmp_dist', 'ts', '1 hour', "
                       "ARRAY['pnode_id'], '{\"n\": \"count(*)\"}')")
    assert e.value.diag.sqlstate == "0A000"
    assert e.value.diag.message_primary == "a rollup of a Citus table is made on the coordinator"


def test_converting_a_distributed_table_keeps_it_distributed_and_colocated(coordinator):
    db = coordinator
    for table in ("public.conv_local", "public.conv_dist"):
        db.execute(f"CREATE TABLE {table} (ts timestamptz NOT NULL, pnode_id text NOT NULL, "
                   "lmp float8 CHECK (lmp > -1000), PRIMARY KEY (pnode_id, ts))")
        if "dist" in table:
            db.execute("SELECT create_distributed_table(%s, 'pnode_id')", [table])
        db.execute(f"INSERT INTO {table} SELECT ts, pnode_id, lmp FROM public.lmp_rows")
        db.execute("SELECT gridkit.ts_convert(%s, 'ts', '7 days', premake => 0)", [table])
    assert db.execute("SELECT gridkit._citus_table('public.conv_dist'::regclass), "
                      "gridkit._citus_distribution_column('public.conv_dist'::regclass)::text").fetchone() \
        == ("distributed", "pnode_id")
    # Colocated with what it was converted from, its partitions distributed.
    assert db.execute("SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid IN "
                      "('public.conv_dist'::regclass, 'public.conv_dist_unpartitioned'::regclass)").fetchone()[0] == 1
    parts = db.execute("SELECT partition FROM gridkit.ts_partitions('public.conv_dist')").fetchall()
    assert len(parts) >= 3
    for (p,) in parts:
        assert db.execute("SELECT gridkit._citus_table(%s::regclass)", [p]).fetchone()[0] == "distributed"
    rows = [db.execute(f"SELECT * FROM {t} ORDER BY pnode_id, ts").fetchall()
            for t in ("public.conv_local", "public.conv_dist")]
    assert len(rows[0]) == 1344 and rows[1] == rows[0]
    # The coordinator's heaps hold none of the rows.
    assert db.execute("SELECT sum(pg_relation_size(partition)) "
                      "FROM gridkit.ts_partitions('public.conv_dist')").fetchone()[0] == 0
    for table in ("public.conv_local", "public.conv_dist"):
        db.execute(f"DROP TABLE {table}, {table}_unpartitioned")


def test_converting_a_reference_table_is_refused_with_the_way_to_do_it(coordinator):
    db = coordinator
    db.execute("CREATE TABLE public.plain_ref (ts timestamptz NOT NULL, pnode_id text NOT NULL, lmp float8)")
    db.execute("SELECT create_reference_table('public.plain_ref')")
    with pytest.raises(psycopg.Error) as e:
        db.execute("SELECT gridkit.ts_convert('public.plain_ref', 'ts')")
    assert e.value.diag.sqlstate == "0A000"
    assert e.value.diag.message_primary == "ts_convert cannot convert public.plain_ref (a Citus reference table)"
    assert "create_distributed_table" in e.value.diag.message_hint
    assert db.execute("SELECT to_regclass('public.plain_ref') IS NOT NULL").fetchone()[0]
    db.execute("DROP TABLE public.plain_ref")
