"""gridkit on a streaming replica: every read answers as on the primary,
every write path refuses with 25006 naming where to run it, and the
standby's gridkit-server caches, revalidates and follows replayed changes
with the same ETags as the primary's server."""

import time

import mapbox_vector_tile
import psycopg
import pytest

from conftest import POLL_MS

WEB = "gridkit_web"
ADMIN = "postgres"

# What the api role and an administrator read, run on both servers and
# compared row for row (tiles by their md5).
READS = [
    (WEB, "SELECT md5(api.tile('pnodes', 0, 0, 0)::bytea)"),
    (WEB, "SELECT md5(api.tile('pnodes', 10, 262, 380)::bytea)"),
    (WEB, "SELECT md5(api.tile('pnodes', 3, 2, 3, '{\"tier\": \"critical\"}')::bytea)"),
    (WEB, "SELECT md5(api.tile('zones,transmission_lines,pnodes', 4, 4, 6)::bytea)"),
    (WEB, "SELECT md5(api.tile('transmission_lines', 5, 8, 12)::bytea)"),
    (WEB, "SELECT md5(api.tile('data_centers', 2, 0, 1, '{\"status\": \"operating\"}')::bytea)"),
    (WEB, "SELECT md5(api.tile('replica_points', 0, 0, 0)::bytea)"),
    (WEB, "SELECT * FROM api.layer_versions()"),
    (WEB, "SELECT * FROM api.layers()"),
    (WEB, "SELECT api.tilejson('pnodes,zones', 'http://example.org/{z}/{x}/{y}.mvt')::text"),
    (WEB, "SELECT * FROM api.nearby('pnodes', -87.6, 41.9, 100000)"),
    (WEB, "SELECT * FROM api.bbox('pnodes', -100, 30, -80, 45)"),
    (WEB, "SELECT * FROM api.within('zones', '{\"type\": \"Polygon\", \"coordinates\": "
          "[[[-100,30],[-90,30],[-90,40],[-100,40],[-100,30]]]}')"),
    (WEB, "SELECT * FROM api.along_route('substations', '[[-100,30],[-90,40]]', 50000)"),
    (WEB, "SELECT api.feature('pnodes', (SELECT min(id) FROM demo.pnodes))"),
    (WEB, "SELECT * FROM api.series()"),
    (WEB, "SELECT * FROM api.latest('demo.safety_index')"),
    (WEB, "SELECT * FROM api.latest('public.replica_lmp')"),
    (WEB, "SELECT * FROM api.history('demo.safety_index', '{\"intersection_id\": 3}', "
          "(SELECT max(ts) - interval '1 day' FROM demo.safety_index), (SELECT max(ts) FROM demo.safety_index))"),
    (WEB, "SELECT * FROM api.history('public.replica_lmp', '{\"pnode_id\": \"a1\"}', "
          "'2024-06-03 00:00+00', '2024-06-17 00:00+00', max_points => 20)"),
    (WEB, "SELECT count(*) FROM api.freshness()"),
    (WEB, "SELECT * FROM api.zone_classify('public.replica_lmp', '2024-06-03 00:00+00', '2024-06-17 00:00+00', "
          "iso_column => 'iso')"),
    (WEB, "SELECT * FROM api.pnode_severity('public.replica_lmp', '2024-06-03 00:00+00', '2024-06-17 00:00+00', "
          "iso_column => 'iso', min_hours => NULL)"),
    (ADMIN, "SELECT md5(grid_tile(ARRAY['pnodes', 'data_centers'], 5, 8, 12))"),
    (ADMIN, "SELECT * FROM gridkit.cluster_leaves('pnodes', (SELECT min(cluster_id) FROM "
            "gridkit.pyramid_rows('pnodes') WHERE point_count > 1))"),
    (ADMIN, "SELECT gridkit.cluster_expansion_zoom('pnodes', (SELECT min(cluster_id) FROM "
            "gridkit.pyramid_rows('pnodes') WHERE point_count > 1))"),
    (ADMIN, "SELECT layer, data_version, clustered, generalized, built_version, stale FROM gridkit.layer_status()"),
    (ADMIN, "SELECT * FROM gridkit.layers"),
    (ADMIN, "SELECT * FROM gridkit.rollups"),
    (ADMIN, "SELECT * FROM gridkit.ts_partitions('public.replica_lmp')"),
    (ADMIN, "SELECT * FROM gridkit.history('public.replica_lmp', '{\"pnode_id\": \"b1\"}', "
            "'2024-06-03 00:00+00', '2024-06-10 00:00+00', max_points => 7)"),
    (ADMIN, "SELECT * FROM gridkit.zone_classify('public.replica_lmp', '2024-06-03 00:00+00', '2024-06-17 00:00+00')"),
    (ADMIN, "SELECT * FROM gridkit.pnode_severity('public.replica_lmp', '2024-06-03 00:00+00', "
            "'2024-06-17 00:00+00', min_hours => 1)"),
    (ADMIN, "SELECT * FROM gridkit.safety_index(2, 3, 1000, 42.5, 30.0, 4)"),
    (ADMIN, "SELECT * FROM gridkit.nearby('data_centers', -87.6, 41.9, 500000)"),
    (ADMIN, "SELECT * FROM gridkit.feature('data_centers', (SELECT min(id) FROM demo.data_centers))"),
]


