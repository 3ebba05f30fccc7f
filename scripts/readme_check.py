"""Runs every command the README prints against the demo (scripts/demo_smoke.sh
runs this after `make demo`): each SQL statement of its ```sql blocks on the
demo database, and each HTTP path it names on the demo server. A query must
return something (a row with a value that is not NULL or empty), a tile must
decode to features, an HTTP path must answer 200 with a body.

Each SQL block runs in its own transaction, rolled back: the blocks show
alternatives (registering the demo's layers again with other options) and
must not change the demo. Two things the README leaves to the reader are
supplied here: a cluster id "from a click" (taken from the pyramid, as a
tile's feature would carry it), and rows in the time-series example's own
table (it creates it empty), so its queries have something to return.

Usage: readme_check.py DSN HTTP_BASE
"""

import json
import pathlib
import re
import sys
import urllib.request

import mapbox_vector_tile
import psycopg

ROOT = pathlib.Path(__file__).resolve().parent.parent
VOID = 2278  # the type oid of void


def strip_comment(line):
    """The line without a trailing -- comment (outside quotes)."""
    quoted = False
    for i, c in enumerate(line):
        if c == "'":
            quoted = not quoted
        elif not quoted and line.startswith("--", i):
            return line[:i]
    return line


def sql_statements(text):
    """(block number, statement) for every statement of every ```sql block."""
    blocks = re.findall(r"^```sql\n(.*?)^```", text, re.S | re.M)
    for n, block in enumerate(blocks, 1):
        current = []
        for line in block.splitlines():
            code = strip_comment(line).rstrip()
            if not code.strip():
                continue
            current.append(code)
            if code.endswith(";"):
                yield n, "\n".join(current)
                current = []
        assert not current, f"block {n} ends inside a statement: {current}"


def has_value(rows):
    for row in rows:
        for v in row:
            if v is None:
                continue
            if isinstance(v, (bytes, bytearray, memoryview, str, list, dict)) and len(v) == 0:
                continue
            return True
    return False


def before(conn, statement):
    """What the reader supplies before a statement."""
    if "gridkit.ts_convert('old_readings'" in statement:
        conn.execute("CREATE TABLE old_readings (sensor_id int, ts timestamptz NOT NULL, value float8)")
        conn.execute("INSERT INTO old_readings SELECT 7, now() - i * interval '1 hour', i FROM generate_series(1, 48) i")
    cluster = re.search(r"cluster_(?:leaves|expansion_zoom)\('(\w+)', (\d+)", statement)
    if cluster:
        layer, literal = cluster.groups()
        clicked = conn.execute(
            "SELECT cluster_id FROM gridkit.pyramid_rows(%s) WHERE level = 4 AND cluster_id IS NOT NULL "
            "ORDER BY point_count DESC LIMIT 1", (layer,)).fetchone()[0]
        statement = statement.replace(literal, str(clicked))
    return statement


def after(conn, statement):
    if re.search(r"gridkit\.ts_create\('readings'", statement):
        conn.execute("INSERT INTO readings SELECT 7, now() - i * interval '5 minutes', i FROM generate_series(0, 2000) i")


def check_sql(dsn, text):
    checked = 0
    with psycopg.connect(dsn) as conn:
        block = None
        for n, statement in sql_statements(text):
            if n != block:
                conn.rollback()
                block = n
            statement = before(conn, statement)
            try:
                cur = conn.execute(statement)
            except psycopg.Error as e:
                raise AssertionError(f"README block {n}: {statement}\nfailed: {e}") from None
            after(conn, statement)
            if cur.description and statement.lstrip().upper().startswith("SELECT") \
                    and not all(col.type_code == VOID for col in cur.description):
                rows = cur.fetchall()
                assert has_value(rows), f"README block {n}: {statement}\nreturned nothing: {rows}"
            checked += 1
            print(f"    ok  {' '.join(statement.split())[:100]}")
        conn.rollback()
    return checked


def http_paths(text):
    """The paths the README's HTTP section names, as the server serves them."""
    section = text.split("### HTTP and the map", 1)[1].split("\n### ", 1)[0]
    paths = []
    for p in re.findall(r"`(/[^`\s]*)`", section):
        if "..." in p:
            continue
        if p.startswith("?"):
            continue
        paths.append(p)
    # A filter the text shows on its own (`?iso_id=PJM`), on the tile it names.
    for q in re.findall(r"`(\?[^`\s]+)`", section):
        paths.append(next(p for p in paths if p.endswith(".mvt")) + q)
    return paths


def check_http(base, text):
    checked = 0
    for path in http_paths(text):
        req = urllib.request.Request(base + path, headers={"Accept-Encoding": "identity"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
            assert r.status == 200 and body, (path, r.status)
            kind = r.headers.get("content-type", "")
        if path.split("?")[0].endswith(".mvt"):
            layers = mapbox_vector_tile.decode(body)
            assert any(layer["features"] for layer in layers.values()), f"{path}: a tile without features"
        elif kind.startswith("application/json"):
            assert json.loads(body), f"{path}: empty JSON"
        print(f"    ok  GET {path} ({len(body)} bytes)")
        checked += 1
    return checked


def main(dsn, base):
    text = (ROOT / "README.md").read_text()
    statements = check_sql(dsn, text)
    paths = check_http(base, text)
    print(f"    {statements} SQL statements and {paths} HTTP paths of the README answered on the demo data")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
