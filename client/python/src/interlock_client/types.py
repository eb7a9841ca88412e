"""What the client returns: enums for the proto's enums (without their
prefixes), frozen dataclasses with :class:`~decimal.Decimal` amounts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional, Tuple

from interlock.v1 import common_pb2, pretrade_pb2, price_pb2


class Verdict(enum.Enum):
    APPROVED = 1
    PARTIALLY_APPROVED = 2
    REJECTED = 3


class RejectCode(enum.Enum):
    LIMIT_EXCEEDED = 1
    NO_COLLATERAL = 2
    TRADING_HALTED = 3
    REDUCE_ONLY = 4
    STALE_SYNC = 5
    PRICE_STALE = 6


class Headroom(enum.Enum):
    """Headroom left on this venue, in orders of the request's quantity."""

    NONE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


class ReservationState(enum.Enum):
    OPEN = 1
    COMMITTED = 2
    RELEASED = 3
    EXPIRED = 4


class LimitKind(enum.Enum):
    REUSE_RATIO = 1
    MAX_COMMITMENT = 2
    ASSET_CAP = 3
    MAX_ORDER_QUANTITY = 4
    MIN_HF_ECO = 5
    STRESS_HF_ECO = 6
    VALUE_CAP = 7


class TradingState(enum.Enum):
    ACTIVE = 1
    REDUCE_ONLY = 2
    HALTED = 3


class QuoteStatus(enum.Enum):
    ACCEPTED = 1
    HELD = 2
    REFUSED_NOT_POSITIVE = 3
    REFUSED_TOO_OLD = 4
    REFUSED_FROM_THE_FUTURE = 5
    REFUSED_OUT_OF_ORDER = 6
    REFUSED_TOO_MANY_ORACLES = 7
    UNKNOWN_ASSET = 8


# Each enum above and the proto enum it mirrors (with the prefix its values
# carry there): tests/test_client.py checks they agree value for value.
MIRRORS = (
    (Verdict, pretrade_pb2.Verdict, "VERDICT_"),
    (RejectCode, pretrade_pb2.RejectCode, "REJECT_CODE_"),
    (Headroom, pretrade_pb2.HeadroomBucket, "HEADROOM_BUCKET_"),
    (ReservationState, pretrade_pb2.ReservationState, "RESERVATION_STATE_"),
    (LimitKind, common_pb2.LimitKind, "LIMIT_KIND_"),
    (TradingState, common_pb2.TradingState, "TRADING_STATE_"),
    (QuoteStatus, price_pb2.QuoteStatus, "QUOTE_STATUS_"),
)


def _of(cls, number: int):
    """The enum member with this wire number; None for UNSPECIFIED (0)."""
    if number == 0:
        return None
    return cls(number)


def decimal_or_none(s: str) -> Optional[Decimal]:
    return Decimal(s) if s else None


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict. ``reservation_id`` and ``expires_at_ms`` are set
    when approved (fully or partly) and not a dry run; ``reject_code``,
    ``limit_id``, ``limit_kind`` and ``reason`` when rejected."""

    order_id: str
    verdict: Verdict
    approved: Decimal
    headroom: Optional[Headroom]
    dry_run: bool
    reservation_id: Optional[str] = None
    expires_at_ms: Optional[int] = None
    reject_code: Optional[RejectCode] = None
    limit_kind: Optional[LimitKind] = None
    limit_id: Optional[str] = None
    limit_value: Optional[Decimal] = None
    reason: Optional[str] = None

    @classmethod
    def from_pb(cls, r: pretrade_pb2.CheckResponse) -> "CheckResult":
        rejected = r.HasField("reason")
        return cls(
            order_id=r.order_id,
            verdict=Verdict(r.verdict),
            approved=Decimal(r.approved_quantity or "0"),
            headroom=_of(Headroom, r.headroom),
            dry_run=r.dry_run,
            reservation_id=r.reservation_id or None,
            expires_at_ms=r.expires_at_ms or None,
            reject_code=_of(RejectCode, r.reason.code) if rejected else None,
            limit_kind=_of(LimitKind, r.reason.kind) if rejected else None,
            limit_id=(r.reason.limit_id or None) if rejected else None,
            limit_value=decimal_or_none(r.reason.limit_value) if rejected else None,
            reason=(r.reason.message or None) if rejected else None,
        )


@dataclass(frozen=True)
class Limit:
    id: str
    kind: LimitKind
    value: Decimal
    participant: Optional[str]
    venue: Optional[str]
    asset: Optional[str]
    version: int
    warn_levels_pct: Tuple[Decimal, ...] = ()

    @classmethod
    def from_pb(cls, l) -> "Limit":
        return cls(
            id=l.id,
            kind=LimitKind(l.kind),
            value=Decimal(l.value),
            participant=l.scope.participant or None,
            venue=l.scope.venue or None,
            asset=l.scope.asset or None,
            version=l.version,
            warn_levels_pct=tuple(Decimal(x) for x in l.warn_levels_pct),
        )


@dataclass(frozen=True)
class VenueExposure:
    venue: str
    posted: Decimal
    reserved: Decimal
    owed: Optional[Decimal]


@dataclass(frozen=True)
class AssetExposure:
    asset: str
    owned: Decimal
    committed: Decimal
    reuse_ratio: Optional[Decimal]
    effective_limit: Optional[Decimal]
    venues: Tuple[VenueExposure, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Exposure:
    participant: str
    state: Optional[TradingState]
    assets: Tuple[AssetExposure, ...]
    brokers: Tuple[str, ...]
    stale: bool
    hf_eco: Optional[str]

    @classmethod
    def from_pb(cls, e) -> "Exposure":
        return cls(
            participant=e.participant,
            state=_of(TradingState, e.state),
            assets=tuple(
                AssetExposure(
                    asset=a.asset,
                    owned=Decimal(a.owned or "0"),
                    committed=Decimal(a.committed or "0"),
                    reuse_ratio=decimal_or_none(a.reuse_ratio),
                    effective_limit=decimal_or_none(a.effective_limit),
                    venues=tuple(
                        VenueExposure(
                            venue=v.venue,
                            posted=Decimal(v.posted or "0"),
                            reserved=Decimal(v.reserved or "0"),
                            owed=decimal_or_none(v.owed),
                        )
                        for v in a.venues
                    ),
                )
                for a in e.assets
            ),
            brokers=tuple(e.brokers),
            stale=e.stale,
            hf_eco=e.hf_eco or None,
        )
