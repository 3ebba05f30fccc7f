"""Checks gridkit tiles with tools we did not write.

- ``structure``: parses the raw protobuf with the classes mapbox-vector-tile
  generated from the specification's vector_tile.proto, and checks what the
  MVT 2.1 specification requires of layers, tags and geometry commands.
- ``compare``: decodes our tile and PostGIS's ``ST_AsMVT(ST_AsMVTGeom(...))``
  tile for the same layer with mapbox-vector-tile, and compares them feature
  by feature (ids, attributes, geometry) with shapely.
"""

import math
import mapbox_vector_tile
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2
from shapely.geometry import shape

# What "the same geometry" means between two encoders that both snap to the
# integer grid but clip in a different order.
POINT_TOLERANCE = 1.0  # tile units
AREA_TOLERANCE = 0.02  # relative
# Snapping moves each vertex up to 0.71 unit, so a small polygon's area is
# only known to within a band along its outline: a quarter unit wide here.
AREA_BAND = 0.25  # tile units, times the perimeter
LENGTH_TOLERANCE = 0.10  # relative
# Below these sizes a feature may survive snapping in one encoder and
# collapse in the other; such features are reported, not failed.
SMALL_AREA = 8.0  # square tile units
SMALL_LENGTH = 4.0  # tile units


def ours(conn, layer, z, x, y):
    return bytes(conn.execute("SELECT grid_tile(%s, %s, %s, %s)", (layer, z, x, y)).fetchone()[0])


def reference_sql(conn, layer):
    """ST_AsMVT(ST_AsMVTGeom(...)) for this layer with PostGIS alone.

    The candidate filter compares Web Mercator boxes instead of the usual
    ``geom && ST_Transform(ST_TileEnvelope(z, x, y, margin => m), srid)``:
    PostGIS wraps that margin across the antimeridian for tiles on the edge of
    the world (tile 1/0/0 becomes lon 177..2.8), which would drop features from
    the reference. This filter is exact; the benchmarks use the indexed form.
    """
    src, geom, idcol, attrs, options, srid = conn.execute(
        "SELECT source::text, geom_column, id_column, attributes, options, srid FROM gridkit.layer WHERE name = %s",
        (layer,),
    ).fetchone()
    extent, buffer = options.get("extent", 4096), options.get("buffer", 64)
    types = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass",
            (src,),
        ).fetchall()
    )
    # Numbers as numbers: ST_AsMVT would write numeric as text.
    cols = ", ".join(f'"{a}"::float8 AS "{a}"' if types[a] == "numeric" else f'"{a}"' for a in attrs)
    cols = (cols + ", ") if cols else ""
    return (
        f"SELECT ST_AsMVT(q, %(name)s, {extent}, 'geom', 'id') FROM ("
        f' SELECT "{idcol}" AS id, {cols}'
        f'  ST_AsMVTGeom(ST_Transform("{geom}", 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {extent}, {buffer}, true) AS geom'
        f" FROM {src}"
        f' WHERE ST_Transform("{geom}", 3857) && ST_Expand(ST_TileEnvelope(%(z)s, %(x)s, %(y)s),'
        f"   {buffer / extent} * 40075016.685578488 / 2 ^ %(z)s)"
        f") q WHERE geom IS NOT NULL"
    )


def reference(conn, layer, z, x, y):
    sql = reference_sql(conn, layer)
    return bytes(conn.execute(sql, {"name": layer, "z": z, "x": x, "y": y}).fetchone()[0] or b"")


