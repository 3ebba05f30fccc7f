"""Raw tiles read straight through the GiST index (src/index_read.rs) are
the tiles the tile query gives, and the index read never shows a row the
query would hide."""

import psycopg
import pytest

from conftest import tile_of, tiles_covering
from mvtcheck import decode

US = (-125, 24, -66, 50)
METROS = [(-87.63, 41.88), (-75.16, 39.95), (-96.8, 32.78), (-118.24, 34.05)]


def tile(conn, layer, z, x, y, index_read):
    conn.execute(f"SET gridkit.index_read = {'on' if index_read else 'off'}")
    try:
        return bytes(conn.execute("SELECT grid_tile(%s, %s, %s, %s)", (layer, z, x, y)).fetchone()[0])
    finally:
        conn.execute("RESET gridkit.index_read")


def deep_tiles():
    tiles = [t for z in (6, 7) for t in tiles_covering(*US, z)]
    for lon, lat in METROS:
        for z in (8, 10, 12, 14, 20):
            _, x, y = tile_of(lon, lat, z)
            tiles += [(z, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    for lon, lat in [(0, 0), (179.999, -10), (-180, 20), (-75.16, 39.95), (30, 85)]:
        tiles += [tile_of(lon, lat, z) for z in (6, 8, 12, 16, 20)]
    return sorted(set(tiles))


@pytest.fixture(scope="module")
def direct_layers(conn):
    # fx_pts reads a numeric and a date (the tile query's casts): no index
    # read. The same table with the types read as they are: index read.
    conn.execute("SELECT gridkit.layer_register('fx_pts_direct', 'fx2.pts', "
                 "attributes => '{label,score,ratio,big,neg,flag}')")
    yield ["fx_pts_direct", "fx_pts", "fx_lines", "fx_polys", "fx_polys_merc", "fx_pts_utm", "pnodes_raw",
           "data_centers_raw", "transmission_lines_raw", "zones_raw"]
    conn.execute("SELECT gridkit.layer_drop('fx_pts_direct')")


def test_index_read_gives_the_tiles_the_query_gives(conn, direct_layers):
    nonempty = 0
    for layer in direct_layers:
        for t in deep_tiles():
            a, b = tile(conn, layer, *t, True), tile(conn, layer, *t, False)
            assert a == b, (layer, t)
            nonempty += bool(a)
    assert nonempty > 200


def test_index_read_keeps_row_level_security_and_privileges(conn):
    conn.execute("""DROP TABLE IF EXISTS public.ir_secret;
                    CREATE TABLE public.ir_secret AS SELECT id, name, geom FROM demo.pnodes;
                    CREATE INDEX ON public.ir_secret USING gist (geom);
                    DROP ROLE IF EXISTS gk_ir_reader;
                    CREATE ROLE gk_ir_reader;
                    GRANT SELECT ON public.ir_secret TO gk_ir_reader;""")
    conn.execute("SELECT gridkit.layer_register('ir_secret', 'public.ir_secret', attributes => '{name}')")
    try:
        z, x, y = tile_of(-87.63, 41.88, 6)
        everything = tile(conn, "ir_secret", z, x, y, True)
        assert everything
        conn.execute("""ALTER TABLE public.ir_secret ENABLE ROW LEVEL SECURITY;
                        CREATE POLICY even ON public.ir_secret FOR SELECT USING (id % 2 = 0)""")
        conn.execute("SET ROLE gk_ir_reader")
        try:
            shown = tile(conn, "ir_secret", z, x, y, True)
            assert shown == tile(conn, "ir_secret", z, x, y, False)
            assert shown != everything
            # Only the policy's rows: the tile of the even rows alone.
        finally:
            conn.execute("RESET ROLE")
        conn.execute("""ALTER TABLE public.ir_secret DISABLE ROW LEVEL SECURITY;
                        DELETE FROM public.ir_secret WHERE id % 2 <> 0""")
        assert tile(conn, "ir_secret", z, x, y, True) == shown
        # Without the SELECT privilege, the query's own error, either way.
        conn.execute("REVOKE SELECT ON public.ir_secret FROM gk_ir_reader")
        conn.execute("SET ROLE gk_ir_reader")
        try:
            for index_read in (True, False):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    tile(conn, "ir_secret", z, x, y, index_read)
        finally:
            conn.execute("RESET ROLE")
        # Index dropped: the query path (a sequential scan), the same tile.
        conn.execute("DROP INDEX public.ir_secret_geom_idx")
        assert tile(conn, "ir_secret", z, x, y, True) == shown
    finally:
        conn.execute("RESET ROLE")
        conn.execute("SELECT gridkit.layer_drop('ir_secret')")
        conn.execute("DROP TABLE public.ir_secret; DROP ROLE gk_ir_reader")


def test_index_read_takes_nulls_empties_and_every_read_type(conn):
    conn.execute("""DROP TABLE IF EXISTS public.ir_types;
                    CREATE TABLE public.ir_types (id smallint PRIMARY KEY, label varchar(20), note text,
                                                  small int2, big int8, ratio real, score float8, flag bool,
                                                  geom geometry(Geometry, 3857));
                    INSERT INTO public.ir_types VALUES
                        (1, 'a', 'ünïcödé ✓', 1, 9007199254740993, 0.5, -2.25, true,
                         ST_Transform('SRID=4326;POINT(-87.63 41.88)'::geometry, 3857)),
                        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                         ST_Transform('SRID=4326;POINT(-87.62 41.87)'::geometry, 3857)),
                        (3, 'no geometry', '', -1, -1, -1, -1, false, NULL),
                        (4, 'empty', '', 0, 0, 0, 0, false, 'SRID=3857;POINT EMPTY'::geometry),
                        (5, 'line', 'x', 2, 2, 2, 2, true,
                         ST_Transform('SRID=4326;LINESTRING(-87.7 41.8, -87.5 41.95)'::geometry, 3857));
                    CREATE INDEX ON public.ir_types USING gist (geom);""")
    conn.execute("SELECT gridkit.layer_register('ir_types', 'public.ir_types', "
                 "attributes => '{label,note,small,big,ratio,score,flag}')")
    try:
        for z in (8, 10, 12, 14):
            t = tile_of(-87.63, 41.88, z)
            a = tile(conn, "ir_types", *t, True)
            assert a and a == tile(conn, "ir_types", *t, False), t
        z10 = tile(conn, "ir_types", *tile_of(-87.63, 41.88, 10), True)
        features = {f["id"]: f["properties"] for f in decode(z10)["ir_types"]["features"]}
        assert features[1] == {"label": "a", "note": "ünïcödé ✓", "small": 1, "big": 9007199254740993,
                               "ratio": 0.5, "score": -2.25, "flag": True}
        assert features[2] == {}
        assert 3 not in features and 4 not in features and 5 in features
    finally:
        conn.execute("SELECT gridkit.layer_drop('ir_types')")
        conn.execute("DROP TABLE public.ir_types")
