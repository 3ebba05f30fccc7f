import math
import os
import pathlib

import psycopg
import pytest

from mvtcheck import decode

HERE = pathlib.Path(__file__).parent


@pytest.fixture(scope="session")
def conn():
    """One connection to a database with the extension, the fixtures and the
    demo data at scale 1."""
    c = psycopg.connect(os.environ["GRIDKIT_DSN"], autocommit=True)
    c.execute("CREATE EXTENSION IF NOT EXISTS gridkit CASCADE")
    c.execute((HERE / "fixtures.sql").read_text())
    if c.execute("SELECT to_regclass('demo.pnodes') IS NULL").fetchone()[0]:
        c.execute("SELECT gridkit.demo_generate(1, 42)")
    # The demo's point layers are clustered at low zoom; these serve every
    # point at every zoom, for comparison with ST_AsMVT.
    for layer, attrs in [("pnodes", "{name,iso_id,zone_id,node_type,severity_score,tier}"),
                         ("data_centers", "{name,operator,capacity_mw,status,iso_id}")]:
        c.execute("SELECT gridkit.layer_register(%s, %s::regclass, attributes => %s::text[])",
                  (f"{layer}_raw", f"demo.{layer}", attrs))
    # Every feature at every zoom, lines at the encoder's half-unit
    # tolerance, polygons not generalized: for comparison with ST_AsMVT (the
    # demo's own layers filter by zoom, simplify at a pixel, and read
    # generalized bands).
    for layer, attrs in [("transmission_lines", "{voltage_kv,circuits,length_km,owner,iso_id}"),
                         ("feeders", "{substation_id,voltage_kv,phases,customers}"),
                         ("isos", "{iso_id,name}"), ("zones", "{zone_code,iso_id,congestion_level}"),
                         ("substations", "{name,voltage_kv,iso_id}"),
                         ("der_locations", "{der_type,capacity_kw,interconnection_year,iso_id}")]:
        c.execute("SELECT gridkit.layer_register(%s, %s::regclass, attributes => %s::text[], "
                  "options => '{\"simplify\": {\"tolerance_px\": 0}}')", (f"{layer}_raw", f"demo.{layer}", attrs))
    yield c
    c.close()


def tile_of(lon, lat, z):
    """The XYZ tile holding a lon/lat point at zoom z."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    lat_r = math.radians(lat)
    y = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return z, min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tiles_covering(west, south, east, north, z):
    _, x0, y0 = tile_of(west, north, z)
    _, x1, y1 = tile_of(east, south, z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


class As:
    """Runs the block as `role` on the shared connection (SET ROLE, then RESET)."""

    def __init__(self, conn, role):
        self.conn, self.role = conn, role

    def __enter__(self):
        self.conn.execute(f"SET ROLE {self.role}")
        return self.conn

    def __exit__(self, *exc):
        self.conn.execute("RESET ROLE")


def tile_features(conn, layer, z=0, x=0, y=0, filt=None):
    """The decoded features of `layer` in grid_tile(layer, z, x, y[, filt])."""
    if filt is None:
        row = conn.execute("SELECT grid_tile(%s, %s, %s, %s)", (layer, z, x, y)).fetchone()
    else:
        row = conn.execute("SELECT grid_tile(%s, %s, %s, %s, %s::jsonb)", (layer, z, x, y, filt)).fetchone()
    return decode(bytes(row[0])).get(layer, {}).get("features", [])
