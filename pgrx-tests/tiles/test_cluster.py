"""Clustered point tiles, decoded by mapbox-vector-tile and checked against
SQL over the source tables and over gridkit.cluster_leaves."""

import json
import math
import os
import re
import subprocess
import threading
import time
from collections import Counter

import psycopg
from psycopg.conninfo import make_conninfo
import pytest

from conftest import tile_of, tiles_covering
from mvtcheck import decode, ours, structure

US = (-125, 24, -66, 50)
METROS = [(-87.63, 41.88), (-75.16, 39.95), (-77.49, 39.04), (-96.8, 32.78), (-118.24, 34.05), (-122.27, 37.8)]
EXTENT = 4096
# 40 pixels of a 512-pixel tile, in tile units.
RADIUS_UNITS = 40 / 512 * EXTENT
HALF = 20037508.342789244


def features(conn, layer, z, x, y, filter=None):
    if filter is None:
        data = ours(conn, layer, z, x, y)
    else:
        data = bytes(conn.execute("SELECT grid_tile(%s, %s, %s, %s, %s::jsonb)", (layer, z, x, y, filter)).fetchone()[0])
    if not data:
        return []
    assert structure(data) == [layer]
    return decode(data)[layer]["features"]


def inside(f):
    """Whether a point feature lies in the tile proper (not its buffer), so
    each point is counted by exactly one tile."""
    x, y = f["geometry"]["coordinates"]
    return 0 <= x < EXTENT and 0 <= y < EXTENT


def metro_tiles(zooms):
    tiles = []
    for lon, lat in METROS:
        tiles += [tile_of(lon, lat, z) for z in zooms]
    return sorted(set(tiles))


@pytest.mark.parametrize("layer,table", [("pnodes", "demo.pnodes"), ("data_centers", "demo.data_centers")])
def test_every_point_is_counted_once_at_every_zoom(conn, layer, table):
    total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    for z in range(0, 6):
        counted = 0
        for t in tiles_covering(*US, z):
            counted += sum(f["properties"].get("point_count", 1) for f in features(conn, layer, *t) if inside(f))
        assert counted == total, f"zoom {z}"


@pytest.mark.parametrize("z", [0, 3])
def test_each_point_belongs_to_exactly_one_feature(conn, z):
    seen = Counter()
    for t in tiles_covering(*US, z):
        for f in features(conn, "data_centers", *t):
            if not inside(f):
                continue
            if f["properties"].get("cluster"):
                ids = [r[0] for r in conn.execute(
                    "SELECT id FROM gridkit.cluster_leaves('data_centers', %s, 100000)", (f["id"],))]
                assert len(ids) == f["properties"]["point_count"]
                seen.update(ids)
            else:
                seen[f["id"]] += 1
    all_ids = {r[0] for r in conn.execute("SELECT id FROM demo.data_centers")}
    assert set(seen) == all_ids
    assert max(seen.values()) == 1


def test_clusters_match_sql_over_their_members(conn):
    checked = 0
    for t in metro_tiles([2, 4, 6, 8]) + [(0, 0, 0)]:
        clusters = [f for f in features(conn, "data_centers", *t) if f["properties"].get("cluster")]
        clusters.sort(key=lambda f: f["properties"]["point_count"])
        for f in clusters[:3] + clusters[-3:]:
            p = f["properties"]
            count, capacity, mx, my = conn.execute(
                """SELECT count(*), sum(d.capacity_mw),
                          avg(ST_X(ST_Transform(d.geom, 3857))), avg(ST_Y(ST_Transform(d.geom, 3857)))
                     FROM gridkit.cluster_leaves('data_centers', %s, 100000) l
                     JOIN demo.data_centers d USING (id)""",
                (f["id"],),
            ).fetchone()
            mode = conn.execute(
                """SELECT mode() WITHIN GROUP (ORDER BY d.status COLLATE "C")
                     FROM gridkit.cluster_leaves('data_centers', %s, 100000) l JOIN demo.data_centers d USING (id)""",
                (f["id"],),
            ).fetchone()[0]
            assert count == p["point_count"]
            assert p["capacity_mw"] == pytest.approx(capacity, rel=1e-9)
            assert p["status"] == mode
            # The position is the centroid of the members in Web Mercator.
            z, tx, ty = t
            size = 2 * HALF / 2**z
            cx = (mx - (-HALF + tx * size)) / size * EXTENT
            cy = (HALF - ty * size - my) / size * EXTENT
            gx, gy = f["geometry"]["coordinates"]
            assert abs(gx - cx) <= 1 and abs(gy - cy) <= 1, (t, f["id"])
            assert p["expansion_zoom"] == conn.execute(
                "SELECT gridkit.cluster_expansion_zoom('data_centers', %s)", (f["id"],)).fetchone()[0]
            assert p["expansion_zoom"] > z
            checked += 1
    assert checked > 30


