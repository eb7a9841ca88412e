"""A real interlock-server for the tests: started per test module on
loopback ports the system picks, in --dev mode with nothing on disk, and
stopped (SIGTERM, then waited for) afterwards.

The binary is $INTERLOCK_SERVER_BIN; $INTERLOCK_TEST_PKI is a directory of
development certificates (`interlockctl certs init DIR`) for the mutual-TLS
server. The repository's test suite sets both
(server/tests/python_client.rs). Run by hand:

    cargo build -p interlock-server -p interlock-client
    target/debug/interlockctl certs init /tmp/pki
    INTERLOCK_SERVER_BIN=target/debug/interlock-server INTERLOCK_TEST_PKI=/tmp/pki \
        pytest client/python/tests
"""

import json
import os
import subprocess
import threading
from dataclasses import dataclass

import pytest


@dataclass
class Server:
    endpoint: str
    ops: str


def _started(proc, timeout_s=60):
    """Reads the server's JSON log lines until both ports are bound."""
    found = {}
    done = threading.Event()

    def read():
        for line in proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            fields = rec.get("fields", {})
            msg = fields.get("message", "")
            if msg == "interlock serving":
                found["grpc"] = fields["addr"]
            elif msg.startswith("operations port"):
                found["ops"] = fields["addr"]
            if len(found) == 2:
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout_s) or len(found) != 2:
        proc.kill()
        pytest.fail(f"the server did not report both ports within {timeout_s} s: {found}")
    return Server(endpoint=found["grpc"], ops=found["ops"])


def _serve(extra):
    binary = os.environ.get("INTERLOCK_SERVER_BIN")
    if not binary:
        pytest.fail("set INTERLOCK_SERVER_BIN to an interlock-server binary (see conftest.py)")
    proc = subprocess.Popen(
        [
            binary,
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--durability",
            "none",
            "--log-format",
            "json",
            "--default-reuse-ratio",
            "2",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "RUST_LOG": "info"},
    )
    try:
        yield _started(proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server():
    """A --dev server: plaintext, the demo tokens."""
    yield from _serve(["--dev"])


@pytest.fixture(scope="module")
def pki():
    d = os.environ.get("INTERLOCK_TEST_PKI")
    if not d:
        pytest.fail("set INTERLOCK_TEST_PKI to a directory made by `interlockctl certs init` (see conftest.py)")
    return d


@pytest.fixture(scope="module")
def tls_server(pki):
    """A server as in production: mutual TLS, principals from certificates."""
    yield from _serve(
        [
            "--tls-cert",
            os.path.join(pki, "server.pem"),
            "--tls-key",
            os.path.join(pki, "server.key"),
            "--tls-client-ca",
            os.path.join(pki, "ca.pem"),
        ]
    )
