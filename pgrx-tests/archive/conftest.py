"""The cold-tier suite: partitions archived to Parquet by retention, read
back by pyarrow (a reader we did not write), restored, re-materialized and
killed half-way. It has a database of its own and opens its own
connections: its crash tests make the server restart every backend."""

import os
import pathlib
import time

import psycopg
import pytest

DSN = os.environ["GRIDKIT_DSN"]


def connect(autocommit=True):
    deadline = time.monotonic() + 60
    while True:
        try:
            return psycopg.connect(DSN, autocommit=autocommit)
        except psycopg.OperationalError:
            # The server is restarting after a backend was killed.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def conn():
    c = connect()
    c.execute("CREATE EXTENSION IF NOT EXISTS gridkit CASCADE")
    yield c
    c.close()


@pytest.fixture
def root(conn):
    """The archive root of the test cluster (scripts/cluster.sh sets it)."""
    path = conn.execute("SELECT current_setting('gridkit.archive_directory')").fetchone()[0]
    assert path, "the test cluster has no gridkit.archive_directory"
    return pathlib.Path(path)