def test_partitioned_clusters_keep_to_their_partition(conn):
    for t in metro_tiles([0, 2, 4, 6]):
        for f in features(conn, "pnodes", *t):
            p = f["properties"]
            if not p.get("cluster"):
                continue
            isos = {r[0] for r in conn.execute(
                """SELECT DISTINCT p.iso_id FROM gridkit.cluster_leaves('pnodes', %s, 100000) l
                     JOIN demo.pnodes p USING (id)""", (f["id"],))}
            assert isos == {p["iso_id"]}
            avg = conn.execute(
                """SELECT avg(p.severity_score) FROM gridkit.cluster_leaves('pnodes', %s, 100000) l
                     JOIN demo.pnodes p USING (id)""", (f["id"],)).fetchone()[0]
            assert p["severity_score"] == pytest.approx(avg, rel=1e-9)


@pytest.mark.parametrize("layer,partition", [("data_centers", None), ("pnodes", "iso_id")])
def test_no_two_clusters_closer_than_the_radius(conn, layer, partition):
    for t in metro_tiles(range(0, 10)):
        fs = features(conn, layer, *t)
        for i, a in enumerate(fs):
            for b in fs[i + 1:]:
                if partition and a["properties"].get(partition) != b["properties"].get(partition):
                    continue
                (ax, ay), (bx, by) = a["geometry"]["coordinates"], b["geometry"]["coordinates"]
                # Positions are rounded to the grid: allow one unit each way.
                assert math.hypot(ax - bx, ay - by) >= RADIUS_UNITS - math.sqrt(2), (t, a["id"], b["id"])


def test_above_max_zoom_points_stand_alone(conn):
    shown = 0
    for t in metro_tiles([10, 11, 12]):
        fs = features(conn, "pnodes", *t)
        assert not any("cluster" in f["properties"] for f in fs)
        assert {f["id"] for f in fs} == {f["id"] for f in features(conn, "pnodes_raw", *t)}
        shown += len(fs)
    assert shown > 10


def test_lone_points_are_the_original_features(conn):
    lone = [f for t in metro_tiles([6, 8, 9]) for f in features(conn, "pnodes", *t) if not f["properties"].get("cluster")]
    assert len(lone) > 20
    for f in lone[:50]:
        row = conn.execute("SELECT name, iso_id, zone_id, node_type, severity_score, tier FROM demo.pnodes WHERE id = %s",
                           (f["id"],)).fetchone()
        p = f["properties"]
        assert (p["name"], p["iso_id"], p["zone_id"], p["node_type"], p["severity_score"], p["tier"]) == row


def test_filter_on_the_partition_reads_its_pyramid(conn):
    pjm = conn.execute("SELECT count(*) FROM demo.pnodes WHERE iso_id = 'PJM'").fetchone()[0]
    fs = features(conn, "pnodes", 0, 0, 0, '{"iso_id": "PJM"}')
    assert {f["properties"]["iso_id"] for f in fs} == {"PJM"}
    assert sum(f["properties"].get("point_count", 1) for f in fs) == pjm
    # The same clusters as the unfiltered tile shows for PJM.
    unfiltered = [f for f in features(conn, "pnodes", 0, 0, 0) if f["properties"]["iso_id"] == "PJM"]
    assert sorted(f["id"] for f in fs) == sorted(f["id"] for f in unfiltered)