def rows(conn, role, sql):
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {role}")
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize("role,sql", READS, ids=[s[:70] for _, s in READS])
def test_a_read_on_the_standby_answers_as_on_the_primary(pair, role, sql):
    pair.replayed()
    expected = rows(pair.primary, role, sql)
    assert rows(pair.standby, role, sql) == expected
    assert expected and expected != [(None,)], "the read returned nothing to compare"


WRITES = [
    ("gridkit.layer_register", "SELECT gridkit.layer_register('another', 'public.replica_points')"),
    ("gridkit.layer_drop", "SELECT gridkit.layer_drop('replica_points')"),
    ("gridkit.cluster_refresh", "SELECT gridkit.cluster_refresh('pnodes')"),
    ("gridkit.generalize_refresh", "SELECT gridkit.generalize_refresh('transmission_lines')"),
    ("gridkit.refresh_stale", "SELECT * FROM gridkit.refresh_stale()"),
    ("gridkit.cluster_refresh_stale", "SELECT * FROM gridkit.cluster_refresh_stale()"),
    ("gridkit.generalize_refresh_stale", "SELECT * FROM gridkit.generalize_refresh_stale()"),
    ("gridkit.compact_data_versions", "SELECT gridkit.compact_data_versions()"),
    ("gridkit.api_grant", "SELECT gridkit.api_grant('gridkit_web')"),
    ("gridkit.rollup_create", "SELECT gridkit.rollup_create('replica_lmp_hourly', 'public.replica_lmp', 'ts', "
                              "'1 hour', ARRAY['pnode_id'], '{\"rows\": \"count(*)\"}')"),
    ("gridkit.rollup_refresh", "SELECT gridkit.rollup_refresh('replica_lmp_daily')"),
    ("gridkit.rollup_drop", "SELECT gridkit.rollup_drop('replica_lmp_daily')"),
    ("gridkit.run_maintenance", "SELECT * FROM gridkit.run_maintenance()"),
    ("gridkit.schedule", "SELECT * FROM gridkit.schedule()"),
    ("gridkit.ts_create", "SELECT gridkit.ts_create('public.replica_noise', 'n')"),
    ("gridkit.ts_convert", "SELECT gridkit.ts_convert('public.replica_noise', 'n')"),
    ("gridkit.ts_premake", "SELECT gridkit.ts_premake('public.replica_lmp')"),
    ("gridkit.ts_move_default_rows", "SELECT gridkit.ts_move_default_rows('public.replica_lmp')"),
    ("gridkit.ts_apply_retention", "SELECT gridkit.ts_apply_retention('public.replica_lmp')"),
    ("gridkit.retention_set", "SELECT gridkit.retention_set('public.replica_lmp', '30 days')"),
    ("gridkit.latest_enable", "SELECT gridkit.latest_enable('public.replica_lmp', '{pnode_id}')"),
    ("gridkit.latest_disable", "SELECT gridkit.latest_disable('public.replica_lmp')"),
    ("gridkit.replace_range", "SELECT gridkit.replace_range('public.replica_lmp', '2024-06-03', '2024-06-04', "
                              "'public.replica_lmp')"),
    ("gridkit.safety_target_create", "SELECT gridkit.safety_target_create('public.safety_out')"),
    ("gridkit.safety_constants_compute", "SELECT gridkit.safety_constants_compute('demo.safety_minutes', "
                                         "'2024-01-01', '2025-01-01')"),
    ("gridkit.safety_compute", "SELECT gridkit.safety_compute('demo.safety_minutes', 'demo.safety_index', "
                               "now() - interval '1 hour', now())"),
    ("gridkit.demo_generate", "SELECT * FROM gridkit.demo_generate(1, 7)"),
]


