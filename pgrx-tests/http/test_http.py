"""gridkit-server end to end: tiles equal the SQL api's, caching and
revalidation follow the data, JSON endpoints, errors by SQLSTATE, a fuzz of
malformed requests, 50 concurrent clients, a database restart, the map page
in headless Chromium."""

import concurrent.futures
import gzip
import json
import os
import random
import subprocess
import time

import mapbox_vector_tile
import pytest

from conftest import ROOT, q


def sql_tile(db, layer, z, x, y, filt=None):
    return bytes(db.execute("SELECT api.tile(%s, %s, %s, %s, %s::jsonb)::bytea",
                            (layer, z, x, y, json.dumps(filt) if filt else None)).fetchone()[0])


@pytest.mark.parametrize("layer,z,x,y,filt,query", [
    ("pnodes", 3, 1, 3, None, ""),
    ("pnodes", 11, 584, 775, None, ""),
    ("transmission_lines", 5, 7, 12, None, ""),
    ("zones,transmission_lines,pnodes", 4, 3, 6, None, ""),
    ("pnodes", 4, 4, 6, {"iso_id": "PJM"}, "?iso_id=PJM"),
    ("pnodes,zones", 4, 4, 6, {"iso_id": ["PJM", "MISO"]}, "?iso_id=PJM&iso_id=MISO"),
    ("data_centers", 6, 17, 24, {"capacity_mw": 50}, "?capacity_mw=50"),
])
def test_tiles_are_the_sql_apis(server, db, layer, z, x, y, filt, query):
    status, headers, body = server.tile(f"/tiles/{layer}/{z}/{x}/{y}.mvt{query}")
    assert status == 200
    assert headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert body == sql_tile(db, layer, z, x, y, filt)
    if body:
        decoded = mapbox_vector_tile.decode(body)
        assert set(decoded) <= set(layer.split(","))


def test_etag_304_cache_control_and_gzip(server):
    path = "/tiles/pnodes/3/1/3.mvt"
    status, h, raw = server.get(path)
    assert status == 200 and h["etag"].startswith('"') and h["cache-control"] == "public, max-age=60"
    assert h["vary"] == "accept-encoding"
    status, h2, body = server.get(path, {"If-None-Match": h["etag"]})
    assert status == 304 and body == b"" and h2["etag"] == h["etag"]
    assert server.get(path, {"If-None-Match": '"other"'})[0] == 200
    status, hz, zipped = server.get(path, {"Accept-Encoding": "gzip, deflate, br"})
    assert hz["content-encoding"] == "gzip" and gzip.decompress(zipped) == raw and len(zipped) < len(raw)
    assert "content-encoding" not in server.get(path, {"Accept-Encoding": "gzip;q=0"})[1]
    # A layer's own max_age, and the smallest of several.
    assert server.get("/tiles/http_points/0/0/0.mvt")[1]["cache-control"] == "public, max-age=7"
    assert server.get("/tiles/pnodes,http_points/0/0/0.mvt")[1]["cache-control"] == "public, max-age=7"
    # Another request is another tag.
    assert server.get("/tiles/pnodes/3/2/3.mvt")[1]["etag"] != h["etag"]


def vals(tile):
    return sorted(f["properties"]["val"] for f in mapbox_vector_tile.decode(tile)["http_points"]["features"])


def test_a_data_change_invalidates_cached_tiles_at_once(server, db):
    path = "/tiles/http_points/0/0/0.mvt"
    _, h1, t1 = server.tile(path)
    hits = server.metric("tile_cache_hits")
    _, h2, t2 = server.tile(path)
    assert t2 == t1 and h2["etag"] == h1["etag"]
    assert server.metric("tile_cache_hits") == hits + 1
    db.execute("UPDATE public.http_points SET val = val + 100 WHERE id = 3")
    # The change is heard at commit: the next request gets the new tile
    # (allowing the notification a moment to arrive).
    deadline = time.time() + 3
    while True:
        _, h3, t3 = server.tile(path)
        if h3["etag"] != h1["etag"] or time.time() > deadline:
            break
        time.sleep(0.02)
    assert h3["etag"] != h1["etag"], "the tile was not invalidated"
    assert 103 in vals(t3) and 3 not in vals(t3)
    assert server.get(path, {"If-None-Match": h1["etag"]})[0] == 200
    # Registering the layer again (new options) changes its tiles' version too.
    db.execute("""SELECT gridkit.layer_register('http_points', 'public.http_points', attributes => '{val}',
                                                options => '{"max_age": 7}')""")
    deadline = time.time() + 3
    while server.get(path)[1]["etag"] == h3["etag"] and time.time() < deadline:
        time.sleep(0.02)
    _, h4, t4 = server.tile(path)
    assert h4["etag"] != h3["etag"]
    assert all(set(f["properties"]) == {"val"} for f in mapbox_vector_tile.decode(t4)["http_points"]["features"])