def truth(conn, layer, tile, ids):
    """Length and area of each feature clipped to the tile plus buffer, in
    tile units, computed exactly by PostGIS in Web Mercator: the arbiter when
    the two encoders disagree."""
    z, x, y = tile
    src, geom, idcol, options = conn.execute(
        "SELECT source::text, geom_column, id_column, options FROM gridkit.layer WHERE name = %s", (layer,)
    ).fetchone()
    extent, buffer = options.get("extent", 4096), options.get("buffer", 64)
    unit = 40075016.685578488 / 2**z / extent
    rows = conn.execute(
        f"""SELECT "{idcol}", ST_Length(g) / %(u)s, ST_Area(g) / %(u)s ^ 2 FROM (
              SELECT "{idcol}", ST_Intersection(ST_MakeValid(ST_Transform("{geom}", 3857)),
                                                ST_Expand(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(m)s * %(u)s)) AS g
                FROM {src} WHERE "{idcol}" = ANY(%(ids)s)) q""",
        {"u": unit, "z": z, "x": x, "y": y, "m": buffer, "ids": list(ids)},
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _zigzag(v):
    return (v >> 1) ^ -(v & 1)


def _parts(commands):
    """Splits geometry commands into parts, checking command syntax."""
    parts, i, cur = [], 0, (0, 0)
    closes = []
    while i < len(commands):
        cmd, count = commands[i] & 7, commands[i] >> 3
        i += 1
        assert cmd in (1, 2, 7), f"unknown command {cmd}"
        if cmd == 7:
            assert count == 1, "ClosePath count must be 1"
            closes.append(len(parts) - 1)
            continue
        assert count > 0, "MoveTo/LineTo count must be positive"
        for _ in range(count):
            cur = (cur[0] + _zigzag(commands[i]), cur[1] + _zigzag(commands[i + 1]))
            i += 2
            if cmd == 1:
                parts.append([cur])
            else:
                assert parts, "LineTo before MoveTo"
                parts[-1].append(cur)
    return parts, closes


def _ring_area(ring):
    """Surveyor's formula in tile coordinates (y down): > 0 is an exterior ring."""
    return sum(ring[k][0] * ring[(k + 1) % len(ring)][1] - ring[(k + 1) % len(ring)][0] * ring[k][1] for k in range(len(ring))) / 2


def structure(data):
    """Checks the raw tile against the MVT 2.1 specification; returns layer names."""
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(data)
    names = []
    for layer in tile.layers:
        names.append(layer.name)
        assert layer.version == 2
        assert layer.extent > 0
        assert len(set(layer.keys)) == len(layer.keys), "duplicate keys"
        values = [v.SerializeToString() for v in layer.values]
        assert len(set(values)) == len(values), "duplicate values"
        for v in layer.values:
            assert len(v.ListFields()) == 1, "a value must have exactly one field"
        assert len(layer.features) > 0, "empty layers are left out"
        for f in layer.features:
            assert len(f.tags) % 2 == 0
            assert all(f.tags[k] < len(layer.keys) for k in range(0, len(f.tags), 2))
            assert all(f.tags[k] < len(layer.values) for k in range(1, len(f.tags), 2))
            keys = [f.tags[k] for k in range(0, len(f.tags), 2)]
            assert len(set(keys)) == len(keys), "a key repeated within a feature"
            parts, closes = _parts(list(f.geometry))
            assert parts, "feature without geometry"
            if f.type == vector_tile_pb2.tile.Point:
                assert len(parts) == 1 or all(len(p) == 1 for p in parts)
                pts = [pt for p in parts for pt in p]
                assert len(set(pts)) == len(pts), "repeated point in a multipoint"
            elif f.type == vector_tile_pb2.tile.LineString:
                assert not closes
                for p in parts:
                    assert len(p) >= 2, "line with fewer than 2 points"
                    assert all(p[k] != p[k + 1] for k in range(len(p) - 1)), "repeated point in a line"
            elif f.type == vector_tile_pb2.tile.Polygon:
                assert closes == list(range(len(parts))), "every ring ends with ClosePath"
                assert _ring_area(parts[0]) > 0, "a polygon starts with an exterior ring"
                for p in parts:
                    assert len(p) >= 3 and len(set(p)) == len(p), "degenerate or self-touching ring"
                    assert _ring_area(p) != 0, "zero-area ring"
            else:
                raise AssertionError(f"unknown geometry type {f.type}")
    return names


def decode(data):
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def _features(decoded, name):
    return {f["id"]: f for f in decoded.get(name, {}).get("features", [])}


def _size(geom):
    """The measure a feature may be too small by to survive snapping."""
    if geom.geom_type.endswith("Polygon"):
        return geom.area, SMALL_AREA
    if geom.geom_type.endswith("LineString"):
        return geom.length, SMALL_LENGTH
    return None, None


def _marginal(geom, extent, buffer):
    size, small = _size(geom)
    if size is not None:
        return size <= small
    # A point within a unit of the clip box edge may fall either side of it.
    lo, hi = -buffer, extent + buffer
    return any(min(abs(c - lo), abs(c - hi)) <= 1 for p in shapely.get_coordinates(geom) for c in p)


def _same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _close(ours_value, ref_value, tolerance, small, exact):
    """Ours agrees with PostGIS, or, where they disagree, is within tolerance
    of the exact value and no further from it than PostGIS. `small` is an
    absolute allowance for features near the size of a tile unit."""
    if abs(ours_value - ref_value) <= max(tolerance * ref_value, small):
        return True
    if exact is None:
        return False
    return abs(ours_value - exact) <= max(tolerance * exact, small) and abs(ours_value - exact) <= abs(ref_value - exact)


def compare(ours_bytes, ref_bytes, name, extent=4096, buffer=64, skip=(), exact=None):
    """Compares our layer with PostGIS's; returns a list of notes on marginal
    differences (features one side keeps and the other drops when snapping).
    Features whose ids are in `skip` are left out of the comparison. `exact`,
    given ids, returns their exact (length, area) to settle disagreements."""
    a, b = _features(decode(ours_bytes), name), _features(decode(ref_bytes), name)
    for fid in skip:
        a.pop(fid, None)
        b.pop(fid, None)
    notes = []
    # PostGIS drops negative ids; so do we (the feature stays, without an id).
    for only, side, other in ((a.keys() - b.keys(), a, "PostGIS"), (b.keys() - a.keys(), b, "gridkit")):
        for fid in only:
            geom = shape(side[fid]["geometry"])
            assert _marginal(geom, extent, buffer), f"feature {fid} ({geom.geom_type}) missing from {other}'s tile"
            notes.append(f"feature {fid} only in one tile ({geom.geom_type}, marginal)")
    for fid in a.keys() & b.keys():
        fa, fb = a[fid], b[fid]
        assert fa["properties"].keys() == fb["properties"].keys(), (fid, fa["properties"], fb["properties"])
        for k, v in fa["properties"].items():
            assert _same_value(v, fb["properties"][k]), (fid, k, v, fb["properties"][k])
        ga, gb = shape(fa["geometry"]), shape(fb["geometry"])
        assert ga.geom_type.replace("Multi", "") == gb.geom_type.replace("Multi", ""), (fid, ga.geom_type, gb.geom_type)
        kind = ga.geom_type.replace("Multi", "")
        if kind == "Point":
            pa, pb = shapely.get_coordinates(ga), shapely.get_coordinates(gb)
            assert len(pa) == len(pb), (fid, len(pa), len(pb))
            for p in pa:
                assert min(max(abs(p[0] - q[0]), abs(p[1] - q[1])) for q in pb) <= POINT_TOLERANCE, (fid, p)
        elif kind == "LineString":
            la, lb = ga.length, gb.length
            if not _close(la, lb, LENGTH_TOLERANCE, SMALL_LENGTH, None):
                true_length = exact([fid])[fid][0] if exact else None
                assert _close(la, lb, LENGTH_TOLERANCE, SMALL_LENGTH, true_length), (fid, la, lb, true_length)
                notes.append(f"feature {fid}: length {la:.1f}, PostGIS {lb:.1f}, exact {true_length:.1f}")
        else:
            assert ga.is_valid, (fid, shapely.is_valid_reason(ga))
            aa, ab = ga.area, gb.area
            small = max(SMALL_AREA, AREA_BAND * ga.length)
            if not _close(aa, ab, AREA_TOLERANCE, small, None):
                true_area = exact([fid])[fid][1] if exact else None
                assert _close(aa, ab, AREA_TOLERANCE, small, true_area), (fid, aa, ab, true_area)
                notes.append(f"feature {fid}: area {aa:.1f}, PostGIS {ab:.1f}, exact {true_area:.1f}")
    return notes
