"""Hostile strings in every name and JSON field gridkit builds SQL from
(issue 19, the audit): each call either works on the string as data or fails
with a clear 22023 / 42602 / 42703 / 42704 / 42P01 / 22P02, and the database
is unchanged (a canary table and the catalog's object counts are checked
after every call). Rollup expressions cannot run a subquery, a function or
read another table."""

import json

import psycopg
import pytest

from mvtcheck import decode

HOSTILE = [
    "x'; DROP TABLE inj.canary; --",
    'x"; DROP TABLE inj.canary; --',
    "a') OR true; --",
    '$$; DROP TABLE inj.canary; $$',
    "$1",
    "%I %L %s",
    "\\'; DROP TABLE inj.canary; --",
    "Robert'); DROP TABLE inj.canary;--",
    "ünïcödé \"quoted\" 'single'",
    "(SELECT 1)",
    "pg_sleep(10)",
    "x" * 5000,
    "",
    " ",
]
# What a refusal may be: a bad argument, a bad name, an unknown column,
# layer or relation, a value of the wrong type.
CLEAR = (psycopg.errors.InvalidParameterValue, psycopg.errors.InvalidName, psycopg.errors.UndefinedColumn,
         psycopg.errors.UndefinedObject, psycopg.errors.UndefinedTable, psycopg.errors.InvalidTextRepresentation,
         psycopg.errors.NameTooLong, psycopg.errors.InvalidSchemaName, psycopg.errors.DatatypeMismatch)


@pytest.fixture(scope="module")
def inj(conn):
    conn.execute("""
        DROP SCHEMA IF EXISTS inj CASCADE;
        CREATE SCHEMA inj;
        CREATE TABLE inj.canary (n int);
        INSERT INTO inj.canary VALUES (1);
        -- Names a user may really have: quotes, spaces, capitals.
        CREATE TABLE inj."Odd ""Sites"" Table" (
            "Site Id" int PRIMARY KEY, "Name's" text, "MW ""net"" kW" float8, "Upper" text,
            "x'); DROP TABLE inj.canary; --" text, geom geometry(Point, 4326));
        INSERT INTO inj."Odd ""Sites"" Table"
        SELECT i, 'site ' || i, i, 'U' || i, 'v' || i, ST_SetSRID(ST_MakePoint(-100 + i * 0.01, 40), 4326)
          FROM generate_series(1, 50) i;
        CREATE INDEX ON inj."Odd ""Sites"" Table" USING gist (geom);
    """)
    conn.execute('CREATE TABLE inj."Read ""ings""" ("Sensor Id" int NOT NULL, "Time Col" timestamptz NOT NULL, '
                 '"Val ue" float8) PARTITION BY RANGE ("Time Col")')
    conn.execute("""SELECT gridkit.layer_register('odd_sites', 'inj."Odd ""Sites"" Table"',
                        id_column => 'Site Id', attributes => %s::text[])""",
                 (["Name's", 'MW "net" kW', "Upper", "x'); DROP TABLE inj.canary; --"],))
    yield
    conn.execute("SELECT gridkit.layer_drop(name) FROM gridkit.layer WHERE source::text LIKE 'inj.%'")
    conn.execute("SELECT gridkit.rollup_drop(name) FROM gridkit.rollup WHERE name LIKE 'inj%'")
    conn.execute("DROP SCHEMA inj CASCADE")


def snapshot(conn):
    """What an injected statement would change."""
    return conn.execute("""
        SELECT (SELECT count(*) FROM inj.canary),
               (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_proc),
               (SELECT count(*) FROM pg_roles WHERE rolsuper),
               (SELECT count(*) FROM gridkit.layer), (SELECT count(*) FROM gridkit.rollup)""").fetchone()


def clear_or_works(conn, sql, args=(), *, may_work=True):
    """Runs sql; it must work (if allowed) or fail with a clear SQLSTATE, and
    change nothing. Returns the rows or the error."""
    before = snapshot(conn)
    try:
        rows = conn.execute(sql, args).fetchall()
    except CLEAR as e:
        assert snapshot(conn) == before, f"{sql} {args!r:.200} failed but changed the database"
        return e
    assert may_work, f"{sql} {args!r:.200} should have been refused"
    # What worked did what it says (a registration, say), nothing else.
    assert snapshot(conn)[:4] == before[:4], f"{sql} {args!r:.200} changed the database"
    return rows