def test_tilejson(server):
    status, tj = server.json("/tiles/pnodes.json")
    assert status == 200 and tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == [f"http://127.0.0.1:{server.port}/tiles/pnodes/{{z}}/{{x}}/{{y}}.mvt"]
    (vl,) = tj["vector_layers"]
    assert vl["id"] == "pnodes" and vl["fields"]["severity_score"] == "Number" and vl["fields"]["point_count"] == "Number"
    status, tj = server.json("/tiles/zones,pnodes.json")
    assert [v["id"] for v in tj["vector_layers"]] == ["zones", "pnodes"]
    assert server.json("/tiles/nope.json")[0] == 404
    assert server.json("/tiles/pnodes.xml")[0] == 404


def test_spatial_json(server, db):
    status, rows = server.json("/api/layers/pnodes/nearby?lon=-95&lat=35&radius_m=150000&limit=5")
    assert status == 200 and 0 < len(rows) <= 5
    assert [r["distance_m"] for r in rows] == sorted(r["distance_m"] for r in rows)
    expected = db.execute("SELECT array_agg(id ORDER BY distance_m, id) FROM gridkit.nearby('pnodes', -95, 35, 150000, 5)").fetchone()[0]
    assert [r["id"] for r in rows] == expected
    # Pages follow "next" until a short page; together they are the whole answer.
    path, ids = "/api/layers/data_centers/bbox?west=-100&south=30&east=-80&north=45&limit=50", []
    while path:
        status, page = server.json(path)
        assert status == 200
        ids += [r["id"] for r in page["items"]]
        path = page["next"]
    total = db.execute("SELECT count(*) FROM gridkit.bbox('data_centers', -100, 30, -80, 45, 10000)").fetchone()[0]
    assert len(ids) == total == len(set(ids)) and total > 50
    status, f = server.json("/api/layers/pnodes/features/1")
    assert status == 200 and f["id"] == 1 and "tier" in f["attributes"]
    assert server.json("/api/layers/pnodes/features/999999999")[0] == 404
    polygon = {"type": "Polygon", "coordinates": [[[-100, 30], [-90, 30], [-90, 40], [-100, 40], [-100, 30]]]}
    status, rows = server.json("/api/layers/zones/within", "POST", {"polygon": polygon, "limit": 3})
    assert status == 200 and len(rows) == 3
    status, rows = server.json("/api/layers/transmission_lines/along_route", "POST",
                               {"route": [[-100, 30], [-90, 40]], "buffer_m": 20000})
    assert status == 200 and rows and all(r["distance_m"] <= 20000 for r in rows)


def test_series_json(server):
    status, series = server.json("/api/series")
    assert status == 200 and {"source": "demo.observations", "kind": "time series", "time_column": "ts",
                              "latest": True} in series
    status, page = server.json("/api/series/demo.observations/latest?limit=3")
    assert status == 200 and len(page["items"]) == 3 and page["next"].endswith("offset=3")
    status, nxt = server.json(page["next"])
    assert status == 200 and nxt["items"][0] != page["items"][0]
    key = q(json.dumps({"ba": "CISO", "series": "demand"}))
    status, points = server.json(f"/api/series/demo.observations/history?key={key}"
                                 "&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&max_points=100")
    assert status == 200
    status, fresh = server.json("/api/freshness?source=demo.safety_minutes")
    assert status == 200 and fresh and {f["status"] for f in fresh} <= {"live", "delayed", "stale", "no data"}
    status, layers = server.json("/api/layers")
    assert status == 200 and {"pnodes", "zones"} <= {l["name"] for l in layers}


