"""One access decision for every read path (issue 19): for each kind of
restricted role, every read path returns what the role would get from plain
SQL over the rows it can see, or 42501. Tiles are decoded with
mapbox-vector-tile; the expected rows come from queries the role runs itself.

Roles (all with USAGE on schema acc):
  acc_rls     SELECT on everything; row-level security shows it ids divisible
              by 3 (and even sensors of the readings)
  acc_hidden  SELECT on everything; row-level security with no policy for it
  acc_nosel   no SELECT at all
  acc_cols    SELECT on some columns of the sites only
  acc_viewer  SELECT on two views owned by acc_vowner: a plain one (fixed
              rows, whoever reads it) and a security_barrier one that shows
              each reader its own rows (current_user)
"""

import json

import psycopg
import pytest

from conftest import As, tile_of
from conftest import tile_features as tile
from mvtcheck import decode

ROLES = ["acc_rls", "acc_hidden", "acc_nosel", "acc_cols", "acc_viewer", "acc_vowner"]
# Around every site (great-circle edges: the southern one bulges to 24°N).
WORLD = [[[-130, 20], [-60, 20], [-60, 50], [-130, 50], [-130, 20]]]
# A z10 tile holding a few sites (past the clustering zooms), one z6 tile
# crossed by some lines. Tiles hold what lies within their 64-unit buffer.
SITE_TILE = tile_of(-119.99, 34.01, 10)
LINE_TILE = tile_of(-110, 37, 6)