def test_names_with_quotes_spaces_and_capitals_work_as_data(conn, inj):
    data = conn.execute("SELECT grid_tile('odd_sites', 10, 227, 387)").fetchone()[0]
    feats = decode(bytes(data))["odd_sites"]["features"]
    assert len(feats) > 0
    props = feats[0]["properties"]
    assert set(props) == {"Name's", 'MW "net" kW', "Upper", "x'); DROP TABLE inj.canary; --"}
    f = conn.execute("SELECT gridkit.feature('odd_sites', 7)").fetchone()[0]
    assert f["attributes"]["Name's"] == "site 7" and f["attributes"]['MW "net" kW'] == 7
    rows = conn.execute("SELECT count(*) FROM gridkit.bbox('odd_sites', -101, 39, -99, 41)").fetchone()[0]
    assert rows == 50
    # Filters on those names, with hostile values: data, never SQL.
    for value in HOSTILE:
        got = clear_or_works(conn, "SELECT grid_tile('odd_sites', 10, 227, 387, %s::jsonb)",
                             (json.dumps({"Name's": value}),))
        assert not isinstance(got, Exception) and decode(bytes(got[0][0])) == {}, value
    assert snapshot(conn)[0] == 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_layer_names(conn, inj, hostile):
    for sql, args in [("SELECT grid_tile(%s, 0, 0, 0)", (hostile,)),
                      ("SELECT grid_tile(ARRAY[%s, 'odd_sites'], 0, 0, 0)", (hostile,)),
                      ("SELECT api.tile(%s, 0, 0, 0)", (hostile,)),
                      ("SELECT api.tilejson(%s)", (hostile,)),
                      ("SELECT gridkit.feature(%s, 1)", (hostile,)),
                      ("SELECT * FROM gridkit.nearby(%s, 0, 0, 10)", (hostile,)),
                      ("SELECT * FROM gridkit.cluster_leaves(%s, 1)", (hostile,)),
                      ("SELECT gridkit.layer_access(%s)", (hostile,)),
                      ("SELECT gridkit.cluster_refresh(%s)", (hostile,)),
                      ("SELECT gridkit.layer_drop(%s)", (hostile,))]:
        assert isinstance(clear_or_works(conn, sql, args, may_work=False), Exception), sql
    # As a new layer's name: refused by the name rule (letters, digits, _ - .).
    got = clear_or_works(conn, "SELECT gridkit.layer_register(%s, 'inj.\"Odd \"\"Sites\"\" Table\"', "
                         "id_column => 'Site Id')", (hostile,), may_work=False)
    assert isinstance(got, psycopg.errors.InvalidParameterValue), got
    assert snapshot(conn)[0] == 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_attribute_filter_and_rule_names(conn, inj, hostile):
    source = 'inj."Odd ""Sites"" Table"'
    calls = [
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, id_column => 'Site Id', attributes => %s::text[])",
         (source, [hostile])),
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, id_column => %s)", (source, hostile)),
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, geom_column => %s, id_column => 'Site Id')",
         (source, hostile)),
        ("SELECT gridkit.layer_register('inj_attr', %s, id_column => 'Site Id')", (hostile,)),
        ("SELECT grid_tile('odd_sites', 0, 0, 0, %s::jsonb)", (json.dumps({hostile: 1}),)),
        ("SELECT grid_tile('odd_sites', 0, 0, 0, %s::jsonb)", (json.dumps({"Upper": {hostile: 1}}),)),
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, id_column => 'Site Id', attributes => '{Upper}', "
         "options => %s::jsonb)", (source, json.dumps({"zoom_rules": [{"max_zoom": 5, "where": {hostile: "x"}}]}))),
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, id_column => 'Site Id', attributes => '{Upper}', "
         "options => %s::jsonb)", (source, json.dumps({"zoom_rules": [{"max_zoom": 5, "where": {"Upper": {hostile: 1}}}]}))),
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, id_column => 'Site Id', attributes => '{Upper}', "
         "options => %s::jsonb)", (source, json.dumps({"rank": hostile}))),
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, id_column => 'Site Id', attributes => '{\"MW \"\"net\"\" kW\"}', "
         "options => %s::jsonb)", (source, json.dumps({"cluster": {"aggregates": {'MW "net" kW': hostile}}}))),
        ("SELECT gridkit.layer_register('inj_attr', %s::regclass, id_column => 'Site Id', attributes => '{Upper}', "
         "options => %s::jsonb)", (source, json.dumps({hostile: 1}))),
    ]
    for sql, args in calls:
        got = clear_or_works(conn, sql, args, may_work=False)
        assert isinstance(got, Exception), (sql, hostile)
    # A zoom rule's value is data.
    conn.execute("SELECT gridkit.layer_register('inj_rule', %s::regclass, id_column => 'Site Id', "
                 "attributes => '{Upper}', options => %s::jsonb)",
                 (source, json.dumps({"zoom_rules": [{"max_zoom": 12, "where": {"Upper": hostile}}]})))
    try:
        data = conn.execute("SELECT grid_tile('inj_rule', 10, 227, 387)").fetchone()[0]
        assert decode(bytes(data)) == {}
    finally:
        conn.execute("SELECT gridkit.layer_drop('inj_rule')")
    assert snapshot(conn)[0] == 1