def test_other_filters_cluster_on_the_fly(conn):
    for z, filt, where in [(0, '{"tier": ["critical", "elevated"]}', "tier IN ('critical', 'elevated')"),
                           (2, '{"node_type": "GEN", "iso_id": "MISO"}', "node_type = 'GEN' AND iso_id = 'MISO'")]:
        expected = conn.execute(f"SELECT count(*) FROM demo.pnodes WHERE {where}").fetchone()[0]
        assert expected > 0
        counted = 0
        for t in tiles_covering(*US, z):
            fs = features(conn, "pnodes", *t, filt)
            counted += sum(f["properties"].get("point_count", 1) for f in fs if inside(f))
            for f in fs:
                assert "cluster_id" not in f["properties"]
                if f["properties"].get("cluster"):
                    assert f["properties"]["expansion_zoom"] == z + 1
        assert counted == expected, filt


def test_filtered_lone_points_and_aggregates_match_sql(conn):
    """Filtered tiles read ids and attributes of lone points, and the inputs
    of aggregates, from the build's packed columns: each must be what SQL
    says of the source rows."""
    filt, where = '{"tier": ["critical", "elevated"]}', "tier IN ('critical', 'elevated')"
    lone, clusters = [], []
    for t in metro_tiles([7, 9]):
        for f in features(conn, "pnodes", *t, filt):
            (clusters if f["properties"].get("cluster") else lone).append(f)
    assert len(lone) > 20 and clusters
    for f in lone:
        row = conn.execute(f"""SELECT name, iso_id, zone_id, node_type, severity_score, tier
                                 FROM demo.pnodes WHERE id = %s AND {where}""", (f["id"],)).fetchone()
        assert row is not None, f["id"]
        p = f["properties"]
        assert (p["name"], p["iso_id"], p["zone_id"], p["node_type"], p["severity_score"], p["tier"]) == row
    # pnodes aggregate avg(severity_score) and mode(tier) within their ISO:
    # a filtered cluster's average lies within the range of the matching
    # rows of its ISO, and its tier is one the filter lets through.
    ranges = {iso: (lo, hi) for iso, lo, hi in conn.execute(
        f"SELECT iso_id, min(severity_score), max(severity_score) FROM demo.pnodes WHERE {where} GROUP BY 1")}
    for f in clusters:
        p = f["properties"]
        assert p["tier"] in ("critical", "elevated")
        lo, hi = ranges[p["iso_id"]]
        assert lo - 1e-9 <= p["severity_score"] <= hi + 1e-9


def test_numeric_filters_match_sql(conn):
    """Filters on integer and double attributes, tested in Rust on the
    build's packed points, select exactly what SQL selects."""
    zone = conn.execute("SELECT zone_id FROM demo.pnodes GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    scores = [r[0] for r in conn.execute(
        "SELECT severity_score FROM demo.pnodes GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3")]
    for filt, where, args in [(json.dumps({"zone_id": zone}), "zone_id = %s", (zone,)),
                              (json.dumps({"severity_score": scores}), "severity_score = ANY(%s)", (scores,)),
                              (json.dumps({"zone_id": [zone], "tier": "critical"}), "zone_id = %s AND tier = 'critical'",
                               (zone,))]:
        expected = conn.execute(f"SELECT count(*) FROM demo.pnodes WHERE {where}", args).fetchone()[0]
        counted = sum(f["properties"].get("point_count", 1)
                      for t in tiles_covering(*US, 2) for f in features(conn, "pnodes", *t, filt) if inside(f))
        assert counted == expected, filt


def test_tiles_outlive_a_build_of_another_layout(conn):
    """A build by an earlier version laid its tables out differently, and its
    settings say so (another layout number): it is not read at all. Tiles,
    filtered or not, cluster the source's rows (the same points) until the
    next refresh, rather than misread or fail on it."""
    scratch_layer(conn, "pn_layout", "public.pn_layout")
    try:
        conn.execute("SELECT gridkit.cluster_refresh('pn_layout')")
        filt = '{"tier": ["critical", "elevated"]}'
        count = lambda c, f=filt: sum(p["properties"].get("point_count", 1) for p in features(c, "pn_layout", 0, 0, 0, f))
        expected = conn.execute(
            "SELECT count(*) FROM public.pn_layout WHERE tier IN ('critical', 'elevated')").fetchone()[0]
        total = conn.execute("SELECT count(*) FROM public.pn_layout").fetchone()[0]
        assert count(conn) == expected
        # The old layout: another number, and a points store without the
        # column this one reads (reading it would fail).
        store = conn.execute("SELECT points_store::text FROM gridkit.pyramid WHERE layer = 'pn_layout'").fetchone()[0]
        conn.execute("""UPDATE gridkit.pyramid SET settings = settings || '{"layout": 0}' WHERE layer = 'pn_layout'""")
        conn.execute(f"ALTER TABLE {store} DROP COLUMN columns")
        assert conn.execute("SELECT stale FROM gridkit.layer_status() WHERE layer = 'pn_layout'").fetchone()[0]
        # A backend that loads the layer afresh (as after an upgrade).
        with psycopg.connect(os.environ["GRIDKIT_DSN"], autocommit=True) as fresh:
            assert count(fresh) == expected
            assert count(fresh, None) == total
            conn.execute("SELECT gridkit.cluster_refresh('pn_layout')")
            assert not conn.execute("SELECT stale FROM gridkit.layer_status() WHERE layer = 'pn_layout'").fetchone()[0]
            assert count(fresh) == expected
            assert count(fresh, None) == total
    finally:
        conn.execute("SELECT gridkit.layer_drop('pn_layout')")
        conn.execute("DROP TABLE public.pn_layout")