@pytest.fixture(scope="module")
def acc(conn):
    drop = "; ".join(f"DROP ROLE IF EXISTS {r}" for r in ROLES)
    conn.execute("DROP SCHEMA IF EXISTS acc CASCADE; " + drop)
    for r in ROLES:
        conn.execute(f"CREATE ROLE {r}")
    conn.execute("""
        CREATE SCHEMA acc;
        GRANT USAGE ON SCHEMA acc TO acc_rls, acc_hidden, acc_nosel, acc_cols, acc_viewer, acc_vowner;
        GRANT CREATE ON SCHEMA acc TO acc_vowner;
        -- 300 points over North America, in tight groups; each has an owner.
        CREATE TABLE acc.sites AS
        SELECT i AS id, 'site ' || i AS name, (i % 97)::float8 AS mw,
               (ARRAY['acc_viewer', 'acc_vowner', 'acc_rls'])[1 + i % 3]::name AS owner_name,
               ST_SetSRID(ST_MakePoint(-120 + (i % 10) * 5 + (i / 10) * 0.001, 30 + (i % 7) * 2 + (i / 10) * 0.001), 4326) AS geom
          FROM generate_series(1, 300) i;
        ALTER TABLE acc.sites ADD PRIMARY KEY (id);
        CREATE INDEX ON acc.sites USING gist (geom);
        -- 30 long lines.
        CREATE TABLE acc.lines AS
        SELECT i AS id, 'line ' || i AS label,
               ST_SetSRID(ST_MakeLine(ST_MakePoint(-125 + i, 28 + (i % 5)), ST_MakePoint(-115 + i, 45 - (i % 5))), 4326) AS geom
          FROM generate_series(1, 30) i;
        ALTER TABLE acc.lines ADD PRIMARY KEY (id);
        CREATE INDEX ON acc.lines USING gist (geom);
        GRANT SELECT ON acc.sites, acc.lines TO acc_rls, acc_hidden, acc_vowner;
        GRANT SELECT (id, geom, name) ON acc.sites TO acc_cols;
        ALTER TABLE acc.sites ENABLE ROW LEVEL SECURITY;
        ALTER TABLE acc.lines ENABLE ROW LEVEL SECURITY;
        CREATE POLICY thirds ON acc.sites FOR SELECT TO acc_rls USING (id % 3 = 0);
        CREATE POLICY thirds ON acc.lines FOR SELECT TO acc_rls USING (id % 3 = 0);
        CREATE POLICY everything ON acc.sites FOR SELECT TO acc_vowner USING (true);
        CREATE POLICY everything ON acc.lines FOR SELECT TO acc_vowner USING (true);
    """)
    conn.execute("""
        SET ROLE acc_vowner;
        CREATE VIEW acc.big_sites AS SELECT id, name, mw, geom FROM acc.sites WHERE mw > 40;
        CREATE VIEW acc.my_sites WITH (security_barrier) AS
            SELECT id, name, mw, geom FROM acc.sites WHERE owner_name = current_user;
        CREATE VIEW acc.my_sites_plain AS
            SELECT id, name, mw, geom FROM acc.sites WHERE owner_name = session_user OR owner_name = current_user;
        GRANT SELECT ON acc.big_sites, acc.my_sites, acc.my_sites_plain TO acc_viewer, acc_rls;
        RESET ROLE;
    """)
    # Readings: a time series with an hourly rollup and latest values.
    conn.execute("""
        CREATE TABLE acc.readings (sensor_id int NOT NULL, ts timestamptz NOT NULL, value float8) PARTITION BY RANGE (ts);
        SELECT gridkit.ts_create('acc.readings', 'ts', '1 day', premake => 2);
        INSERT INTO acc.readings
        SELECT s, timestamptz '2026-11-01 00:00+00' + m * interval '1 minute', s * 10 + (m % 60)
          FROM generate_series(1, 4) s, generate_series(0, 3 * 1440 - 1) m;
        SELECT gridkit.rollup_create('acc_readings_hourly', 'acc.readings', 'ts', '1 hour', '{sensor_id}',
                                     '{"value_avg": "avg(value)"}');
        SELECT gridkit.rollup_refresh('acc_readings_hourly');
        SELECT gridkit.latest_enable('acc.readings', '{sensor_id}');
        GRANT SELECT ON acc.readings TO acc_rls, acc_hidden;
        GRANT SELECT ON acc.acc_readings_hourly, acc.acc_readings_hourly_realtime, acc.readings_latest
            TO acc_rls, acc_hidden;
        ALTER TABLE acc.readings ENABLE ROW LEVEL SECURITY;
        CREATE POLICY even ON acc.readings FOR SELECT TO acc_rls USING (sensor_id % 2 = 0);
    """)
    conn.execute("""
        SELECT gridkit.layer_register('acc_sites', 'acc.sites', attributes => '{name,mw}');
        SELECT gridkit.layer_register('acc_sites_c', 'acc.sites', attributes => '{name,mw}',
            options => '{"cluster": {"radius": 60, "max_zoom": 8, "aggregates": {"mw": "sum"}}}');
        SELECT gridkit.layer_register('acc_lines', 'acc.lines', attributes => '{label}');
        SELECT gridkit.layer_register('acc_big', 'acc.big_sites', id_column => 'id', attributes => '{name,mw}',
            options => '{"cluster": {"radius": 60, "max_zoom": 8, "aggregates": {"mw": "sum"}}}');
        SELECT gridkit.layer_register('acc_mine', 'acc.my_sites', id_column => 'id', attributes => '{name,mw}',
            options => '{"cluster": {"radius": 60, "max_zoom": 8, "aggregates": {"mw": "sum"}}}');
        SELECT gridkit.layer_register('acc_mine_plain', 'acc.my_sites_plain', id_column => 'id',
            attributes => '{name,mw}', options => '{"cluster": {"radius": 60, "max_zoom": 8}}');
        SELECT gridkit.cluster_refresh('acc_sites_c');
        SELECT gridkit.cluster_refresh('acc_big');
        SELECT gridkit.cluster_refresh('acc_mine');
        SELECT gridkit.cluster_refresh('acc_mine_plain');
        SELECT gridkit.generalize_refresh('acc_lines');
    """)
    # The api, for the roles whose grants are already what api_grant gives.
    conn.execute("SELECT gridkit.api_grant('acc_rls'); SELECT gridkit.api_grant('acc_hidden')")
    yield
    conn.execute("RESET ROLE")
    conn.execute("DELETE FROM gridkit.api_role WHERE role IN ('acc_rls', 'acc_hidden')")
    for layer in ["acc_sites", "acc_sites_c", "acc_lines", "acc_big", "acc_mine", "acc_mine_plain"]:
        conn.execute("SELECT gridkit.layer_drop(%s)", (layer,))
    conn.execute("SELECT gridkit.rollup_drop('acc_readings_hourly'); SELECT gridkit.latest_disable('acc.readings')")
    conn.execute("DROP SCHEMA acc CASCADE")
    for r in ROLES:
        conn.execute(f"DROP OWNED BY {r}; DROP ROLE {r}")