def test_congestion_json(server, db):
    window = "from=2024-06-03T00:00:00Z&to=2024-06-17T00:00:00Z"
    status, zones = server.json(f"/api/series/public.http_lmp/zone_classify?{window}&iso_column=iso")
    assert status == 200 and len(zones) == 3
    expected = db.execute("""SELECT zone, classification FROM gridkit.zone_classify('public.http_lmp', '2024-06-03 00:00+00',
                             '2024-06-17 00:00+00', iso_column => 'iso') ORDER BY zone""").fetchall()
    assert sorted((z["zone"], z["classification"]) for z in zones) == expected
    status, nodes = server.json(f"/api/series/public.http_lmp/pnode_severity?{window}&min_hours=24")
    assert status == 200 and {n["pnode"] for n in nodes} == {"a1", "a2", "b1", "c1"}
    assert all(0 <= n["severity_score"] <= 1 for n in nodes)
    assert server.json(f"/api/series/public.http_lmp/zone_classify?{window}&lmp_column=price")[0] == 400
    assert server.json(f"/api/series/public.http_lmp/zone_classify?{window}&threshold=x")[0] == 400
    assert server.json("/api/series/public.http_points/zone_classify?" + window)[0] == 404


@pytest.mark.parametrize("method,path,body,status,sqlstate", [
    ("GET", "/tiles/nope/1/0/0.mvt", None, 404, None),
    ("GET", "/tiles/pnodes/1/2/0.mvt", None, 400, None),
    ("GET", "/tiles/pnodes/25/0/0.mvt", None, 400, None),
    ("GET", "/tiles/pnodes/1/0/0", None, 400, None),
    ("GET", "/tiles/pnodes/a/0/0.mvt", None, 400, None),
    ("GET", "/tiles/pnodes/1/0/0.mvt?nope=1", None, 400, None),
    ("GET", "/tiles/pnodes/1/0/0.mvt?severity_score=high", None, 400, None),
    ("GET", "/tiles/pnodes,pnodes/1/0/0.mvt", None, 400, None),
    ("GET", "/tiles/http_slow/0/0/0.mvt", None, 504, "57014"),
    ("GET", "/api/layers/pnodes/nearby?lon=500&lat=0&radius_m=10", None, 400, "22023"),
    ("GET", "/api/layers/pnodes/nearby?lon=0&lat=0&radius_m=0", None, 400, "22023"),
    ("GET", "/api/layers/pnodes/nearby?lon=x&lat=0&radius_m=10", None, 400, None),
    ("GET", "/api/layers/pnodes/nearby?lat=0&radius_m=10", None, 400, None),
    ("GET", "/api/layers/pnodes/nearby?lon=0&lat=0&radius_m=10&limit=0", None, 400, "22023"),
    ("GET", "/api/layers/pnodes/nearby?lon=0&lat=0&radius_m=10&radius=5", None, 400, None),
    ("GET", "/api/layers/nope/nearby?lon=0&lat=0&radius_m=10", None, 404, "42704"),
    ("GET", "/api/layers/pnodes/bbox?west=0&south=1&east=1&north=0", None, 400, "22023"),
    ("GET", "/api/layers/pnodes/bbox?west=0&south=0&east=1&north=1&offset=-1", None, 400, "22023"),
    ("GET", "/api/layers/pnodes/features/abc", None, 400, None),
    ("POST", "/api/layers/zones/within", {"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}, 400, "22023"),
    ("POST", "/api/layers/zones/within", {"polygon": {"type": "Point", "coordinates": [0, 0]}}, 400, "22023"),
    ("POST", "/api/layers/zones/within", b"not json", 400, None),
    ("POST", "/api/layers/zones/within", {"polygon": {}, "extra": 1}, 400, None),
    ("POST", "/api/layers/transmission_lines/along_route", {"route": [[0, 0]], "buffer_m": 10}, 400, "22023"),
    ("GET", "/api/series/demo.nope/latest", None, 404, "42704"),
    ("GET", "/api/series/pg_catalog.pg_authid/latest", None, 404, "42704"),
    ("GET", f"/api/series/demo.observations/history?key={q('[1]')}&from=2026-01-01&to=2026-02-01", None, 400, None),
    ("GET", f"/api/series/demo.observations/history?key={q('{}')}&from=yesterday-ish&to=2026-02-01", None, 400, "22007"),
    ("GET", f"/api/series/demo.observations/history?key={q('{}')}&from=2026-02-01&to=2026-01-01", None, 400, "22023"),
    ("GET", "/nope", None, 404, None),
    ("DELETE", "/tiles/pnodes/1/0/0.mvt", None, 405, None),
])
def test_errors_are_json_with_the_sqlstates_meaning(server, method, path, body, status, sqlstate):
    got, headers, data = server.request(method, path, body)
    assert got == status, data
    if status != 405:
        payload = json.loads(data)
        assert headers["content-type"].startswith("application/json")
        assert payload["status"] == status and payload["error"]
        assert payload["sqlstate"] == sqlstate
        assert "panicked" not in payload["error"] and "src/" not in payload["error"]


def fingerprint(db):
    return db.execute("""
        SELECT (SELECT md5(string_agg(l::text, ',' ORDER BY name)) FROM gridkit.layer l),
               (SELECT count(*) || ':' || sum(hashtext(p::text)) FROM demo.pnodes p),
               (SELECT count(*) || ':' || sum(hashtext(z::text)) FROM demo.zones z),
               (SELECT count(*) FROM demo.observations),
               (SELECT count(*) FROM pg_roles), (SELECT count(*) FROM pg_class)
    """).fetchone()


def test_fuzz_never_a_server_error_never_a_change(server, db):
    rng = random.Random(7)
    before = fingerprint(db)
    nasty = ["'", "\"", "'; DROP TABLE demo.pnodes; --", "%00", "%ff%fe", "..", "../../etc/passwd", "%2e%2e%2f",
             "a" * 5000, "99999999999999999999", "-1", "1e309", "NaN", "Infinity", "0x10", "日本", "%F0%9F%92%A5",
             "pnodes,", ",", "{z}", "$1", "null", "true", "[]", "{}", "%25", "+", "%20"]
    paths = []
    for _ in range(400):
        a, b, c, d = (rng.choice(nasty + ["pnodes", "3", "1", "0"]) for _ in range(4))
        template = rng.choice([
            "/tiles/{a}/{b}/{c}/{d}.mvt", "/tiles/{a}/{b}/{c}/{d}", "/tiles/{a}.json", "/tiles/pnodes/{b}/{c}/{d}.mvt?{a}={b}",
            "/api/layers/{a}/nearby?lon={b}&lat={c}&radius_m={d}", "/api/layers/{a}/bbox?west={b}&south={c}&east={d}&north={a}",
            "/api/layers/{a}/features/{b}", "/api/series/{a}/latest?limit={b}&offset={c}",
            "/api/series/{a}/history?key={b}&from={c}&to={d}", "/api/freshness?source={a}", "/{a}/{b}", "/static/{a}",
            "/vendor/maplibre-gl/{a}",
        ])
        paths.append(template.format(a=a, b=b, c=c, d=d))
    # Oversized and over-many filters.
    paths.append("/tiles/pnodes/1/0/0.mvt?" + "&".join(f"iso_id={i}" for i in range(500)))
    paths.append("/tiles/pnodes/1/0/0.mvt?iso_id=" + "x" * 10000)
    bodies = [b"", b"{", b"[]", b"null", json.dumps({"polygon": "x" * 100000}).encode(), b"\xff\xfe",
              json.dumps({"route": [[0, 0]] * 20000, "buffer_m": 1}).encode(),
              json.dumps({"polygon": {"type": "Polygon", "coordinates": [[[0, 0]] * 5]}}).encode()]
    statuses = {}
    for p in paths:
        try:
            status = server.get(p.replace(" ", "%20"))[0]
        except Exception as e:  # a request the client itself refuses to send
            if "InvalidURL" in type(e).__name__ or isinstance(e, UnicodeEncodeError):
                continue
            raise
        statuses.setdefault(status, []).append(p)
    for endpoint in ["/api/layers/zones/within", "/api/layers/zones/along_route", "/api/layers/nope/within"]:
        for body in bodies:
            status = server.request("POST", endpoint, body, {"Content-Type": "application/json"})[0]
            statuses.setdefault(status, []).append(endpoint)
    server_errors = {s: p[:5] for s, p in statuses.items() if s >= 500}
    assert not server_errors, server_errors
    assert fingerprint(db) == before
    assert server.get("/health")[0] == 200


def test_fifty_concurrent_clients(server):
    rng = random.Random(11)
    paths = []
    for _ in range(3000):
        z = rng.randint(0, 9)
        x, y = rng.randrange(2**z), rng.randrange(2**z)
        paths.append(rng.choice([f"/tiles/pnodes/{z}/{x}/{y}.mvt", f"/tiles/data_centers/{z}/{x}/{y}.mvt",
                                 "/tiles/pnodes/3/1/3.mvt", f"/tiles/zones,transmission_lines/{min(z, 6)}/0/0.mvt",
                                 "/api/layers/pnodes/nearby?lon=-95&lat=35&radius_m=50000"]))

    def fetch(p):
        return server.get(p)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(fetch, paths))
    assert statuses.count(200) == len(paths), {s: statuses.count(s) for s in set(statuses)}
    assert server.metric("pool_waiting_requests") == 0


def test_the_servers_role_is_read_only(db):
    import psycopg
    info = db.info
    with psycopg.connect(host=info.host, port=info.port, user="gridkit_web", dbname=info.dbname, autocommit=True) as c:
        assert len(bytes(c.execute("SELECT api.tile('pnodes', 3, 1, 3)::bytea").fetchone()[0])) > 0
        # It reads what the api reads (the api runs with its rights), and
        # writes nothing.
        assert c.execute("SELECT count(*) FROM demo.pnodes").fetchone()[0] > 0
        for sql in ["DELETE FROM demo.pnodes", "UPDATE gridkit.layer SET options = '{}'",
                    "SELECT gridkit.layer_drop('pnodes')", "CREATE TABLE public.x (a int)",
                    "SELECT count(*) FROM gridkit.source_change"]:
            with pytest.raises(psycopg.Error):
                c.execute(sql)


def test_a_failing_listener_reports_the_databases_error_once_and_recovers(server, db):
    log_path = ROOT / "target/http-server.log"
    db.execute("REVOKE EXECUTE ON FUNCTION api.layer_versions() FROM gridkit_web")
    try:
        db.execute("NOTIFY gridkit_tiles")  # the listener re-reads, and fails
        deadline = time.time() + 10
        while time.time() < deadline:
            health = server.json("/health")[1]
            if not health["listening"] and health["listener"]["failures"] >= 3:
                break
            time.sleep(0.1)
        assert not health["listening"], health
        assert health["listener"]["last_error"].startswith("42501: permission denied for function layer_versions")
        assert 0 < health["listener"]["retry_in_ms"] <= 30000
        assert server.metric("change_listener_up") == 0
        assert server.metric("change_listener_failures") >= 3
        # While not listening, tiles bypass the cache but are served.
        assert server.get("/tiles/pnodes/2/1/1.mvt")[0] == 200
    finally:
        db.execute("GRANT EXECUTE ON FUNCTION api.layer_versions() TO gridkit_web")
    deadline = time.time() + 40
    while time.time() < deadline and not server.json("/health")[1]["listening"]:
        time.sleep(0.2)
    assert server.json("/health")[1]["listening"]
    assert server.metric("change_listener_up") == 1
    # The database's message, logged once for repeated failures.
    logged = [l for l in log_path.read_text().splitlines() if "permission denied for function layer_versions" in l]
    assert len(logged) == 1, logged
    assert "42501" in logged[0]


def test_the_map_page_in_headless_chromium(server):
    shot = ROOT / "target/web-test/map.png"
    env = {**os.environ, "SERVER_URL": f"http://127.0.0.1:{server.port}", "SCREENSHOT": str(shot)}
    r = subprocess.run(["node", "test/map.test.mjs"], cwd=ROOT / "web", env=env, capture_output=True, text=True,
                       timeout=180)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    assert shot.stat().st_size > 10000


def test_the_pool_recovers_after_the_database_restarts(server):
    assert server.get("/tiles/pnodes/2/0/1.mvt")[0] == 200
    subprocess.run([str(ROOT / "scripts/cluster.sh"), "restart", os.environ.get("GRIDKIT_CLUSTER", "test")], check=True)
    deadline = time.time() + 30
    statuses = []
    while time.time() < deadline:
        status = server.get("/tiles/pnodes/2/1/1.mvt")[0]
        statuses.append(status)
        if status == 200 and server.json("/health")[1].get("listening"):
            break
        assert status in (200, 503), status
        time.sleep(0.2)
    assert statuses[-1] == 200, statuses
    # Every pooled connection was replaced: a burst of requests all succeed.
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(lambda i: server.get(f"/tiles/pnodes/4/{i % 16}/6.mvt")[0], range(64))) == {200}
