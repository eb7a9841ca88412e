#!/usr/bin/env bash
# Server memory per participant and per open reservation, through the real
# server (RSS from /proc), next to the ledger's own for the same shape in
# process (`--example memory`: the same participants and as many checks,
# no transport). A `--durability none` server; PARTICIPANTS participants
# synced with one collateral line each (`interlockctl sync`), then checks
# with a 10 minute TTL (so every reservation stays open) from
# `interlockctl bench`. SERVER=path measures another server binary.
# Usage: bench/memory.sh [PARTICIPANTS] [CHECK_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
SECS=${2:-5}
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
cargo build --release --locked -p interlock-ledger --example memory >&2
bench_machine
CSV=$(mktemp)
trap 'rm -rf "$DATA" "$OUT" "$CSV"; kill $(jobs -p) 2>/dev/null || true' EXIT
python3 - "$N" "$CSV" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        f.write(f"collateral,bench-p{i},ETH,1000000\n")
PY
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
"${SERVER:-$BIN/interlock-server}" --dev --listen "127.0.0.1:$PORT" --durability none \
  --rate-limit-per-sec 0 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
r0=$(rss "$pid")
"$BIN/interlockctl" --endpoint "http://127.0.0.1:$PORT" --token dev-broker sync "$CSV" >/dev/null
r1=$(rss "$pid")
"$BIN/interlockctl" --endpoint "http://127.0.0.1:$PORT" --json bench --duration-secs "$SECS" \
  --warmup-secs 0 --server-pid "$pid" --participants "$N" --clients 16 --ttl-ms 600000 --label memory \
  | tr -d '\n' > "$OUT"
r2=$(rss "$pid")
kill "$pid"; wait "$pid" || true
python3 - "$OUT" "$N" "$r0" "$r1" "$r2" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read())
n, r0, r1, r2 = (int(x) for x in sys.argv[2:])
checks = r.get("approved", 0) + r.get("rejected", 0)
print(f"RSS at start {r0} KiB, after {n} participants {r1} KiB, after {checks} checks {r2} KiB")
print(f"per participant (one collateral line): {(r1 - r0) * 1024 / n:.0f} bytes")
if checks:
    print(f"per check (an open reservation and its remembered answer): {(r2 - r1) * 1024 / checks:.0f} bytes")
print(checks, file=open(sys.argv[1] + ".checks", "w"))
PY
"$BIN/examples/memory" "$N" "$(cat "$OUT.checks")"
rm -f "$OUT.checks"
