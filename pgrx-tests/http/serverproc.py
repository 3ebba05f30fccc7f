"""gridkit-server as a test runs it: started on a port against a database
URL, driven with the standard library's HTTP client (no decoding done for
us), stopped with SIGTERM (which must end it cleanly). Shared by the HTTP
suite and the streaming-replica suite."""

import contextlib
import gzip
import http.client
import json
import os
import pathlib
import re
import signal
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Client:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            c.request(method, path, body=data, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def json(self, path, method="GET", body=None):
        status, headers, data = self.request(method, path, body)
        assert headers["content-type"].startswith("application/json"), (path, headers)
        return status, json.loads(data)

    def tile(self, path, headers=None):
        status, h, data = self.get(path, headers)
        if h.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        return status, h, data

    def metric(self, name):
        """Counter or gauge gridkit_`name` from /metrics (0 if absent)."""
        status, _, body = self.get("/metrics")
        assert status == 200
        m = re.search(rf"^gridkit_{name}(?:_total)? (\d+)", body.decode(), re.M)
        return int(m.group(1)) if m else 0


def server_env(host, port, dbname, **settings):
    """The environment of a server reading `dbname` as gridkit_web."""
    url = f"host={host} port={port} user=gridkit_web dbname={dbname}"
    env = {**os.environ, "DATABASE_URL": url, "GRIDKIT_WEB_DIR": str(ROOT / "web"),
           "GRIDKIT_STATEMENT_TIMEOUT_MS": "2000", "GRIDKIT_POOL_SIZE": "8"}
    env.update({k: str(v) for k, v in settings.items()})
    return env


def wait_healthy(client, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            status, body = client.json("/health")
            if status == 200 and body.get("listening"):
                return body
        except (OSError, json.JSONDecodeError):
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become healthy")


def bound_port(proc, log_path, seconds=20):
    """The port the server reports it listens on. Tests let the kernel pick
    it (--listen 127.0.0.1:0): a fixed port in the ephemeral range
    (32768-60999 here) can be held by any outgoing connection, one of the
    suite's own pool connections included."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log_path.read_text())
        if m:
            return int(m.group(1))
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {log_path.read_text()}")
        time.sleep(0.05)
    raise AssertionError("the server did not report the port it listens on")


@contextlib.contextmanager
def running_server(env, log_name):
    """A server on 127.0.0.1 (a port the kernel picks; the client knows it),
    healthy, logging to target/`log_name`; it must stop with exit code 0
    within 10 s of SIGTERM."""
    binary = os.environ.get("GRIDKIT_SERVER", str(ROOT / "target/debug/gridkit-server"))
    log_path = ROOT / "target" / log_name
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0"], env=env, stdout=log, stderr=log)
    try:
        client = Client(bound_port(proc, log_path))
        wait_healthy(client)
        yield client
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the server did not stop within 10 s of SIGTERM")
        finally:
            log.close()
    assert code == 0, f"the server exited with {code} on SIGTERM"
