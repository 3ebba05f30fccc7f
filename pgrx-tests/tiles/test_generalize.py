"""Lines and polygons by zoom, decoded by mapbox-vector-tile and checked with
shapely and PostGIS: valid polygons, shared borders without gaps or
overlaps, zoom rules at their boundaries, lengths and areas against the
full-resolution geometry, stable ids, the tile budget's rank."""

import itertools

import pytest
import shapely
from shapely.geometry import box, shape

from conftest import tile_of, tiles_covering
from mvtcheck import decode, ours, structure

US = (-125, 24, -66, 50)
EXTENT = 4096
WORLD = 40075016.685578488
RULES = [(4, 500), (6, 345), (8, 230), (10, 115)]


@pytest.fixture(scope="module")
def layers(conn):
    conn.execute("SELECT gridkit.layer_register('zones_gen', 'demo.zones', attributes => '{zone_code,iso_id}')")
    conn.execute("SELECT gridkit.generalize_refresh('zones_gen')")
    rules = ", ".join(f'{{"max_zoom": {z}, "where": {{"voltage_kv": {{">=": {kv}}}}}}}' for z, kv in RULES)
    conn.execute(
        "SELECT gridkit.layer_register('lines_gen', 'demo.transmission_lines', attributes => '{voltage_kv,owner}', "
        f"options => '{{\"min_zoom\": 2, \"zoom_rules\": [{rules}], \"rank\": \"voltage_kv\"}}')"
    )
    conn.execute("SELECT gridkit.generalize_refresh('lines_gen')")
    # The same lines, never generalized: tiles from the source.
    conn.execute(
        "SELECT gridkit.layer_register('lines_src', 'demo.transmission_lines', attributes => '{voltage_kv,owner}', "
        f"options => '{{\"min_zoom\": 2, \"zoom_rules\": [{rules}]}}')"
    )
    # Every line at every zoom, generalized.
    conn.execute("SELECT gridkit.layer_register('lines_all', 'demo.transmission_lines', "
                 "attributes => '{voltage_kv,owner}', options => '{\"rank\": \"voltage_kv\"}')")
    conn.execute("SELECT gridkit.generalize_refresh('lines_all')")
    yield
    for layer in ("zones_gen", "lines_gen", "lines_src", "lines_all"):
        conn.execute("SELECT gridkit.layer_drop(%s)", (layer,))


def band_max_zoom(conn, layer):
    return conn.execute("SELECT max_zoom FROM gridkit.generalization WHERE layer = %s", (layer,)).fetchone()[0]


def features(conn, layer, z, x, y):
    data = ours(conn, layer, z, x, y)
    if not data:
        return []
    assert structure(data) == [layer]
    return decode(data)[layer]["features"]


def zone_tiles():
    tiles = [t for z in range(0, 6) for t in tiles_covering(*US, z)]
    for lon, lat in [(-87.63, 41.88), (-96.8, 32.78), (-118.24, 34.05)]:
        tiles += [tile_of(lon, lat, z) for z in (6, 7, 8, 9, 11)]
    return sorted(set(tiles))


def test_bands_cover_low_zooms_with_fewer_vertices(conn, layers):
    for layer in ("zones_gen", "lines_gen"):
        max_zoom, src, kept, shared = conn.execute(
            "SELECT max_zoom, source_vertices, vertices, shared_arcs FROM gridkit.generalization WHERE layer = %s",
            (layer,)).fetchone()
        assert max_zoom >= 5, layer
        per_band = conn.execute(
            "SELECT level, sum(ST_NPoints(geom)) FROM gridkit.generalized_rows(%s) GROUP BY 1 ORDER BY 1",
            (layer,)).fetchall()
        # Each band keeps at most half the source's vertices, and finer
        # bands keep more.
        assert all(n <= src / 2 for _, n in per_band), per_band
        counts = [n for _, n in per_band]
        if layer == "zones_gen":
            assert counts == sorted(counts), per_band
            assert shared > 50


def test_every_polygon_in_every_tile_is_valid(conn, layers):
    checked = 0
    for t in zone_tiles():
        for f in features(conn, "zones_gen", *t):
            g = shape(f["geometry"])
            assert g.is_valid, (t, f["id"], shapely.is_valid_reason(g))
            checked += 1
    assert checked > 300


