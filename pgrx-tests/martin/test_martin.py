"""Martin (the most used PostGIS tile server, 1.14) serving gridkit layers
through function sources made by gridkit.publish_function: its catalog
lists them, and its tiles are grid_tile's, byte for byte and decoded,
filters (Martin's query parameters) included."""

import gzip
import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import psycopg
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tiles"))
from mvtcheck import decode  # noqa: E402

DSN = os.environ["GRIDKIT_DSN"]
MARTIN = os.environ.get("GRIDKIT_MARTIN", str(pathlib.Path.home() / ".cache/gridkit/martin/bin/martin"))
LOG = pathlib.Path(__file__).resolve().parents[2] / "target" / "martin.log"

# Tiles over Chicago and the whole world, at low, middle and deep zooms.
TILES = [(0, 0, 0), (3, 2, 2), (5, 8, 11), (8, 65, 95), (11, 525, 761), (14, 4204, 6090)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        if r.getheader("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return r.status, body
    finally:
        c.close()


@pytest.fixture(scope="module")
def martin():
    if not os.path.exists(MARTIN):
        pytest.fail(f"Martin is not installed at {MARTIN}: scripts/setup.sh --test installs it")
    conn = psycopg.connect(DSN, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS gridkit CASCADE")
    if conn.execute("SELECT to_regclass('demo.pnodes') IS NULL").fetchone()[0]:
        conn.execute("SELECT gridkit.demo_generate(1, 42)")
    conn.execute("DROP SCHEMA IF EXISTS martin_fn CASCADE")
    conn.execute("CREATE SCHEMA martin_fn")
    for layer in ("pnodes", "transmission_lines", "zones"):
        made = conn.execute("SELECT gridkit.publish_function(%s, 'martin_fn', %s)::text",
                            (layer, f"gk_{layer}")).fetchone()[0]
        assert made == f"martin_fn.gk_{layer}(integer,integer,integer,json)"
    info = conn.info
    port = free_port()
    url = f"postgresql://{info.user}@127.0.0.1:{info.port}/{info.dbname}"
    LOG.parent.mkdir(exist_ok=True)
    log = open(LOG, "w")
    proc = subprocess.Popen([MARTIN, "--listen-addresses", f"127.0.0.1:{port}", url],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if get(port, "/health")[0] == 200:
                break
        except OSError:
            pass
        assert proc.poll() is None, LOG.read_text()
        assert time.monotonic() < deadline, "Martin did not start:\n" + LOG.read_text()
        time.sleep(0.2)
    yield port, conn
    proc.terminate()
    proc.wait(10)
    conn.execute("DROP SCHEMA martin_fn CASCADE")
    conn.close()


def test_the_catalog_lists_the_function_sources(martin):
    port, _ = martin
    status, body = get(port, "/catalog")
    assert status == 200
    tiles = json.loads(body)["tiles"]
    for layer in ("pnodes", "transmission_lines", "zones"):
        assert f"gk_{layer}" in tiles, sorted(tiles)


@pytest.mark.parametrize("layer", ["pnodes", "transmission_lines", "zones"])
def test_martin_serves_grid_tile(martin, layer):
    port, conn = martin
    features = 0
    for z, x, y in TILES:
        status, body = get(port, f"/gk_{layer}/{z}/{x}/{y}")
        want = bytes(conn.execute("SELECT grid_tile(%s, %s, %s, %s)", (layer, z, x, y)).fetchone()[0])
        if not want:
            assert status in (200, 204) and body == b""
            continue
        assert status == 200
        assert body == want, (layer, z, x, y)
        assert decode(body) == decode(want)
        features += len(decode(body).get(layer, {}).get("features", []))
    assert features > 0


def test_martin_query_parameters_are_the_tile_filter(martin):
    port, conn = martin
    z, x, y = 5, 8, 11
    status, body = get(port, f"/gk_pnodes/{z}/{x}/{y}?iso_id=MISO")
    want = bytes(conn.execute("SELECT grid_tile('pnodes', %s, %s, %s, '{\"iso_id\": \"MISO\"}')", (z, x, y)).fetchone()[0])
    assert status == 200 and body == want
    unfiltered = bytes(conn.execute("SELECT grid_tile('pnodes', %s, %s, %s)", (z, x, y)).fetchone()[0])
    assert want != unfiltered


def test_publishing_checks_its_arguments(martin):
    _, conn = martin
    with pytest.raises(psycopg.errors.UndefinedObject):
        conn.execute("SELECT gridkit.publish_function('no_such_layer', 'martin_fn')")
    with pytest.raises(psycopg.errors.InvalidSchemaName):
        conn.execute("SELECT gridkit.publish_function('pnodes', 'no_such_schema')")
    conn.execute("DROP ROLE IF EXISTS martin_stranger")
    conn.execute("CREATE ROLE martin_stranger")
    conn.execute("GRANT EXECUTE ON FUNCTION gridkit.publish_function(text, name, name) TO martin_stranger")
    conn.execute("SET ROLE martin_stranger")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT gridkit.publish_function('pnodes', 'martin_fn', 'stolen')")
    finally:
        conn.execute("RESET ROLE")
        conn.execute("DROP OWNED BY martin_stranger")
        conn.execute("DROP ROLE martin_stranger")