def test_filtered_tiles_show_the_same_build_as_unfiltered_ones(conn):
    scratch_layer(conn, "pn_filtered", "public.pn_filtered")
    try:
        count = lambda: sum(f["properties"].get("point_count", 1)
                            for f in features(conn, "pn_filtered", 0, 0, 0, '{"tier": ["critical", "elevated"]}'))
        before = count()
        assert before == conn.execute(
            "SELECT count(*) FROM public.pn_filtered WHERE tier IN ('critical', 'elevated')").fetchone()[0]
        conn.execute("""INSERT INTO public.pn_filtered
                        SELECT id + 10000000, name, iso_id, zone_id, node_type, severity_score, 'critical', geom
                          FROM public.pn_filtered ORDER BY id LIMIT 5""")
        # Stale: both views keep showing the build until it is refreshed.
        assert count() == before
        conn.execute("SELECT gridkit.cluster_refresh('pn_filtered')")
        assert count() == before + 5
    finally:
        conn.execute("SELECT gridkit.layer_drop('pn_filtered')")
        conn.execute("DROP TABLE public.pn_filtered")


def test_filters_on_raw_layers(conn):
    fs = features(conn, "transmission_lines", 4, 4, 6, '{"voltage_kv": [345, 500]}')
    assert fs and {f["properties"]["voltage_kv"] for f in fs} <= {345, 500}
    everything = features(conn, "transmission_lines", 4, 4, 6)
    assert len(fs) == sum(1 for f in everything if f["properties"]["voltage_kv"] in (345, 500))
    assert features(conn, "transmission_lines", 4, 4, 6, "{}") == everything


def scratch_layer(conn, name, table):
    conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    conn.execute(f"CREATE TABLE {table} AS SELECT * FROM demo.pnodes WHERE iso_id IN ('PJM', 'NYISO')")
    conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    conn.execute(f"CREATE INDEX ON {table} USING gist (geom)")
    conn.execute(
        """SELECT gridkit.layer_register(%s, %s::regclass, attributes => '{iso_id,severity_score,tier}',
               options => '{"cluster": {"max_zoom": 8, "partition_by": "iso_id",
                            "aggregates": {"severity_score": "max", "tier": "mode"}}}')""",
        (name, table),
    )


def status(conn, layer):
    return conn.execute("SELECT data_version, built_version, stale FROM gridkit.layer_status() WHERE layer = %s",
                        (layer,)).fetchone()


def pyramid_rows(conn, layer):
    storage = conn.execute("SELECT storage::text FROM gridkit.pyramid WHERE layer = %s", (layer,)).fetchone()[0]
    # Cluster ids carry the build number in their top bits; compare the rest.
    return conn.execute(
        f"""SELECT level, cluster_id & ((1::int8 << 37) - 1), source_id, point_count, expansion_zoom,
                   round(x::numeric, 6), round(y::numeric, 6), part, props
              FROM {storage} ORDER BY 1, 2, 3"""
    ).fetchall()


