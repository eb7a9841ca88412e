#!/usr/bin/env bash
# The value-aware check against today's check and the gRPC floor, in one
# run: the same load generator against `--echo-floor`, Interlock
# (--durability none) as it is, and Interlock with value limits in force
# (`interlockctl bench --value-limits`: ETH priced and FRESH, a haircut,
# MIN_HF_ECO 1.1 and STRESS_HF_ECO 1.0 for everyone, so every check reads
# the participant's debt sums and the price factors), unary at 16 and 64
# clients, one connection per client. Prints server CPU per request and
# the ratios value / plain (target <= 1.1) and value / echo.
# Usage: bench/value.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
for _ in $(seq 1 "$RUNS"); do
  RUNS=1
  for c in 16 64; do
    bench_run "echo u$c" "--rate-limit-per-sec 0 --echo-floor" --target echo --clients "$c"
    bench_run "plain u$c" "--rate-limit-per-sec 0 --durability none" --clients "$c"
    bench_run "value u$c" "--rate-limit-per-sec 0 --durability none --price-grace-ms 0" \
      --clients "$c" --value-limits
  done
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, table
by = load(sys.argv[1])
table(by, 20)
for c in (16, 64):
    e = med(by, f"echo u{c}", "server_cpu_us_per_request")
    p = med(by, f"plain u{c}", "server_cpu_us_per_request")
    v = med(by, f"value u{c}", "server_cpu_us_per_request")
    print(f"unary {c:>2} clients: CPU/req value/plain = {v/p:.3f} (target <= 1.1), plain/echo = {p/e:.2f}, value/echo = {v/e:.2f}")
PY
