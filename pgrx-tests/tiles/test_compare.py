"""gridkit tiles against PostGIS ST_AsMVT, decoded by mapbox-vector-tile."""

import pytest

from conftest import tile_of, tiles_covering
from mvtcheck import compare, decode, ours, reference, structure, truth

US = (-125, 24, -66, 50)
METROS = [(-87.63, 41.88), (-75.16, 39.95), (-77.49, 39.04), (-96.8, 32.78), (-118.24, 34.05), (-93.27, 44.98)]
DEMO_LAYERS = ["isos_raw", "zones_raw", "pnodes_raw", "data_centers_raw", "substations_raw", "transmission_lines_raw",
               "feeders_raw", "der_locations_raw"]


def fixture_tiles():
    tiles = [(0, 0, 0)]
    tiles += [(z, x, y) for z in (1, 2, 3) for x in range(2**z) for y in range(2**z)]
    for lon, lat in [(0, 0), (0.001, 0.001), (-0.001, -0.001), (10, 10), (-75.16, 39.95), (179.999, -10), (-180, 20), (-1, 4)]:
        tiles += [tile_of(lon, lat, z) for z in (5, 8, 12, 16, 20)]
    return sorted(set(tiles))


def demo_tiles():
    """Every tile over the United States to zoom 6, and around metro areas
    deeper down, with their neighbours at z10 and z12 (tile seams)."""
    tiles = [t for z in range(0, 7) for t in tiles_covering(*US, z)]
    for lon, lat in METROS:
        tiles += [tile_of(lon, lat, z) for z in (8, 14, 16, 20)]
        for z in (10, 12):
            _, x, y = tile_of(lon, lat, z)
            tiles += [(z, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    return sorted(set(tiles))


# Features stored past 180° of longitude. PROJ wraps each vertex into
# [-180, 180], so PostGIS draws such a segment the long way round the world;
# gridkit projects coordinates as given and clips what lies past the edge of
# the world (see test_coordinates_past_180_are_clipped_not_wrapped).
PAST_180 = {"fx_lines": {3}, "fx_polys": {3}, "fx_polys_512": {3}}


def check(conn, layer, tile, extent=4096, buffer=64):
    a, b = ours(conn, layer, *tile), reference(conn, layer, *tile)
    skip = PAST_180.get(layer, set())
    if a:
        assert structure(a) == [layer]
    if not skip:
        assert (len(a) == 0) == (len(b) == 0), f"{layer} {tile}: one tile is empty ({len(a)} vs {len(b)} bytes)"
    if a and b:
        return compare(a, b, layer, extent, buffer, skip, exact=lambda ids: truth(conn, layer, tile, ids))
    return []


@pytest.mark.parametrize("layer", ["fx_pts", "fx_lines", "fx_polys", "fx_polys_merc", "fx_pts_utm"])
def test_fixtures_match_postgis(conn, layer):
    for tile in fixture_tiles():
        check(conn, layer, tile)


def test_fixtures_with_small_extent_match_postgis(conn):
    for tile in fixture_tiles():
        check(conn, "fx_polys_512", tile, extent=512, buffer=8)


def test_coordinates_past_180_are_clipped_not_wrapped(conn):
    # LINESTRING(170 -5, 190 -5) at z1: in the east tile it runs from lon 170
    # to the edge of the world plus the buffer, and it is not in the west tile.
    east = {f["id"]: f for f in decode(ours(conn, "fx_lines", 1, 1, 1))["fx_lines"]["features"]}
    (x0, _), (x1, _) = east[3]["geometry"]["coordinates"]
    assert (x0, x1) == (round(8192 * (170 + 180) / 360 - 4096), 4096 + 64)
    west = decode(ours(conn, "fx_lines", 1, 0, 1)).get("fx_lines", {}).get("features", [])
    assert 3 not in {f["id"] for f in west}
    # A line from 179 to -179 is taken literally, across the world, by both.
    check(conn, "fx_lines", (1, 0, 0))


@pytest.mark.parametrize("layer", DEMO_LAYERS)
def test_demo_layers_match_postgis(conn, layer):
    compared = 0
    for tile in demo_tiles():
        check(conn, layer, tile)
        compared += 1
    assert compared > 250


def test_headline_tile_has_the_expected_pnodes(conn):
    data = ours(conn, "pnodes_raw", 5, 9, 12)
    assert structure(data) == ["pnodes_raw"]
    features = decode(data)["pnodes_raw"]["features"]
    expected = {
        r[0]: r[1:]
        for r in conn.execute(
            """SELECT id, name, iso_id, zone_id, node_type, severity_score, tier FROM demo.pnodes
                WHERE ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(5, 9, 12), 4096, 64) IS NOT NULL"""
        )
    }
    assert len(expected) > 50
    assert {f["id"] for f in features} == expected.keys()
    for f in features:
        p = f["properties"]
        assert (p["name"], p["iso_id"], p["zone_id"], p["node_type"], p["severity_score"], p["tier"]) == expected[f["id"]]


def test_several_layers_in_one_tile(conn):
    layers = ["zones_raw", "transmission_lines_raw", "pnodes_raw", "data_centers_raw"]
    data = bytes(conn.execute("SELECT grid_tile(%s::text[], 4, 4, 6)", (layers,)).fetchone()[0])
    assert structure(data) == layers
    for name in layers:
        compare(data, reference(conn, name, 4, 4, 6), name, exact=lambda ids, n=name: truth(conn, n, (4, 4, 6), ids))


def test_attribute_types(conn):
    f = {x["id"]: x for x in decode(ours(conn, "fx_pts", 0, 0, 0))["fx_pts"]["features"]}
    p = f[1]["properties"]
    assert p == {"label": "origin", "score": 0.5, "ratio": 0.25, "big": 9007199254740993, "neg": -7,
                 "flag": True, "price": 12.5, "seen": "2026-11-23"}
    # NULL attributes are left out; an empty string is a value.
    assert f[3]["properties"].keys() == {"ratio", "price"}
    assert f[8]["properties"]["label"] == ""
    assert f[7]["properties"]["label"] == "unicode ✓ ünïcödé"


def test_negative_ids_are_left_out_like_postgis(conn):
    from mapbox_vector_tile.Mapbox import vector_tile_pb2

    tile = vector_tile_pb2.tile()
    tile.ParseFromString(ours(conn, "fx_pts", 0, 0, 0))
    without_id = [f for f in tile.layers[0].features if not f.HasField("id")]
    assert len(without_id) == 1
    assert sorted(f.id for f in tile.layers[0].features if f.HasField("id"))[:2] == [1, 2]


def test_polygons_through_the_poles_are_valid(conn):
    conn.execute("""CREATE TABLE IF NOT EXISTS fx2.polar (id int PRIMARY KEY, geom geometry(Polygon, 4326));
                    INSERT INTO fx2.polar VALUES (1, 'SRID=4326;POLYGON((-180 -90, 180 -90, 180 -60, -180 -60, -180 -90))'),
                                                 (2, 'SRID=4326;POLYGON((-10 80, 10 80, 0 90, -10 80))')
                    ON CONFLICT DO NOTHING""")
    conn.execute("SELECT gridkit.layer_register('fx_polar', 'fx2.polar')")
    for tile in [(0, 0, 0), (1, 0, 1), (1, 1, 0), (3, 4, 7), (3, 4, 0)]:
        data = ours(conn, "fx_polar", *tile)
        assert data, tile
        structure(data)
        compare(data, data, "fx_polar")