def test_refresh_after_changes_equals_a_fresh_build(conn):
    scratch_layer(conn, "scratch_a", "public.scratch_a")
    version, built, stale = status(conn, "scratch_a")
    assert (built, stale) == (version, False)
    conn.execute("INSERT INTO public.scratch_a SELECT id + 10000000, name, iso_id, zone_id, node_type, severity_score, "
                 "tier, ST_Translate(geom, 0.3, 0.1) FROM public.scratch_a WHERE id % 7 = 0")
    assert status(conn, "scratch_a")[2] is True
    conn.execute("UPDATE public.scratch_a SET geom = ST_Translate(geom, -0.2, 0), tier = 'low' WHERE id % 5 = 0")
    conn.execute("DELETE FROM public.scratch_a WHERE id % 11 = 0")
    version2, built2, stale2 = status(conn, "scratch_a")
    assert version2 == version + 3 and built2 == built and stale2
    # Readers keep the stale pyramid meanwhile.
    assert features(conn, "scratch_a", 0, 0, 0)
    conn.execute("SELECT gridkit.cluster_refresh('scratch_a')")
    assert status(conn, "scratch_a") == (version2, version2, False)
    conn.execute("""SELECT gridkit.layer_register('scratch_b', 'public.scratch_a', attributes => '{iso_id,severity_score,tier}',
                     options => (SELECT options FROM gridkit.layer WHERE name = 'scratch_a'))""")
    assert pyramid_rows(conn, "scratch_a") == pyramid_rows(conn, "scratch_b")
    n = conn.execute("SELECT count(*) FROM public.scratch_a").fetchone()[0]
    assert conn.execute("SELECT points FROM gridkit.pyramid WHERE layer = 'scratch_a'").fetchone()[0] == n


def test_partition_values_are_stored_whatever_the_client_encoding(conn):
    # The build writes pyramid rows with binary COPY, whose text fields
    # PostgreSQL converts from the client's encoding: a refresh from a
    # LATIN1 session must still store the values as the database has them.
    conn.execute("DROP TABLE IF EXISTS public.scratch_enc CASCADE")
    conn.execute("""CREATE TABLE public.scratch_enc AS
                    SELECT id, CASE WHEN id % 3 = 0 THEN 'Zürich' ELSE 'Genève' END AS city, geom
                      FROM demo.pnodes WHERE iso_id = 'PJM'""")
    conn.execute("""SELECT gridkit.layer_register('scratch_enc', 'public.scratch_enc', attributes => '{city}',
                        options => '{"cluster": {"max_zoom": 8, "partition_by": "city"}}')""")
    with psycopg.connect(os.environ["GRIDKIT_DSN"], autocommit=True) as latin1:
        latin1.execute("SET client_encoding = 'LATIN1'")
        latin1.execute("SELECT gridkit.cluster_refresh('scratch_enc')")
        assert latin1.execute("SHOW client_encoding").fetchone()[0] == "LATIN1"
    storage = conn.execute("SELECT storage::text FROM gridkit.pyramid WHERE layer = 'scratch_enc'").fetchone()[0]
    assert {r[0] for r in conn.execute(f"SELECT DISTINCT part FROM {storage}")} == {"Zürich", "Genève"}
    zurich = conn.execute("SELECT count(*) FROM public.scratch_enc WHERE city = 'Zürich'").fetchone()[0]
    fs = features(conn, "scratch_enc", 0, 0, 0, '{"city": "Zürich"}')
    assert {f["properties"]["city"] for f in fs} == {"Zürich"}
    assert sum(f["properties"].get("point_count", 1) for f in fs) == zurich
    conn.execute("SELECT gridkit.layer_drop('scratch_enc')")
    conn.execute("DROP TABLE public.scratch_enc")