def ids(conn, sql, *args):
    return sorted(r[0] for r in conn.execute(sql, args).fetchall())


def points_and_mw(features):
    count = sum(f["properties"].get("point_count", 1) for f in features)
    return count, sum(f["properties"].get("mw", 0) for f in features)


def denied(conn, sql, *args, match=None):
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=match):
        conn.execute(sql, args)


# What each role sees of the sites, by plain SQL (as the role), and whether
# it may read them all (the derived data may serve it).
SITE_VIEWS = {
    "postgres": ("acc.sites", "full"),
    "acc_rls": ("acc.sites", "row_filtered"),
    "acc_hidden": ("acc.sites", "row_filtered"),
}


@pytest.mark.parametrize("role", ["postgres", "acc_rls", "acc_hidden"])
def test_point_tiles_show_the_rows_sql_shows(conn, acc, role):
    with As(conn, role) as c:
        visible = ids(c, "SELECT id FROM acc.sites")
        assert c.execute("SELECT gridkit.layer_access('acc_sites')").fetchone()[0] == SITE_VIEWS[role][1]
        # Every point at z0 (plain layer): the same ids.
        assert sorted(f["id"] for f in tile(c, "acc_sites")) == visible
        # A z10 tile through the index read: the ids inside it.
        z, x, y = SITE_TILE
        inside = ids(c, "SELECT id FROM acc.sites WHERE geom && ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096), 4326)",
                     z, x, y)
        assert sorted(f["id"] for f in tile(c, "acc_sites", z, x, y)) == inside
        # Clustered: every visible point counted once, mw summed over them.
        count, mw = c.execute("SELECT count(*), coalesce(sum(mw), 0) FROM acc.sites").fetchone()
        for zxy in [(0, 0, 0), (3, 1, 3)]:
            shown = tile(c, "acc_sites_c", *zxy)
            if zxy == (0, 0, 0):
                assert points_and_mw(shown) == (count, pytest.approx(mw))
            assert {f["id"] for f in shown if "point_count" not in f["properties"]} <= set(visible)
        # Lines: the same ids at z0 (stored tiles) and z6 (bands).
        lines = ids(c, "SELECT id FROM acc.lines")
        assert sorted(f["id"] for f in tile(c, "acc_lines")) == lines
        z6 = ids(c, "SELECT id FROM acc.lines WHERE ST_Intersects(geom, ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096), 4326))",
                 *LINE_TILE)
        assert sorted(f["id"] for f in tile(c, "acc_lines", *LINE_TILE)) == z6


