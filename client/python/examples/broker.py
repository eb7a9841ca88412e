"""A broker: reports what a participant owns, and what it has posted on a
venue, as absolute positions at the next sequence.

    python examples/broker.py [ENDPOINT]    (default 127.0.0.1:50051, a --dev server)
"""

import sys
from decimal import Decimal

from interlock_client import Client, collateral, commitment

endpoint = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
with Client(endpoint, token="dev-broker") as broker:
    seq = broker.last_sequence() + 1
    applied = broker.sync(
        seq,
        [
            collateral("fund-7", "ETH", Decimal("100")),
            commitment("fund-7", "venue-b", "ETH", Decimal("20")),
        ],
    )
    print(f"applied sequence {applied}: fund-7 owns 100 ETH, 20 posted on venue-b")