ROLLUP_ATTACKS = [
    "avg((SELECT 1))",
    "avg(value); DROP TABLE inj.canary",
    "pg_sleep(1)",
    "avg(pg_sleep(1))",
    "avg(\"Val ue\") FILTER (WHERE pg_terminate_backend(pg_backend_pid()))",
    "sum((SELECT n FROM inj.canary))",
    "avg(\"Val ue\"\"); DROP TABLE inj.canary; --\")",
    "max(inj.canary.n)",
    "count(*) OVER ()",
    "avg(\"Val ue\") + 1",
    "nextval('x')",
    "avg(\"Sensor Id\" || 1)",
    "avg()",
    "",
]


SERIES = 'inj."Read ""ings"""'


@pytest.fixture(scope="module")
def series(conn, inj):
    conn.execute("SELECT gridkit.ts_create(%s::regclass, 'Time Col', '1 day', premake => 1)", (SERIES,))
    conn.execute(f"INSERT INTO {SERIES} SELECT s, now() - m * interval '1 minute', m "
                 "FROM generate_series(1, 3) s, generate_series(0, 600) m")
    yield SERIES


@pytest.mark.parametrize("expression", ROLLUP_ATTACKS)
def test_rollup_expressions_are_a_closed_grammar(conn, series, expression):
    got = clear_or_works(conn, "SELECT gridkit.rollup_create('inj_bad', %s::regclass, 'Time Col', '1 hour', "
                         "'{Sensor Id}', %s::jsonb)", (series, json.dumps({"out": expression})), may_work=False)
    # Refused as a bad expression, or (a quoted name) as a column that does not exist.
    assert isinstance(got, (psycopg.errors.InvalidParameterValue, psycopg.errors.UndefinedColumn)), (expression, got)
    # The output name is a name: hostile ones are quoted, or refused.
    for hostile in HOSTILE[:4]:
        try:
            conn.execute("SELECT gridkit.rollup_create('inj_bad', %s::regclass, 'Time Col', '1 hour', "
                         "'{Sensor Id}', %s::jsonb)", (series, json.dumps({hostile: "avg(\"Val ue\")"})))
        except CLEAR:
            pass
        else:
            conn.execute("SELECT gridkit.rollup_refresh('inj_bad')")
            conn.execute("SELECT gridkit.rollup_drop('inj_bad')")
        assert snapshot(conn)[0] == 1


def test_time_series_names_with_quotes_spaces_and_capitals(conn, series):
    conn.execute("SELECT gridkit.rollup_create('inj_hourly', %s::regclass, 'Time Col', '1 hour', '{Sensor Id}', "
                 "%s::jsonb)", (series, json.dumps({'Avg "V"': 'avg("Val ue")', "n": "count(*)"})))
    conn.execute("SELECT gridkit.rollup_refresh('inj_hourly')")
    # Materialized buckets and the live ones after the watermark.
    total = conn.execute('SELECT sum(n) FROM inj.inj_hourly_realtime').fetchone()[0]
    assert total == conn.execute(f"SELECT count(*) FROM {series}").fetchone()[0]
    rows = conn.execute("SELECT * FROM gridkit.history(%s::regclass, '{\"Sensor Id\": 2}', now() - interval '1 day', "
                        "now() + interval '1 hour', max_points => 5)", (series,)).fetchall()
    assert sum(r[4] for r in rows) == 601
    for value in HOSTILE[:8]:
        got = clear_or_works(conn, "SELECT * FROM gridkit.history(%s::regclass, %s::jsonb, now() - interval '1 day', "
                             "now())", (series, json.dumps({"Sensor Id": value})), may_work=False)
        assert isinstance(got, psycopg.errors.InvalidTextRepresentation), (value, got)
        got = clear_or_works(conn, "SELECT * FROM gridkit.history(%s::regclass, %s::jsonb, now() - interval '1 day', "
                             "now())", (series, json.dumps({value: 1})), may_work=False)
        assert isinstance(got, (psycopg.errors.UndefinedColumn, psycopg.errors.InvalidParameterValue)), (value, got)
    conn.execute("SELECT gridkit.latest_enable(%s::regclass, '{Sensor Id}')", (series,))
    assert conn.execute("SELECT count(*) FROM api.latest(%s)", (series,)).fetchone()[0] == 3
    conn.execute("SELECT gridkit.latest_disable(%s::regclass)", (series,))
    conn.execute("SELECT gridkit.rollup_drop('inj_hourly')")
    assert snapshot(conn)[0] == 1


def test_every_security_definer_function_pins_its_search_path(conn):
    """A SECURITY DEFINER function that resolved names through the caller's
    search_path could be made to run the caller's objects with its owner's
    rights: each of gridkit's sets search_path to pg_catalog, pg_temp (the
    temporary schema last, where it cannot shadow anything)."""
    rows = conn.execute("""
        SELECT p.oid::regprocedure::text, p.proconfig
          FROM pg_proc p
          JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'gridkit'
         WHERE p.prosecdef""").fetchall()
    assert len(rows) >= 5
    for name, config in rows:
        assert config is not None and "search_path=pg_catalog, pg_temp" in config, (name, config)