def test_points_are_read_whatever_their_stored_form(conn):
    # A build parses points from PostGIS's stored form: with Z and M, in Web
    # Mercator, transformed from UTM on the way, and rows without a point.
    base = "SELECT id, tier, geom FROM demo.pnodes WHERE iso_id = 'PJM'"
    forms = {
        "ref": "geom",
        "zm": "ST_SetSRID(ST_MakePoint(ST_X(geom), ST_Y(geom), 10, 20), 4326)",
        "merc": "ST_Transform(geom, 3857)",
        "utm": "ST_Transform(geom, 32618)",
    }
    for name, expr in forms.items():
        table = f"public.scratch_form_{name}"
        conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        conn.execute(f"CREATE TABLE {table} AS SELECT id, tier, {expr} AS geom FROM ({base}) b")
    conn.execute("""INSERT INTO public.scratch_form_zm VALUES
                    (-1, 'low', NULL), (-2, 'low', 'SRID=4326;POINT ZM EMPTY'),
                    (-3, 'low', 'SRID=4326;MULTIPOINT((1 2))')""")
    rows = {}
    for name in forms:
        conn.execute(f"""SELECT gridkit.layer_register('scratch_form_{name}', 'public.scratch_form_{name}',
                             attributes => '{{tier}}', options => '{{"cluster": {{"max_zoom": 8}}}}')""")
        rows[name] = pyramid_rows(conn, f"scratch_form_{name}")
    n = conn.execute(f"SELECT count(*) FROM ({base}) b").fetchone()[0]
    for name, skipped in [("ref", 0), ("zm", 3), ("merc", 0), ("utm", 0)]:
        assert conn.execute("SELECT points, skipped FROM gridkit.pyramid WHERE layer = %s",
                            (f"scratch_form_{name}",)).fetchone() == (n, skipped), name
    assert rows["zm"] == rows["ref"]
    # Projected by PostGIS rather than by us: the same clusters, positions
    # equal to a millimetre.
    for name in ["merc", "utm"]:
        assert len(rows[name]) == len(rows["ref"]), name
        for a, b in zip(sorted(rows[name], key=lambda r: (r[0], r[3], r[5])), sorted(rows["ref"], key=lambda r: (r[0], r[3], r[5]))):
            assert (a[0], a[2], a[3], a[4], a[7], a[8]) == (b[0], b[2], b[3], b[4], b[7], b[8]), name
            assert abs(a[5] - b[5]) < 0.001 and abs(a[6] - b[6]) < 0.001, name
    for name in forms:
        conn.execute(f"SELECT gridkit.layer_drop('scratch_form_{name}')")
        conn.execute(f"DROP TABLE public.scratch_form_{name}")


def test_an_error_while_reading_the_source_is_raised(conn):
    # The build reads on two threads; an error half-way through the source
    # must come back as the SQL error, not hang the backend or lose it.
    conn.execute("DROP TABLE IF EXISTS public.scratch_failing_rows CASCADE")
    # Several batches of rows go to the second thread before the last row fails.
    conn.execute("""CREATE TABLE public.scratch_failing_rows AS
                    SELECT i::int8 AS id, ST_SetSRID(ST_MakePoint(-100 + (i % 1000) * 0.01, 40 + (i / 1000) * 0.01), 4326) AS geom
                      FROM generate_series(1, 30000) i ORDER BY i""")
    conn.execute("""CREATE VIEW public.scratch_failing AS
                    SELECT id, 1.0 / (id - 30000) AS ratio, geom FROM public.scratch_failing_rows""")
    with psycopg.connect(os.environ["GRIDKIT_DSN"], autocommit=True) as other:
        other.execute("SET statement_timeout = '60s'")
        with pytest.raises(psycopg.errors.DivisionByZero):
            other.execute("""SELECT gridkit.layer_register('scratch_failing', 'public.scratch_failing',
                                 attributes => '{ratio}', options => '{"cluster": {"max_zoom": 8}}')""")
        assert other.execute("SELECT 1").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM gridkit.layer WHERE name = 'scratch_failing'").fetchone() == (0,)
    conn.execute("DROP TABLE public.scratch_failing_rows CASCADE")