def test_no_select_is_refused_on_every_path(conn, acc):
    with As(conn, "acc_nosel") as c:
        assert c.execute("SELECT gridkit.layer_access('acc_sites')").fetchone()[0] == "denied"
        for layer in ["acc_sites", "acc_sites_c", "acc_lines", "acc_big", "acc_mine"]:
            denied(c, "SELECT grid_tile(%s, 0, 0, 0)", layer, match="permission denied")
        for sql in ["SELECT * FROM gridkit.pyramid_rows('acc_sites_c')",
                    "SELECT * FROM gridkit.generalized_rows('acc_lines')",
                    "SELECT gridkit.feature('acc_sites', 3)",
                    "SELECT * FROM gridkit.nearby('acc_sites', -100, 35, 1000000)",
                    "SELECT * FROM gridkit.bbox('acc_sites', -180, -80, 180, 80)",
                    "SELECT * FROM gridkit.within('acc_sites', '{\"type\": \"Polygon\", \"coordinates\": %s}')"
                    % json.dumps(WORLD),
                    "SELECT * FROM gridkit.along_route('acc_lines', '[[-120, 30], [-100, 40]]', 50000)",
                    "SELECT * FROM gridkit.history('acc.readings', '{\"sensor_id\": 2}', "
                    "'2026-11-01', '2026-11-04', max_points => 50)"]:
            denied(c, sql)


def test_a_role_missing_a_column_never_gets_it(conn, acc):
    with As(conn, "acc_cols") as c:
        assert c.execute("SELECT gridkit.layer_access('acc_sites')").fetchone()[0] == "denied"
        for layer in ["acc_sites", "acc_sites_c"]:
            denied(c, "SELECT grid_tile(%s, 0, 0, 0)", layer, match="column mw of table acc.sites")
        for sql in ["SELECT gridkit.feature('acc_sites', 3)",
                    "SELECT * FROM gridkit.bbox('acc_sites', -180, -80, 180, 80)",
                    "SELECT * FROM gridkit.nearby('acc_sites', -100, 35, 1000000)"]:
            denied(c, sql)
        # The columns it may read, it reads (no rows: no policy of its own).
        assert c.execute("SELECT count(name) FROM acc.sites").fetchone()[0] == 0
        denied(c, "SELECT count(mw) FROM acc.sites")


@pytest.mark.parametrize("role", ["postgres", "acc_rls", "acc_hidden"])
def test_cluster_functions_answer_only_a_role_that_reads_every_row(conn, acc, role):
    cluster_id = conn.execute("SELECT cluster_id FROM gridkit.pyramid_rows('acc_sites_c') "
                              "WHERE cluster_id IS NOT NULL ORDER BY point_count DESC LIMIT 1").fetchone()[0]
    with As(conn, role) as c:
        sqls = [("SELECT count(*) FROM gridkit.cluster_leaves('acc_sites_c', %s, 10000)", (cluster_id,)),
                ("SELECT gridkit.cluster_expansion_zoom('acc_sites_c', %s)", (cluster_id,)),
                ("SELECT count(*) FROM gridkit.pyramid_rows('acc_sites_c')", ()),
                ("SELECT count(*) FROM gridkit.generalized_rows('acc_lines')", ())]
        for sql, args in sqls:
            if role == "postgres":
                assert c.execute(sql, args).fetchone()[0] > 0
            else:
                denied(c, sql, *args, match="row-level security")


@pytest.mark.parametrize("role", ["postgres", "acc_rls", "acc_hidden"])
def test_features_and_spatial_queries_show_the_rows_sql_shows(conn, acc, role):
    with As(conn, role) as c:
        visible = ids(c, "SELECT id FROM acc.sites")
        for i in [3, 4, 299]:
            got = c.execute("SELECT gridkit.feature('acc_sites', %s)", (i,)).fetchone()[0]
            if i in visible:
                row = c.execute("SELECT name, mw FROM acc.sites WHERE id = %s", (i,)).fetchone()
                assert got["id"] == i and got["attributes"] == {"name": row[0], "mw": row[1]}, got
            else:
                assert got is None
            api = c.execute("SELECT api.feature('acc_sites', %s)", (i,)).fetchone()[0]
            assert api == got
        assert ids(c, "SELECT id FROM gridkit.bbox('acc_sites', -180, -80, 180, 80, \"limit\" => 1000)") == visible
        assert ids(c, "SELECT id FROM gridkit.nearby('acc_sites', -100, 35, 5000000, \"limit\" => 1000)") == \
            ids(c, "SELECT id FROM acc.sites WHERE ST_DWithin(geom::geography, "
                   "ST_SetSRID(ST_MakePoint(-100, 35), 4326)::geography, 5000000)")
        polygon = json.dumps({"type": "Polygon", "coordinates": WORLD})
        assert ids(c, "SELECT id FROM gridkit.within('acc_sites', %s, \"limit\" => 1000)", polygon) == visible
        route = "[[-125, 28], [-90, 45]]"
        assert ids(c, "SELECT id FROM gridkit.along_route('acc_lines', %s, 300000)", route) == \
            ids(c, "SELECT id FROM acc.lines WHERE ST_DWithin(geom::geography, "
                   "ST_SetSRID(ST_GeomFromText('LINESTRING(-125 28, -90 45)'), 4326)::geography, 300000)")


