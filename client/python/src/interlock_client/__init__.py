"""A typed Python client for Interlock.

Amounts are :class:`decimal.Decimal` (never floats), verdicts and states are
enums, and a call the server could not judge raises :class:`InterlockError`
carrying the gRPC code and, for bad input, the field the server named.

    from decimal import Decimal
    from interlock_client import Client, Verdict

    with Client("127.0.0.1:50051", token="dev-venue-a") as venue:
        r = venue.check("fund-7", "ETH", Decimal("10"), order_id="ord-1")
        if r.verdict is Verdict.APPROVED:
            venue.commit(r.reservation_id)
"""

from .client import (
    Client,
    collateral,
    commitment,
    liability,
)
from .errors import InterlockError
from .types import (
    AssetExposure,
    CheckResult,
    Exposure,
    Headroom,
    Limit,
    LimitKind,
    QuoteStatus,
    RejectCode,
    ReservationState,
    TradingState,
    Verdict,
    VenueExposure,
)

__all__ = [
    "AssetExposure",
    "CheckResult",
    "Client",
    "Exposure",
    "Headroom",
    "InterlockError",
    "Limit",
    "LimitKind",
    "QuoteStatus",
    "RejectCode",
    "ReservationState",
    "TradingState",
    "Verdict",
    "VenueExposure",
    "collateral",
    "commitment",
    "liability",
]
