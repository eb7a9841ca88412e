#!/usr/bin/env bash
# Interlock against the gRPC floor the way a venue's load test runs it: one
# HTTP/2 connection for all clients, unique order ids, 10,000 participants,
# TTL 1 s, unary checks at 16 and 64 clients, `--durability none`, echo
# floor and Interlock alternated RUNS times. Prints server CPU per request
# and the ratio to the floor (the target is 1.2).
# Usage: bench/venue.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RUNS_TOTAL=${2:-3}
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
for _ in $(seq 1 "$RUNS_TOTAL"); do
  for c in 16 64; do
    bench_run "echo u$c" "--rate-limit-per-sec 0 --echo-floor" --target echo \
      --clients "$c" --connections 1
    bench_run "none u$c" "--rate-limit-per-sec 0 --durability none" --clients "$c" \
      --connections 1 --participants 10000 --ttl-ms 1000
  done
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
table(by, 12)
for c in (16, 64):
    e = med(by, f"echo u{c}", "server_cpu_us_per_request"); n = med(by, f"none u{c}", "server_cpu_us_per_request")
    print(f"{c} clients, one connection: CPU/request none/echo = {n/e:.2f} (target <= 1.2)")
PY