def test_views_owned_by_another_role(conn, acc):
    with As(conn, "acc_viewer") as c:
        # A plain view shows every reader the same rows: the pyramid serves.
        assert c.execute("SELECT gridkit.layer_access('acc_big')").fetchone()[0] == "full"
        count, mw = c.execute("SELECT count(*), sum(mw) FROM acc.big_sites").fetchone()
        shown = tile(c, "acc_big")
        assert points_and_mw(shown) == (count, pytest.approx(mw))
        assert any("cluster_id" in f["properties"] for f in shown)
        # A security_barrier view, or one that reads current_user, shows each
        # reader its own rows: never the pyramid built from its owner's.
        for layer, view in [("acc_mine", "acc.my_sites"), ("acc_mine_plain", "acc.my_sites_plain")]:
            assert c.execute("SELECT gridkit.layer_access(%s)", (layer,)).fetchone()[0] == "row_filtered"
            mine = c.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
            assert mine == 100
            shown = tile(c, layer)
            assert points_and_mw(shown)[0] == mine
            assert not any("cluster_id" in f["properties"] for f in shown)
            denied(c, "SELECT count(*) FROM gridkit.pyramid_rows(%s)", layer, match="row-level security")
            inside = ids(c, f"SELECT id FROM {view} WHERE geom && ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096), 4326)",
                         *SITE_TILE)
            assert inside
            assert sorted(f["id"] for f in tile(c, layer, *SITE_TILE)) == inside
    # Its owner reads the pyramid (built as the owner), which holds its rows.
    with As(conn, "acc_vowner") as c:
        mine = c.execute("SELECT count(*) FROM acc.my_sites").fetchone()[0]
        assert points_and_mw(tile(c, "acc_mine"))[0] == mine
    # The view's reader-dependence follows its definition.
    conn.execute("ALTER VIEW acc.big_sites SET (security_barrier = true)")
    try:
        with As(conn, "acc_viewer") as c:
            assert c.execute("SELECT gridkit.layer_access('acc_big')").fetchone()[0] == "row_filtered"
    finally:
        conn.execute("ALTER VIEW acc.big_sites RESET (security_barrier)")
    with As(conn, "acc_viewer") as c:
        assert c.execute("SELECT gridkit.layer_access('acc_big')").fetchone()[0] == "full"