@pytest.mark.parametrize("function,sql", WRITES, ids=[f for f, _ in WRITES])
def test_a_write_path_on_the_standby_says_to_run_it_on_the_primary(pair, function, sql):
    with pytest.raises(psycopg.Error) as e:
        pair.standby.execute(sql)
    diag = e.value.diag
    assert diag.sqlstate == "25006", (diag.sqlstate, diag.message_primary)
    assert diag.message_primary == f"{function} writes, and this server is a hot standby (read-only)"
    assert diag.message_hint.startswith(f"Run {function} on the primary")


def test_the_standbys_server_caches_and_revalidates(standby_server):
    status, health = standby_server.json("/health")
    assert status == 200 and health["listening"] and health["listener"]["watch"] == "replay"
    path = "/tiles/pnodes/4/3/6.mvt"
    status, h, body = standby_server.tile(path)
    assert status == 200 and h["etag"] and h["cache-control"] == "public, max-age=60"
    hits = standby_server.metric("tile_cache_hits")
    status, h2, body2 = standby_server.tile(path)
    assert status == 200 and h2["etag"] == h["etag"] and body2 == body
    assert standby_server.metric("tile_cache_hits") == hits + 1
    status, h3, body3 = standby_server.get(path, {"If-None-Match": h["etag"]})
    assert status == 304 and body3 == b"" and h3["etag"] == h["etag"]


def vals(tile):
    return sorted(f["properties"]["val"] for f in mapbox_vector_tile.decode(tile)["replica_points"]["features"])


def wait_for_new_etag(server, path, old, seconds):
    deadline = time.monotonic() + seconds
    while True:
        status, h, body = server.tile(path)
        assert status == 200
        if h["etag"] != old:
            return time.monotonic(), h, body
        assert time.monotonic() < deadline, f"{path} kept ETag {old} for {seconds} s after the change was replayed"
        time.sleep(0.01)


def test_a_change_replayed_on_the_standby_is_served_within_a_poll(pair, standby_server):
    path, still = "/tiles/replica_points/0/0/0.mvt", "/tiles/replica_still/0/0/0.mvt"
    _, h1, t1 = standby_server.tile(path)
    _, s1, _ = standby_server.tile(still)
    assert vals(t1) == list(range(1, 11))
    pair.primary.execute("INSERT INTO public.replica_points VALUES (11, 11, 'p11', ST_SetSRID(ST_MakePoint(-89, 40), 4326))")
    replayed = pair.replayed()
    # Within one poll of the replay, plus the re-read and scheduling slack.
    served, h2, t2 = wait_for_new_etag(standby_server, path, h1["etag"], seconds=POLL_MS / 1000 + 2)
    assert vals(t2) == list(range(1, 12))
    print(f"new tile {1000 * (served - replayed):.0f} ms after the standby replayed the insert")
    # The old tag no longer revalidates; the other layer's tile stays cached.
    assert standby_server.get(path, {"If-None-Match": h1["etag"]})[0] == 200
    hits = standby_server.metric("tile_cache_hits")
    _, s2, _ = standby_server.tile(still)
    assert s2["etag"] == s1["etag"] and standby_server.metric("tile_cache_hits") == hits + 1


