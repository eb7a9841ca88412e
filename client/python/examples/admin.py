"""The risk desk: a reuse limit for one participant, its exposure across
every venue, and a halt everywhere at once.

    python examples/admin.py [ENDPOINT]    (default 127.0.0.1:50051, a --dev server)
"""

import sys
from decimal import Decimal

from interlock_client import Client, LimitKind, TradingState

endpoint = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
with Client(endpoint, token="dev-admin") as admin:
    limit = admin.set_limit(LimitKind.REUSE_RATIO, Decimal("1.5"), participant="fund-7", asset="ETH")
    print(f"limit {limit.id}: {limit.kind.name} {limit.value} (version {limit.version})")
    e = admin.exposure("fund-7")
    for a in e.assets:
        print(f"{a.asset}: owns {a.owned}, committed {a.committed} across {len(a.venues)} venue(s), limit {a.effective_limit}")
    before = admin.set_trading_state("fund-7", TradingState.HALTED, "example: margin call")
    print(f"fund-7 halted everywhere (was {before.name})")
    admin.set_trading_state("fund-7", TradingState.ACTIVE, "example: resumed")