@pytest.mark.parametrize("role", ["postgres", "acc_rls", "acc_hidden"])
def test_series_show_only_what_the_role_reads(conn, acc, role):
    with As(conn, role) as c:
        # Three days at 50 points: the rollup answers those who read every
        # row; the others get their own rows aggregated in steps.
        for sensor in [1, 2]:
            rows = c.execute("SELECT * FROM gridkit.history('acc.readings', %s, '2026-11-01 00:00+00', "
                             "'2026-11-04 00:00+00', max_points => 50)", (json.dumps({"sensor_id": sensor}),)).fetchall()
            expected = c.execute("SELECT count(*), sum(value) FROM acc.readings WHERE sensor_id = %s", (sensor,)).fetchone()
            assert sum(r[4] for r in rows) == expected[0]
            if expected[0]:
                assert sum(r[1] * r[4] for r in rows) == pytest.approx(expected[1])
            api = c.execute("SELECT count(*) FROM api.history('acc.readings', %s, '2026-11-01 00:00+00', "
                            "'2026-11-04 00:00+00', 50)", (json.dumps({"sensor_id": sensor}),)).fetchone()[0]
            assert api == len(rows)
        if role == "postgres":
            assert c.execute("SELECT count(*) FROM api.latest('acc.readings')").fetchone()[0] == 4
            assert c.execute("SELECT count(*) FROM gridkit.freshness WHERE source = 'acc.readings'::regclass"
                             ).fetchone()[0] == 4
            assert c.execute("SELECT count(*) FROM acc.acc_readings_hourly_realtime").fetchone()[0] == 4 * 72
        else:
            denied(c, "SELECT * FROM api.latest('acc.readings')", match="latest values")
            assert c.execute("SELECT count(*) FROM gridkit.freshness WHERE source = 'acc.readings'::regclass"
                             ).fetchone()[0] == 0
            denied(c, "SELECT count(*) FROM acc.acc_readings_hourly_realtime", match="aggregate every row")


@pytest.mark.parametrize("role", ["postgres", "acc_rls", "acc_nosel"])
def test_layer_status_counts_only_for_a_role_that_reads_every_row(conn, acc, role):
    with As(conn, role) as c:
        rows = c.execute("SELECT layer, points, clusters, features, band_rows FROM gridkit.layer_status() "
                         "WHERE layer IN ('acc_sites_c', 'acc_lines') ORDER BY layer").fetchall()
    assert [r[0] for r in rows] == ["acc_lines", "acc_sites_c"]
    counts = [rows[0][3], rows[0][4], rows[1][1], rows[1][2]]
    if role == "postgres":
        assert rows[1][1] == 300 and all(n is not None for n in counts)
    else:
        assert all(n is None for n in counts), rows


def test_the_api_role_sees_its_own_rows_and_field_types_from_the_encoder(conn, acc):
    conn.execute("SELECT gridkit.api_grant('acc_web', create_role => true)")
    try:
        conn.execute("CREATE POLICY web ON acc.sites FOR SELECT TO acc_web USING (mw < 20)")
        with As(conn, "acc_web") as c:
            visible = ids(c, "SELECT id FROM acc.sites")
            assert 0 < len(visible) < 300
            data = c.execute("SELECT api.tile('acc_sites', 0, 0, 0)").fetchone()[0]
            assert sorted(f["id"] for f in decode(bytes(data))["acc_sites"]["features"]) == visible
            data = c.execute("SELECT api.tile('acc_sites_c', 0, 0, 0)").fetchone()[0]
            assert points_and_mw(decode(bytes(data))["acc_sites_c"]["features"])[0] == len(visible)
            fields = dict(c.execute("SELECT name, fields FROM api.layers() WHERE name LIKE 'acc_sites%'").fetchall())
            assert fields["acc_sites"] == {"name": "String", "mw": "Number"}
            assert fields["acc_sites_c"] == {"name": "String", "mw": "Number", "point_count": "Number",
                                             "cluster_id": "Number", "expansion_zoom": "Number"}
            tilejson = c.execute("SELECT api.tilejson('acc_sites_c')").fetchone()[0]
            assert tilejson["vector_layers"][0]["fields"] == fields["acc_sites_c"]
            denied(c, "SELECT * FROM api.latest('acc.readings')")
    finally:
        conn.execute("DROP POLICY IF EXISTS web ON acc.sites")
        conn.execute("DELETE FROM gridkit.api_role WHERE role = 'acc_web'")
        conn.execute("DROP OWNED BY acc_web; DROP ROLE acc_web")