def test_writes_to_other_tables_keep_the_cache(pair, standby_server):
    path = "/tiles/replica_points/0/0/0.mvt"
    _, h1, _ = standby_server.tile(path)
    misses = standby_server.metric("tile_cache_misses")
    for i in range(5):
        pair.primary.execute("INSERT INTO public.replica_noise VALUES (%s)", [i])
        pair.replayed()
        time.sleep(POLL_MS / 1000 * 1.5)
        _, h, _ = standby_server.tile(path)
        assert h["etag"] == h1["etag"]
    assert standby_server.metric("tile_cache_misses") == misses


PATHS = [
    "/tiles/pnodes/0/0/0.mvt",
    "/tiles/pnodes/4/3/6.mvt?tier=critical",
    "/tiles/zones,transmission_lines,pnodes/4/4/6.mvt",
    "/tiles/replica_points/0/0/0.mvt?val=3&val=4",
    "/tiles/data_centers/5/8/12.mvt",
]


def test_servers_on_the_primary_and_the_standby_agree_on_etags(pair, primary_server, standby_server):
    pair.replayed()
    time.sleep(POLL_MS / 1000 * 2)
    for path in PATHS:
        sp, hp, bp = primary_server.tile(path)
        ss, hs, bs = standby_server.tile(path)
        assert sp == ss == 200 and hp["etag"] == hs["etag"] and bp == bs, path
        # Either server revalidates the other's tag.
        assert standby_server.get(path, {"If-None-Match": hp["etag"]})[0] == 304
        assert primary_server.get(path, {"If-None-Match": hs["etag"]})[0] == 304
    # After a change both move to the same new tag.
    path = "/tiles/replica_points/0/0/0.mvt?val=3&val=4"
    old = primary_server.tile(path)[1]["etag"]
    pair.primary.execute("UPDATE public.replica_points SET label = 'three' WHERE id = 3")
    _, hp, bp = wait_for_new_etag(primary_server, path, old, seconds=3)
    pair.replayed()
    _, hs, bs = wait_for_new_etag(standby_server, path, old, seconds=POLL_MS / 1000 + 2)
    assert hp["etag"] == hs["etag"] and bp == bs


def test_json_endpoints_on_the_standby(standby_server):
    for path in ["/api/layers", "/api/series", "/api/series/public.replica_lmp/latest",
                 "/api/series/public.replica_lmp/history?key=%7B%22pnode_id%22%3A%22a1%22%7D"
                 "&from=2024-06-03T00:00:00Z&to=2024-06-05T00:00:00Z",
                 "/api/series/public.replica_lmp/zone_classify?from=2024-06-03T00:00:00Z&to=2024-06-17T00:00:00Z",
                 "/api/layers/pnodes/nearby?lon=-87.6&lat=41.9&radius_m=100000", "/api/freshness",
                 "/tiles/pnodes.json"]:
        status, body = standby_server.json(path)
        assert status == 200, (path, body)


def test_a_promoted_standby_is_listened_to(pair, standby_server):
    """Last: the standby becomes a primary of its own."""
    pair.standby.execute("SELECT pg_promote(wait => true)")
    deadline = time.monotonic() + 10
    while standby_server.json("/health")[1]["listener"]["watch"] != "notify":
        assert time.monotonic() < deadline, "the server still polls a promoted standby"
        time.sleep(0.05)
    path = "/tiles/replica_points/0/0/0.mvt"
    _, h1, _ = standby_server.tile(path)
    pair.standby.execute("DELETE FROM public.replica_points WHERE id = 1")
    _, h2, t2 = wait_for_new_etag(standby_server, path, h1["etag"], seconds=3)
    assert 1 not in vals(t2)