def test_dump_and_restore_leave_builds_out_and_a_refresh_rebuilds_them(conn):
    # Pyramids and bands (tables, their partitions, leaves and packed points)
    # are extension members: pg_dump leaves them out, the registry comes
    # back, and a refresh in the restored database builds them anew.
    bin_dir = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
    dump = "/tmp/gridkit_test_dump.custom"
    subprocess.run([f"{bin_dir}/pg_dump", "-Fc", "-f", dump, "-d", os.environ["GRIDKIT_DSN"]], check=True)
    listing = subprocess.run([f"{bin_dir}/pg_restore", "-l", dump], check=True, capture_output=True, text=True).stdout
    assert "gridkit pyramid" not in listing and not re.search(r"\b(pyramid|generalized)_\d+", listing)
    conn.execute("DROP DATABASE IF EXISTS gridkit_restored")
    conn.execute("CREATE DATABASE gridkit_restored")
    try:
        restored_dsn = make_conninfo(os.environ["GRIDKIT_DSN"], dbname="gridkit_restored")
        subprocess.run([f"{bin_dir}/pg_restore", "--exit-on-error", "-d", restored_dsn, dump], check=True)
        with psycopg.connect(restored_dsn, autocommit=True) as restored:
            row = restored.execute("SELECT clustered, built_version FROM gridkit.layer_status() WHERE layer = 'pnodes'").fetchone()
            assert row == (True, None)
            assert restored.execute("SELECT gridkit.cluster_refresh('pnodes')").fetchone()[0] == \
                conn.execute("SELECT gridkit.cluster_refresh('pnodes')").fetchone()[0]
            for z, x, y in [(0, 0, 0), (3, 2, 3)]:
                def counts(c):
                    data = bytes(c.execute("SELECT grid_tile('pnodes', %s, %s, %s)", (z, x, y)).fetchone()[0])
                    return sorted(f["properties"].get("point_count", 1) for f in decode(data)["pnodes"]["features"])
                assert counts(restored) == counts(conn), (z, x, y)
    finally:
        conn.execute("DROP DATABASE IF EXISTS gridkit_restored")
        os.remove(dump)


def test_changes_are_counted_per_committed_transaction(conn):
    scratch_layer(conn, "scratch_c", "public.scratch_c")
    v0 = status(conn, "scratch_c")[0]
    with conn.transaction():
        conn.execute("UPDATE public.scratch_c SET tier = 'low' WHERE id % 3 = 0")
        conn.execute("DELETE FROM public.scratch_c WHERE id % 13 = 0")
    assert status(conn, "scratch_c")[0] == v0 + 1
    try:
        with conn.transaction():
            conn.execute("DELETE FROM public.scratch_c")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert status(conn, "scratch_c")[0] == v0 + 1
    conn.execute("TRUNCATE public.scratch_c")
    assert status(conn, "scratch_c")[:1] == (v0 + 2,)
    assert conn.execute("SELECT gridkit.cluster_refresh('scratch_c')").fetchone()[0] == 0
    assert features(conn, "scratch_c", 0, 0, 0) == []
    assert status(conn, "scratch_c")[2] is False


def test_views_are_tracked_through_their_tables(conn):
    scratch_layer(conn, "scratch_d", "public.scratch_d")
    conn.execute("CREATE OR REPLACE VIEW public.scratch_d_view AS SELECT * FROM public.scratch_d WHERE tier <> 'low'")
    conn.execute("""SELECT gridkit.layer_register('scratch_d_view', 'public.scratch_d_view', attributes => '{tier}',
                     options => '{"cluster": {"max_zoom": 6}}')""")
    assert status(conn, "scratch_d_view")[2] is False
    conn.execute("UPDATE public.scratch_d SET tier = 'critical' WHERE id % 4 = 0")
    assert status(conn, "scratch_d_view")[2] is True


def test_readers_never_wait_and_refreshes_take_turns(conn):
    scratch_layer(conn, "scratch_e", "public.scratch_e")
    dsn = conn.info.dsn
    holder = psycopg.connect(dsn)
    try:
        holder.execute("SELECT gridkit.cluster_refresh('scratch_e')")  # open transaction, lock held
        reader = psycopg.connect(dsn, autocommit=True)
        reader.execute("SET statement_timeout = '2s'")
        t0 = time.monotonic()
        assert features(reader, "scratch_e", 0, 0, 0)
        assert time.monotonic() - t0 < 1.5

        waiter = psycopg.connect(dsn, autocommit=True)
        pid = waiter.info.backend_pid
        done = []
        th = threading.Thread(target=lambda: done.append(
            waiter.execute("SELECT gridkit.cluster_refresh('scratch_e')").fetchone()[0]))
        th.start()
        waiting = False
        for _ in range(50):
            row = reader.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s",
                                 (pid,)).fetchone()
            if row == ("Lock", "advisory"):
                waiting = True
                break
            time.sleep(0.05)
        assert waiting, "the second refresh should wait for the first"
        assert not done
        holder.commit()
        th.join(10)
        assert done and done[0] > 0
        reader.close()
        waiter.close()
    finally:
        holder.close()
    assert status(conn, "scratch_e")[2] is False
