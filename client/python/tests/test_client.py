"""The Python client against a real server (conftest.py starts it)."""

import itertools
import pathlib
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from interlock_client import (
    Client,
    Headroom,
    InterlockError,
    LimitKind,
    QuoteStatus,
    RejectCode,
    ReservationState,
    TradingState,
    Verdict,
    collateral,
)
from interlock_client.client import amount
from interlock_client.types import MIRRORS

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
_orders = itertools.count(1)


def order():
    return f"py-{time.time_ns()}-{next(_orders)}"


def own(server, participant, asset, qty):
    with Client(server.endpoint, token="dev-broker") as broker:
        seq = broker.last_sequence() + 1
        assert broker.sync(seq, [collateral(participant, asset, qty)]) == seq


def test_enums_mirror_the_proto():
    for py, pb, prefix in MIRRORS:
        wire = {n[len(prefix):]: v for n, v in pb.items() if not n.endswith("_UNSPECIFIED")}
        assert {m.name: m.value for m in py} == wire, py.__name__


def test_amounts_are_decimals_never_floats():
    assert amount(Decimal("1.50")) == "1.50"
    assert amount(3) == "3"
    assert amount("0.1") == "0.1"
    with pytest.raises(TypeError):
        amount(0.1)
    with pytest.raises(ValueError):
        amount("ten")
    with pytest.raises(ValueError):
        amount(Decimal("NaN"))


def test_a_venue_checks_commits_and_is_rejected_past_the_limit(server):
    own(server, "py-p1", "ETH", Decimal("100"))
    with Client(server.endpoint, token="dev-venue-a") as venue:
        r = venue.check("py-p1", "ETH", Decimal("150"), order_id=order())
        assert r.verdict is Verdict.APPROVED
        assert r.approved == Decimal("150") and isinstance(r.approved, Decimal)
        assert r.reservation_id and r.expires_at_ms
        assert r.headroom is Headroom.LOW
        # 2x reuse of 100 ETH: 50 more fit, 100 do not.
        no = venue.check("py-p1", "ETH", Decimal("100"), order_id=order())
        assert no.verdict is Verdict.REJECTED
        assert no.reject_code is RejectCode.LIMIT_EXCEEDED
        assert no.limit_kind is LimitKind.REUSE_RATIO
        assert no.limit_value == Decimal("2")
        assert no.reservation_id is None and no.approved == 0
        state, seq = venue.commit(r.reservation_id)
        assert state is ReservationState.COMMITTED and seq > 0
        # A reservation ends once: a commit again gives the same answer, a
        # release after the commit is refused.
        assert venue.commit(r.reservation_id) == (state, seq)
        with pytest.raises(InterlockError) as e:
            venue.release(r.reservation_id)
        assert e.value.code is grpc.StatusCode.FAILED_PRECONDITION
    with Client(server.endpoint, token="dev-admin") as admin:
        e = admin.exposure("py-p1")
        (eth,) = e.assets
        assert (eth.asset, eth.owned, eth.committed) == ("ETH", Decimal("100"), Decimal("150"))
        assert eth.venues[0].venue == "venue-a" and eth.venues[0].posted == Decimal("150")


def test_a_retry_gets_the_original_answer(server):
    own(server, "py-p2", "ETH", Decimal("10"))
    with Client(server.endpoint, token="dev-venue-b") as venue:
        oid = order()
        first = venue.check("py-p2", "ETH", "4", order_id=oid)
        again = venue.check("py-p2", "ETH", "4", order_id=oid)
        assert first == again
        with pytest.raises(InterlockError) as e:
            venue.check("py-p2", "ETH", "5", order_id=oid)
        assert e.value.code is grpc.StatusCode.ALREADY_EXISTS


def test_errors_carry_the_code_and_the_field(server):
    with Client(server.endpoint, token="dev-venue-a") as venue:
        with pytest.raises(InterlockError) as e:
            venue.check("py-p1", "ETH", "-1", order_id=order())
        assert e.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.field == "quantity"
        with pytest.raises(InterlockError) as e:
            venue.set_limit(LimitKind.REUSE_RATIO, "3", participant="py-p1")
        assert e.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert e.value.field is None
    with Client(server.endpoint, token="not-a-token") as nobody:
        with pytest.raises(InterlockError) as e:
            nobody.check("py-p1", "ETH", "1", order_id=order())
        assert e.value.code is grpc.StatusCode.UNAUTHENTICATED


