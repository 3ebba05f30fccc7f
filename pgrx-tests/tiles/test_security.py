"""Tiles never show what their caller cannot read (issue 24, findings 2 and 3):
row-level security and privileges hold for clustered tiles, filtered tiles,
generalized bands and stored tiles, and the tables a build makes are not
readable by anyone but their owner. Tiles are decoded with
mapbox-vector-tile and compared with what plain SQL shows the same role."""

import psycopg
import pytest

from conftest import As
from conftest import tile_features as features

ROLE = "gk_sec_reader"


@pytest.fixture(scope="module")
def secured(conn):
    conn.execute(f"""
        DROP SCHEMA IF EXISTS sec CASCADE;
        DROP ROLE IF EXISTS {ROLE};
        DROP ROLE IF EXISTS gk_sec_columns;
        CREATE ROLE {ROLE};
        CREATE ROLE gk_sec_columns;
        CREATE SCHEMA sec;
        GRANT USAGE ON SCHEMA sec TO {ROLE}, gk_sec_columns;
        -- 200 points in four tight groups; odd ids are secret.
        CREATE TABLE sec.pts AS
        SELECT i AS id, CASE WHEN i % 2 = 1 THEN 'secret ' || i ELSE 'public ' || i END AS label,
               i::float8 AS mw,
               ST_SetSRID(ST_MakePoint(-100 + (i % 4) * 10 + (i / 4) * 0.0001, 40 + (i / 4) * 0.0001), 4326) AS geom
          FROM generate_series(1, 200) i;
        CREATE INDEX ON sec.pts USING gist (geom);
        -- 24 squares; odd ids are secret.
        CREATE TABLE sec.polys AS
        SELECT i AS id, CASE WHEN i % 2 = 1 THEN 'secret' ELSE 'public' END AS label,
               ST_SetSRID(ST_MakeEnvelope(-120 + i * 2, 30, -119 + i * 2, 31), 4326) AS geom
          FROM generate_series(1, 24) i;
        CREATE INDEX ON sec.polys USING gist (geom);
        GRANT SELECT ON sec.pts, sec.polys TO {ROLE};
        GRANT SELECT (id, geom) ON sec.pts TO gk_sec_columns;
        ALTER TABLE sec.pts ENABLE ROW LEVEL SECURITY;
        ALTER TABLE sec.polys ENABLE ROW LEVEL SECURITY;
        CREATE POLICY public_only ON sec.pts FOR SELECT TO {ROLE} USING (label LIKE 'public%');
        CREATE POLICY public_only ON sec.polys FOR SELECT TO {ROLE} USING (label = 'public');
    """)
    conn.execute("SELECT gridkit.layer_register('sec_pts', 'sec.pts', attributes => '{label,mw}', "
                 "options => '{\"cluster\": {\"radius\": 60, \"max_zoom\": 8, \"aggregates\": {\"mw\": \"sum\"}}}')")
    conn.execute("SELECT gridkit.layer_register('sec_polys', 'sec.polys', attributes => '{label}')")
    conn.execute("SELECT gridkit.cluster_refresh('sec_pts')")
    conn.execute("SELECT gridkit.generalize_refresh('sec_polys')")
    yield
    conn.execute("RESET ROLE")
    conn.execute("SELECT gridkit.layer_drop('sec_pts'); SELECT gridkit.layer_drop('sec_polys')")
    conn.execute(f"DROP SCHEMA sec CASCADE; DROP ROLE {ROLE}; DROP ROLE gk_sec_columns")


def points_shown(feats):
    return sum(f["properties"].get("point_count", 1) for f in feats)


def test_clustered_tiles_count_only_the_rows_the_role_sees(conn, secured):
    everything = features(conn, "sec_pts", 0, 0, 0)
    assert points_shown(everything) == 200
    with As(conn, ROLE) as c:
        visible = c.execute("SELECT count(*), sum(mw) FROM sec.pts").fetchone()
        assert visible[0] == 100
        for z, x, y in [(0, 0, 0), (3, 1, 3), (8, 56, 96)]:
            shown = features(c, "sec_pts", z, x, y)
            labels = [f["properties"].get("label", "") for f in shown]
            assert not any(l.startswith("secret") for l in labels)
            if z == 0:
                assert points_shown(shown) == visible[0]
                assert sum(f["properties"]["mw"] for f in shown) == pytest.approx(visible[1])
        # Filters never reach the hidden rows either.
        shown = features(c, "sec_pts", 0, 0, 0, '{"label": ["secret 1", "secret 3", "public 2"]}')
        assert points_shown(shown) == 1


