"""The Citus suite: a coordinator and two workers (three project-local
clusters preloading Citus), gridkit and the demo on the coordinator, and
distributed and reference copies of demo tables. Every layer on a Citus
table is compared with the same layer on the local table it was copied
from: tiles byte for byte, builds, spatial functions, change counts."""

import os
import subprocess
import sys

import psycopg
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "http"))
from serverproc import ROOT, running_server, server_env  # noqa: E402

COORDINATOR_PORT = int(os.environ.get("GRIDKIT_CITUS_PORT", "25460"))
NODES = [("citus_coordinator", COORDINATOR_PORT), ("citus_worker1", COORDINATOR_PORT + 1),
         ("citus_worker2", COORDINATOR_PORT + 2)]


def cluster(*args):
    r = subprocess.run([str(ROOT / "scripts/cluster.sh"), *args], capture_output=True, text=True,
                       env={**os.environ, "GRIDKIT_PRELOAD": "citus,pg_cron"})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def connect(name, port, dbname="gridkit"):
    return psycopg.connect(host=cluster("dir", name), port=port, user="postgres", dbname=dbname, autocommit=True)


@pytest.fixture(scope="session")
def coordinator():
    for name, port in NODES:
        cluster("wipe", name)
        cluster("start", name, str(port))
        with connect(name, port, "postgres") as c:
            c.execute("CREATE DATABASE gridkit")
        with connect(name, port) as c:
            c.execute("CREATE EXTENSION citus")
    db = connect(*NODES[0])
    db.execute("SELECT citus_set_coordinator_host('localhost', %s)", [COORDINATOR_PORT])
    for _, port in NODES[1:]:
        db.execute("SELECT citus_add_node('localhost', %s)", [port])
    db.execute("CREATE EXTENSION gridkit CASCADE")
    db.execute("SELECT gridkit.demo_generate(1, 42)")
    db.execute((ROOT / "pgrx-tests/http/lmp_rows.sql").read_text())
    db.execute(open(os.path.join(os.path.dirname(__file__), "fixtures.sql")).read())
    try:
        yield db
    finally:
        db.close()
        if not os.environ.get("KEEP_CLUSTER"):
            for name, _ in reversed(NODES):
                cluster("stop", name)


@pytest.fixture(scope="session")
def worker(coordinator):
    with connect(*NODES[1]) as c:
        yield c


CITUS_POLL_MS = 1000


@pytest.fixture(scope="session")
def server(coordinator):
    coordinator.execute("SELECT gridkit.api_grant('gridkit_web', create_role => true, login => true)")
    env = server_env(cluster("dir", NODES[0][0]), COORDINATOR_PORT, "gridkit", GRIDKIT_CITUS_POLL_MS=CITUS_POLL_MS)
    with running_server(env, "citus-server.log") as client:
        yield client
