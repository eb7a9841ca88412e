"""The client: one gRPC channel, a bearer token or a client certificate,
and typed methods per role (venue, broker, oracle, admin)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import grpc

from interlock.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    position_pb2,
    position_pb2_grpc,
    pretrade_pb2,
    pretrade_pb2_grpc,
    price_pb2,
    price_pb2_grpc,
)

from .errors import InterlockError
from .types import (
    CheckResult,
    Exposure,
    Limit,
    LimitKind,
    QuoteStatus,
    ReservationState,
    TradingState,
)

Amount = Union[Decimal, int, str]


def amount(value: Amount, what: str = "amount") -> str:
    """An amount as the wire's decimal string. Floats are refused: 0.1 is
    not a decimal, and an amount must mean exactly what it says."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{what}: give a Decimal, an int or a decimal string, not {type(value).__name__}")
    if isinstance(value, (int, Decimal)):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{what}: {value!r} is not a decimal number") from None
    else:
        raise TypeError(f"{what}: give a Decimal, an int or a decimal string, not {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"{what}: {value!r} is not a finite number")
    return format(d, "f")


def collateral(participant: str, asset: str, quantity: Amount) -> position_pb2.SyncUpdate:
    """What a participant owns of an asset (absolute), for :meth:`Client.sync`."""
    return position_pb2.SyncUpdate(
        collateral=position_pb2.CollateralUpdate(
            participant=participant, asset=asset, quantity=amount(quantity, "quantity")
        )
    )


def commitment(
    participant: str, venue: str, asset: str, quantity: Amount, covers_commit_seq: int = 0
) -> position_pb2.SyncUpdate:
    """What a participant has posted on a venue (absolute), for :meth:`Client.sync`."""
    return position_pb2.SyncUpdate(
        commitment=position_pb2.CommitmentUpdate(
            participant=participant,
            venue=venue,
            asset=asset,
            quantity=amount(quantity, "quantity"),
            covers_commit_seq=covers_commit_seq,
        )
    )


def liability(participant: str, venue: str, asset: str, quantity: Amount) -> position_pb2.SyncUpdate:
    """What a participant owes a venue in an asset (absolute), for :meth:`Client.sync`."""
    return position_pb2.SyncUpdate(
        liability=position_pb2.LiabilityUpdate(
            participant=participant, venue=venue, asset=asset, quantity=amount(quantity, "quantity")
        )
    )


class Client:
    """A connection to an Interlock server.

    ``endpoint`` is ``host:port``. Authenticate with ``token`` (a bearer
    token) or, over TLS, with a client certificate (``certificate_chain``
    and ``private_key``, PEM bytes) signed by the server's client CA;
    ``root_certificates`` is the CA that signed the server's certificate.
    Without ``root_certificates`` the channel is plaintext (the server
    allows that only with ``--dev`` on loopback). ``timeout`` (seconds)
    bounds every call.
    """

    def __init__(
        self,
        endpoint: str,
        token: Optional[str] = None,
        *,
        root_certificates: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        timeout: float = 10.0,
    ) -> None:
        if root_certificates is not None:
            creds = grpc.ssl_channel_credentials(
                root_certificates=root_certificates,
                private_key=private_key,
                certificate_chain=certificate_chain,
            )
            self._channel = grpc.secure_channel(endpoint, creds)
        else:
            if certificate_chain is not None or private_key is not None:
                raise ValueError("a client certificate needs TLS: give root_certificates too")
            self._channel = grpc.insecure_channel(endpoint)
        self._metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._timeout = timeout
        self._pretrade = pretrade_pb2_grpc.PreTradeServiceStub(self._channel)
        self._position = position_pb2_grpc.PositionServiceStub(self._channel)
        self._price = price_pb2_grpc.PriceServiceStub(self._channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request):
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as e:
            raise InterlockError.from_rpc(e) from None

    # Venue.

    def check(
        self,
        participant: str,
        asset: str,
        quantity: Amount,
        *,
        order_id: str,
        ttl_ms: int = 0,
        risk_reducing: bool = False,
        dry_run: bool = False,
        allow_partial: bool = False,
        liability: Optional[Amount] = None,
    ) -> CheckResult:
        """May ``participant`` commit ``quantity`` more of ``asset`` on this
        venue? Approved headroom is reserved until committed, released or
        expired (``ttl_ms``; 0: the server's default). ``order_id`` is the
        idempotency key: a retry with the same request gets the original
        answer. A rejection is a result, not an error."""
        r = pretrade_pb2.CheckRequest(
            order_id=order_id,
            participant=participant,
            asset=asset,
            quantity=amount(quantity, "quantity"),
            ttl_ms=ttl_ms,
            risk_reducing=risk_reducing,
            dry_run=dry_run,
            allow_partial=allow_partial,
            liability=amount(liability, "liability") if liability is not None else "",
        )
        return CheckResult.from_pb(self._call(self._pretrade.Check, r))

    def commit(self, reservation_id: str) -> Tuple[ReservationState, int]:
        """Turns a reservation into a posted commitment: COMMITTED and the
        commit sequence to pass to your broker (a repeat gives the same
        answer). A released or expired reservation is FAILED_PRECONDITION."""
        r = self._call(self._pretrade.Commit, pretrade_pb2.CommitRequest(reservation_id=reservation_id))
        return ReservationState(r.state), r.commit_seq

    def release(self, reservation_id: str) -> ReservationState:
        """Frees a reservation's headroom: RELEASED (again, if released
        before), or EXPIRED if it had already expired. A committed
        reservation cannot be released: FAILED_PRECONDITION."""
        r = self._call(self._pretrade.Release, pretrade_pb2.ReleaseRequest(reservation_id=reservation_id))
        return ReservationState(r.state)

    # Broker.

    def last_sequence(self) -> int:
        """The last sync sequence the server applied for this broker."""
        return self._call(self._position.GetSyncState, position_pb2.GetSyncStateRequest()).last_applied_sequence

    def sync(self, sequence: int, updates: Sequence[position_pb2.SyncUpdate]) -> int:
        """Sends one sync message (absolute positions, at ``sequence``: the
        last applied plus one) and returns the sequence the server applied.
        Build updates with :func:`collateral`, :func:`commitment` and
        :func:`liability`."""
        request = position_pb2.SyncRequest(sequence=sequence, updates=list(updates))
        try:
            acks = list(
                self._position.Sync(iter([request]), metadata=self._metadata, timeout=self._timeout)
            )
        except grpc.RpcError as e:
            raise InterlockError.from_rpc(e) from None
        if not acks:
            raise InterlockError(grpc.StatusCode.UNKNOWN, "the sync stream ended without an ack")
        return acks[-1].applied_sequence

    # Oracle.

    def publish(
        self, sequence: int, quotes: Iterable[Tuple[str, Amount, int]]
    ) -> List[Tuple[QuoteStatus, Optional[Decimal]]]:
        """Publishes quotes ``(asset, price, published_ms)`` at ``sequence``;
        per quote, its status and the asset's price after it."""
        request = price_pb2.PublishRequest(
            sequence=sequence,
            quotes=[
                price_pb2.Quote(asset=a, price=amount(p, "price"), published_ms=t) for a, p, t in quotes
            ],
        )
        try:
            acks = list(self._price.Publish(iter([request]), metadata=self._metadata, timeout=self._timeout))
        except grpc.RpcError as e:
            raise InterlockError.from_rpc(e) from None
        if not acks:
            raise InterlockError(grpc.StatusCode.UNKNOWN, "the publish stream ended without an ack")
        return [(QuoteStatus(v.status), Decimal(v.price) if v.price else None) for v in acks[-1].verdicts]

    # Admin.

    def set_limit(
        self,
        kind: LimitKind,
        value: Amount,
        *,
        participant: Optional[str] = None,
        venue: Optional[str] = None,
        asset: Optional[str] = None,
        warn_levels_pct: Sequence[Amount] = (),
        expected_version: Optional[int] = None,
        force_reason: str = "",
    ) -> Limit:
        """Sets a limit (a ratio for REUSE_RATIO, a quantity otherwise)."""
        r = admin_pb2.SetLimitRequest(
            kind=kind.value,
            scope=common_pb2.Scope(participant=participant or "", venue=venue or "", asset=asset or ""),
            value=amount(value, "value"),
            warn_levels_pct=[amount(w, "warn_levels_pct") for w in warn_levels_pct],
            force_reason=force_reason,
        )
        if expected_version is not None:
            r.expected_version = expected_version
        return Limit.from_pb(self._call(self._admin.SetLimit, r))

    def set_trading_state(self, participant: str, state: TradingState, reason: str) -> TradingState:
        """Halts a participant, makes it reduce-only, or resumes it, on every
        venue at once; returns the state it had before."""
        r = self._call(
            self._admin.SetTradingState,
            admin_pb2.SetTradingStateRequest(participant=participant, state=state.value, reason=reason),
        )
        return TradingState(r.previous) if r.previous else TradingState.ACTIVE

    def exposure(self, participant: str) -> Exposure:
        """A participant's exposure across every venue, per asset."""
        return Exposure.from_pb(
            self._call(self._admin.GetExposure, admin_pb2.GetExposureRequest(participant=participant))
        )