def test_the_desk_halts_everywhere(server):
    own(server, "py-p3", "ETH", Decimal("10"))
    with Client(server.endpoint, token="dev-admin") as admin:
        limit = admin.set_limit(LimitKind.MAX_ORDER_QUANTITY, Decimal("5"), participant="py-p3", asset="ETH")
        assert limit.kind is LimitKind.MAX_ORDER_QUANTITY and limit.value == Decimal("5")
        assert admin.set_trading_state("py-p3", TradingState.HALTED, "test") is TradingState.ACTIVE
    with Client(server.endpoint, token="dev-venue-c") as venue:
        r = venue.check("py-p3", "ETH", "1", order_id=order())
        assert r.reject_code is RejectCode.TRADING_HALTED


def test_an_oracle_publishes(server):
    now = int(time.time() * 1000)
    with Client(server.endpoint, token="dev-oracle") as oracle:
        (verdict,) = oracle.publish(1, [("NOT-CLASSED", Decimal("1.5"), now)])
        assert verdict == (QuoteStatus.UNKNOWN_ASSET, None)


def test_the_operations_port_is_prometheus_text(server):
    with urllib.request.urlopen(f"http://{server.ops}/readyz", timeout=10) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"http://{server.ops}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    # The Prometheus project's own parser reads every family.
    families = {f.name: f for f in text_string_to_metric_families(text)}
    checks = families["interlock_checks"]
    assert checks.type == "counter"
    approved = [s.value for s in checks.samples if s.labels == {"verdict": "approved"}]
    assert approved and approved[0] >= 2
    assert families["interlock_grpc_server_handling_seconds"].type == "histogram"
    assert families["interlock_table_entries"].type == "gauge"


@pytest.mark.parametrize("example", ["broker.py", "venue.py", "admin.py"])
def test_the_examples_run(server, example):
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / example), server.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def _pem(pki, name):
    with open(f"{pki}/{name}", "rb") as f:
        return f.read()


def _tls_client(server, pki, who=None):
    return Client(
        server.endpoint,
        root_certificates=_pem(pki, "ca.pem"),
        certificate_chain=_pem(pki, f"{who}.pem") if who else None,
        private_key=_pem(pki, f"{who}.key") if who else None,
    )


def test_mutual_tls_names_the_principal_by_its_certificate(tls_server, pki):
    with _tls_client(tls_server, pki, "broker-prime-1") as broker:
        seq = broker.last_sequence() + 1
        assert broker.sync(seq, [collateral("tls-p", "ETH", "10")]) == seq
    with _tls_client(tls_server, pki, "venue-venue-a") as venue:
        r = venue.check("tls-p", "ETH", "5", order_id=order())
        assert r.verdict is Verdict.APPROVED and r.approved == Decimal("5")
        # The certificate says venue: an admin call is refused.
        with pytest.raises(InterlockError) as e:
            venue.set_limit(LimitKind.REUSE_RATIO, "3", participant="tls-p")
        assert e.value.code is grpc.StatusCode.PERMISSION_DENIED
    # Without a client certificate the handshake fails: no call is judged.
    with _tls_client(tls_server, pki) as nobody:
        with pytest.raises(InterlockError) as e:
            nobody.check("tls-p", "ETH", "1", order_id=order())
        assert e.value.code is grpc.StatusCode.UNAVAILABLE
    # Nor in plaintext.
    with Client(tls_server.endpoint, token="dev-venue-a") as plain:
        with pytest.raises(InterlockError) as e:
            plain.check("tls-p", "ETH", "1", order_id=order())
        assert e.value.code is grpc.StatusCode.UNAVAILABLE


def test_a_client_certificate_needs_tls():
    with pytest.raises(ValueError):
        Client("127.0.0.1:1", certificate_chain=b"x", private_key=b"y")