def _zone_shapes(conn, layer, t):
    return {f["id"]: shape(f["geometry"]) for f in features(conn, layer, *t)}


def test_neighbouring_zones_show_no_gap_or_overlap(conn, layers):
    """For adjacent zones in a decoded tile: no overlap and no gap wider
    than one tile unit anywhere along their border."""
    adjacent = conn.execute(
        """SELECT a.id, b.id FROM demo.zones a JOIN demo.zones b
             ON a.id < b.id AND ST_Intersects(a.geom, b.geom)
            AND ST_Dimension(ST_Intersection(a.geom, b.geom)) = 1""").fetchall()
    assert len(adjacent) > 50
    checked = 0
    for t in zone_tiles():
        shapes = _zone_shapes(conn, "zones_gen", t)
        tile_box = box(0, 0, EXTENT, EXTENT)
        for a, b in adjacent:
            if a not in shapes or b not in shapes:
                continue
            ga, gb = shapes[a], shapes[b]
            overlap = ga.intersection(gb)
            # Nothing wider than one unit overlaps.
            assert overlap.buffer(-0.5).is_empty, (t, a, b, overlap.area)
            # The border is drawn once: closing a one-unit gap joins them
            # all along it, so the union of the two has no hole or notch
            # wider than a unit between them inside the tile.
            union = ga.union(gb)
            closed = ga.buffer(0.5).union(gb.buffer(0.5)).buffer(-0.5)
            gap = closed.difference(union).intersection(tile_box)
            assert gap.buffer(-0.5).is_empty, (t, a, b, gap.area)
            checked += 1
    assert checked > 200, checked


def test_independent_simplification_would_open_gaps(conn, layers):
    """The check above can fail: zones simplified one by one at the same
    pixel tolerance (ST_SimplifyPreserveTopology, as a hand-written tile
    query would) do overlap by more than a unit."""
    z, x, y = tile_of(-96.8, 32.78, 5)
    rows = conn.execute(
        """SELECT id, ST_AsBinary(ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_Transform(geom, 3857), %(tol)s),
                                               ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true))
             FROM demo.zones WHERE ST_Transform(geom, 3857) && ST_TileEnvelope(%(z)s, %(x)s, %(y)s)""",
        {"tol": WORLD / 512 / 2**z, "z": z, "x": x, "y": y}).fetchall()
    shapes = [shapely.from_wkb(bytes(w)) for _, w in rows if w is not None]
    worst = max(a.intersection(b).area for a, b in itertools.combinations(shapes, 2))
    assert worst > 10, worst


def test_area_and_length_within_tolerance_of_full_resolution(conn, layers):
    """Zone areas within 1% and line lengths within 3% of the exact
    clipped geometry (PostGIS, full resolution) in tiles from bands."""
    for t in [tile_of(-87.63, 41.88, z) for z in (3, 5, 7)] + [tile_of(-96.8, 32.78, 4)]:
        z, x, y = t
        unit = WORLD / 2**z / EXTENT
        clip = box(0, 0, EXTENT, EXTENT)
        ours_area = sum(shape(f["geometry"]).intersection(clip).area for f in features(conn, "zones_gen", *t))
        exact_area = conn.execute(
            """SELECT coalesce(sum(ST_Area(ST_Intersection(ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s)))), 0)
                 FROM demo.zones""", t).fetchone()[0] / unit**2
        assert abs(ours_area - exact_area) <= 0.01 * exact_area, (t, ours_area, exact_area)
        if z >= 5:
            got = {f["id"]: shape(f["geometry"]).intersection(clip).length for f in features(conn, "lines_all", *t)}
            exact = dict(conn.execute(
                """SELECT id, ST_Length(ST_Intersection(ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s))) / %s
                     FROM demo.transmission_lines WHERE id = ANY(%s)""", (z, x, y, unit, list(got))).fetchall())
            total_ours, total_exact = sum(got.values()), sum(exact.values())
            assert total_exact > 100
            assert abs(total_ours - total_exact) <= 0.03 * total_exact, (t, total_ours, total_exact)