def test_generalized_and_stored_tiles_hold_only_the_rows_the_role_sees(conn, secured):
    everything = features(conn, "sec_polys", 1, 0, 0)
    assert len(everything) == 24
    with As(conn, ROLE) as c:
        for z, x, y in [(0, 0, 0), (2, 0, 1), (4, 3, 6)]:
            shown = features(c, "sec_polys", z, x, y)
            assert {f["properties"]["label"] for f in shown} <= {"public"}
        assert len(features(c, "sec_polys", 1, 0, 0)) == 12


def test_build_tables_are_readable_by_their_owner_only(conn, secured):
    pyramid = conn.execute("SELECT storage::text, leaves::text, points_store::text FROM gridkit.pyramid "
                           "WHERE layer = 'sec_pts'").fetchone()
    bands = conn.execute("SELECT storage::text, tiles::text FROM gridkit.generalization "
                         "WHERE layer = 'sec_polys'").fetchone()
    for role in (ROLE, "gk_sec_columns"):
        with As(conn, role) as c:
            for table in [*pyramid, *bands]:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(f"SELECT * FROM {table} LIMIT 1")
    with As(conn, ROLE) as c:
        # What only the build can answer is refused to a role whose rows are
        # filtered, with the reason.
        for sql in ["SELECT * FROM gridkit.pyramid_rows('sec_pts')",
                    "SELECT * FROM gridkit.generalized_rows('sec_polys')"]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                c.execute(sql)
    cluster_id = conn.execute("SELECT cluster_id FROM gridkit.pyramid_rows('sec_pts') "
                              "WHERE cluster_id IS NOT NULL LIMIT 1").fetchone()[0]
    with As(conn, ROLE) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM gridkit.cluster_leaves('sec_pts', %s)", (cluster_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT gridkit.cluster_expansion_zoom('sec_pts', %s)", (cluster_id,))
    # The owner reads them all through the functions.
    assert conn.execute("SELECT count(*) FROM gridkit.cluster_leaves('sec_pts', %s, 1000)",
                        (cluster_id,)).fetchone()[0] > 1


def test_a_role_missing_an_attribute_column_is_refused_by_name(conn, secured):
    with As(conn, "gk_sec_columns") as c:
        for z, x, y in [(0, 0, 0), (10, 227, 387)]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="column label of table sec.pts"):
                features(c, "sec_pts", z, x, y)
    # Granted every column the layer uses, the role is still under row-level
    # security with no policy of its own: it sees nothing, as SQL shows it.
    conn.execute("GRANT SELECT (label, mw) ON sec.pts TO gk_sec_columns")
    try:
        with As(conn, "gk_sec_columns") as c:
            assert c.execute("SELECT count(*) FROM sec.pts").fetchone()[0] == 0
            assert points_shown(features(c, "sec_pts", 0, 0, 0)) == 0
        # A policy that passes every row: the same clusters as the owner's.
        # Clustered from the rows it reads (no pyramid ids), the same groups.
        conn.execute("CREATE POLICY everything ON sec.pts FOR SELECT TO gk_sec_columns USING (true)")
        owners = features(conn, "sec_pts", 0, 0, 0)
        with As(conn, "gk_sec_columns") as c:
            shown = features(c, "sec_pts", 0, 0, 0)
        assert not any("cluster_id" in f["properties"] for f in shown)
        assert points_shown(shown) == 200
        assert sorted(f["properties"].get("point_count", 1) for f in shown) == \
            sorted(f["properties"].get("point_count", 1) for f in owners)
    finally:
        conn.execute("DROP POLICY IF EXISTS everything ON sec.pts")
        conn.execute("REVOKE SELECT (label, mw) ON sec.pts FROM gk_sec_columns")
