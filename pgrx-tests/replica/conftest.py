"""The streaming-replica suite: a primary and a hot standby made from it
with pg_basebackup -R (two project-local clusters), gridkit and the demo on
the primary, gridkit-server on each. Reads are compared between the two;
writes on the standby must fail clearly; the standby's server must cache,
revalidate and follow the primary's changes as they are replayed."""

import os
import subprocess
import sys
import time

import psycopg
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "http"))
from serverproc import ROOT, running_server, server_env  # noqa: E402

PRIMARY_PORT = int(os.environ.get("GRIDKIT_REPLICA_PORT", "25434"))
STANDBY_PORT = PRIMARY_PORT + 1
# How often the standby's server looks at the replay position (its default).
POLL_MS = 250


def cluster(*args):
    r = subprocess.run([str(ROOT / "scripts/cluster.sh"), *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def connect(name, port, dbname="gridkit"):
    return psycopg.connect(host=cluster("dir", name), port=port, user="postgres", dbname=dbname, autocommit=True)


class Pair:
    """The primary and the standby, as superuser connections to gridkit."""

    def __init__(self, primary, standby):
        self.primary = primary
        self.standby = standby

    def replayed(self, seconds=30):
        """Waits until the standby replayed everything the primary wrote so
        far; returns when (time.monotonic())."""
        lsn = self.primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        deadline = time.monotonic() + seconds
        while True:
            if self.standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
                return time.monotonic()
            assert time.monotonic() < deadline, f"the standby did not replay {lsn} within {seconds} s"
            time.sleep(0.01)


@pytest.fixture(scope="session")
def pair():
    cluster("wipe", "replica_standby")
    cluster("wipe", "replica_primary")
    cluster("start", "replica_primary", str(PRIMARY_PORT))
    with connect("replica_primary", PRIMARY_PORT, "postgres") as c:
        c.execute("CREATE DATABASE gridkit")
    primary = connect("replica_primary", PRIMARY_PORT)
    primary.execute("CREATE EXTENSION gridkit CASCADE")
    primary.execute("SELECT gridkit.demo_generate(1, 42)")
    primary.execute("SELECT gridkit.api_grant('gridkit_web', create_role => true, login => true)")
    primary.execute((ROOT / "pgrx-tests/http/lmp_rows.sql").read_text())
    primary.execute(open(os.path.join(os.path.dirname(__file__), "fixtures.sql")).read())
    cluster("standby", "replica_standby", str(STANDBY_PORT), "replica_primary")
    standby = connect("replica_standby", STANDBY_PORT)
    p = Pair(primary, standby)
    p.replayed()
    try:
        yield p
    finally:
        primary.close()
        standby.close()
        if not os.environ.get("KEEP_CLUSTER"):
            cluster("stop", "replica_standby")
            cluster("stop", "replica_primary")


@pytest.fixture(scope="session")
def standby_server(pair):
    env = server_env(cluster("dir", "replica_standby"), STANDBY_PORT, "gridkit", GRIDKIT_POLL_MS=POLL_MS)
    with running_server(env, "replica-standby-server.log") as client:
        yield client


@pytest.fixture(scope="session")
def primary_server(pair):
    env = server_env(cluster("dir", "replica_primary"), PRIMARY_PORT, "gridkit")
    with running_server(env, "replica-primary-server.log") as client:
        yield client
