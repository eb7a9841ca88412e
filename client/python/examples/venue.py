"""A venue: asks before every new position, then commits what it filled
and releases what it did not.

    python examples/venue.py [ENDPOINT]    (default 127.0.0.1:50051, a --dev server)
"""

import sys
import uuid
from decimal import Decimal

from interlock_client import Client, InterlockError, Verdict

endpoint = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
with Client(endpoint, token="dev-venue-a") as venue:
    r = venue.check("fund-7", "ETH", Decimal("50"), order_id=f"ord-{uuid.uuid4()}", ttl_ms=30_000)
    if r.verdict is Verdict.REJECTED:
        print(f"rejected: {r.reject_code.name} ({r.reason})")
    else:
        print(f"{r.verdict.name}: {r.approved} ETH reserved as {r.reservation_id}, headroom {r.headroom.name}")
        state, commit_seq = venue.commit(r.reservation_id)
        print(f"{state.name} at commit sequence {commit_seq}: pass it to the broker")
    try:
        venue.check("fund-7", "ETH", "-1", order_id=f"ord-{uuid.uuid4()}")
    except InterlockError as e:
        print(f"could not judge: {e.code.name}, field {e.field!r}")