@pytest.mark.parametrize("layer", ["lines_gen", "lines_src"])
def test_zoom_rules_at_every_boundary(conn, layers, layer):
    """At each zoom around each rule's max_zoom, a tile holds exactly the
    lines the rule admits (bands and source alike)."""
    def expected_kv(z):
        if z < 2:
            return None
        return next((kv for max_z, kv in RULES if z <= max_z), 0)

    for z in sorted({0, 1, 2, 3} | {m for m, _ in RULES} | {m + 1 for m, _ in RULES}):
        t = tile_of(-87.63, 41.88, z)
        got = {f["id"]: f["properties"]["voltage_kv"] for f in features(conn, layer, *t)}
        kv = expected_kv(z)
        if kv is None:
            assert not got, (z, len(got))
            continue
        # Every line through the tile (plus buffer) at or above the rule's voltage.
        buffer = 64 / EXTENT * WORLD / 2**z
        want = {r[0] for r in conn.execute(
            """SELECT id FROM demo.transmission_lines
                WHERE voltage_kv >= %s
                  AND ST_Intersects(ST_Transform(geom, 3857), ST_Expand(ST_TileEnvelope(%s, %s, %s), %s))""",
            (kv, *t, buffer))}
        assert all(v >= kv for v in got.values()), (z, kv)
        # Lines smaller than the tolerance, or only grazing the buffer, may
        # be left out; nothing else.
        missing = want - set(got)
        assert len(missing) <= max(2, len(want) // 20), (layer, z, len(missing), len(want))
        assert set(got) <= want


@pytest.mark.parametrize("layer", ["lines_gen", "lines_all"])
def test_ids_are_stable_across_zooms(conn, layers, layer):
    attrs = {}
    for z in range(0, 12):
        for f in features(conn, layer, *tile_of(-87.63, 41.88, z)):
            attrs.setdefault(f["id"], set()).add((f["properties"]["voltage_kv"], f["properties"]["owner"]))
    source = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, voltage_kv, owner FROM demo.transmission_lines")}
    assert len(attrs) >= 3
    for fid, seen in attrs.items():
        assert seen == {source[fid]}, fid


@pytest.mark.parametrize("z", [4, 12])
def test_a_full_tile_keeps_the_highest_voltages(conn, layers, z):
    """From the bands (z4) and from the source (z12) alike."""
    t = tile_of(-87.63, 41.88, z) if z < 12 else (12, 1177, 1558)  # six lines meet at a substation
    everything = {f["id"]: f["properties"]["voltage_kv"] for f in features(conn, "lines_all", *t)}
    assert len(everything) >= 6, len(everything)
    conn.execute("SET gridkit.max_features = 5")
    try:
        kept = {f["id"]: f["properties"]["voltage_kv"] for f in features(conn, "lines_all", *t)}
    finally:
        conn.execute("RESET gridkit.max_features")
    assert len(kept) == 5
    dropped = set(everything) - set(kept)
    assert min(kept.values()) >= max(everything[i] for i in dropped)


def test_bands_follow_changes_after_refresh(conn, layers):
    (fid,) = conn.execute("SELECT id FROM demo.transmission_lines WHERE voltage_kv < 345 ORDER BY id LIMIT 1").fetchone()
    (old,) = conn.execute("SELECT voltage_kv FROM demo.transmission_lines WHERE id = %s", (fid,)).fetchone()
    conn.execute("UPDATE demo.transmission_lines SET voltage_kv = 765 WHERE id = %s", (fid,))
    try:
        assert conn.execute("SELECT stale FROM gridkit.layer_status() WHERE layer = 'lines_gen'").fetchone()[0]
        levels = lambda: {r[0] for r in conn.execute(
            "SELECT level FROM gridkit.generalized_rows('lines_gen') WHERE id = %s", (fid,))}
        assert 5 not in levels()
        conn.execute("SELECT gridkit.generalize_refresh('lines_gen')")
        assert not conn.execute("SELECT stale FROM gridkit.layer_status() WHERE layer = 'lines_gen'").fetchone()[0]
        assert 5 in levels()
    finally:
        conn.execute("UPDATE demo.transmission_lines SET voltage_kv = %s WHERE id = %s", (old, fid))
        conn.execute("SELECT gridkit.generalize_refresh('lines_gen')")


def stored_and_rendered(conn, layer, t):
    """The tile as served (from the build's stored copy where it has one)
    and as rendered from the bands, with the NOTICEs of each."""
    notes = []
    handler = lambda d: notes.append(d.message_primary)  # noqa: E731
    conn.add_notice_handler(handler)
    try:
        stored = ours(conn, layer, *t)
        stored_notes, notes[:] = list(notes), []
        conn.execute("SET gridkit.stored_tiles = off")
        rendered = ours(conn, layer, *t)
        rendered_notes = list(notes)
    finally:
        conn.execute("RESET gridkit.stored_tiles")
        conn.remove_notice_handler(handler)
    return (stored, stored_notes), (rendered, rendered_notes)


def test_stored_low_zoom_tiles_are_the_rendered_tiles(conn, layers):
    """generalize_refresh stores the non-empty tiles of zooms 0-4; each is
    byte for byte the tile rendered from the bands, and the tiles it does
    not store are empty."""
    for layer in ("zones_gen", "lines_gen", "lines_all"):
        tiles, max_zoom = conn.execute(
            "SELECT tiles::text, tiles_max_zoom FROM gridkit.generalization WHERE layer = %s", (layer,)).fetchone()
        assert max_zoom == 4
        kept = {tuple(r) for r in conn.execute(f"SELECT z, x, y FROM {tiles}")}
        compared = sorted({t for z in range(5) for t in tiles_covering(*US, z)} | {(4, 8, 5), (2, 2, 1)})  # + Europe
        assert kept and kept <= set(compared), (layer, kept - set(compared))
        for t in compared:
            (stored, _), (rendered, _) = stored_and_rendered(conn, layer, t)
            assert stored == rendered, (layer, t)
            assert bool(rendered) == (t in kept), (layer, t)


def test_stored_tiles_keep_the_budget_and_its_notice(conn, layers):
    """A tile cut to the layer's budget is stored cut, with the same NOTICE;
    under another budget in force, tiles are rendered again."""
    conn.execute("SELECT gridkit.layer_register('lines_budget', 'demo.transmission_lines', attributes => '{voltage_kv,owner}', "
                 "options => '{\"rank\": \"voltage_kv\", \"max_features\": 5}')")
    try:
        conn.execute("SELECT gridkit.generalize_refresh('lines_budget')")
        t = tile_of(-87.63, 41.88, 3)
        (stored, stored_notes), (rendered, rendered_notes) = stored_and_rendered(conn, "lines_budget", t)
        assert stored == rendered and len(decode(stored)["lines_budget"]["features"]) == 5
        assert stored_notes == rendered_notes and "dropped" in stored_notes[0], stored_notes
        # The settings' budget applies to layers without one of their own.
        conn.execute("SET gridkit.max_features = 3")
        try:
            (small, _), (small_rendered, _) = stored_and_rendered(conn, "lines_all", t)
        finally:
            conn.execute("RESET gridkit.max_features")
        assert small == small_rendered and len(decode(small)["lines_all"]["features"]) == 3
    finally:
        conn.execute("SELECT gridkit.layer_drop('lines_budget')")


def test_a_refresh_retires_the_stored_tiles_of_the_build_before(conn, layers):
    (old,) = conn.execute("SELECT tiles::oid FROM gridkit.generalization WHERE layer = 'zones_gen'").fetchone()
    conn.execute("SELECT gridkit.generalize_refresh('zones_gen')")
    conn.execute("SELECT gridkit.generalize_refresh('zones_gen')")
    assert conn.execute("SELECT count(*) FROM pg_class WHERE oid = %s", (old,)).fetchone()[0] == 0
    (new,) = conn.execute("SELECT tiles::oid FROM gridkit.generalization WHERE layer = 'zones_gen'").fetchone()
    assert new != old and conn.execute("SELECT count(*) FROM pg_class WHERE oid = %s", (new,)).fetchone()[0] == 1
