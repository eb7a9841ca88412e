#!/usr/bin/env bash
# Durability benchmarks, in one run on one machine:
#   1. group commit vs one fdatasync per request (durable check throughput);
#   2. durable (the default) vs --durability none, at 16 and 64 clients;
#   3. recovery time: 1,000,000 journal records, and a snapshot of
#      1,000,000 participants.
# Usage: bench/durability.sh [SECONDS_PER_RUN] [RUNS]
# Servers listen on loopback only; data goes under target/bench-data (the
# build's disk, not a tmpfs) and is removed afterwards. Needs python3 for
# the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build -p interlock-journal --example recovery_bench
bench_machine
run() { # label clients extra-server-flags...
  local label=$1 clients=$2; shift 2
  bench_run "$label" "$*" --clients "$clients"
}
for c in 16 64; do
  run "group-$c" "$c"
  run "per-request-$c" "$c" --fsync-per-request
  run "none-$c" "$c" --durability none
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
print(f"{'run':<18}{'req/s min/med/max':>30}{'p50 us':>9}{'p99 us':>9}{'cpu us/req (med)':>18}")
for label in by:
    print(f"{label:<18}{rng(by, label, 'throughput_per_sec', '{:.0f}'):>30}{med(by, label, 'p50_us'):>9.0f}"
          f"{med(by, label, 'p99_us'):>9.0f}{med(by, label, 'server_cpu_us_per_request'):>18.1f}")
for c in (16, 64):
    g = med(by, f"group-{c}", "throughput_per_sec")
    p = med(by, f"per-request-{c}", "throughput_per_sec")
    n = med(by, f"none-{c}", "throughput_per_sec")
    print(f"{c} clients: group commit / fsync per request = {g/p:.1f}x (target >= 8x); "
          f"durable costs {100*(1-g/n):.1f}% of --durability none throughput (target < 30%)")
PY
RECOVERY_BENCH_KEEP=1 "$BIN/examples/recovery_bench" 1000000 1000000 "$DATA/recovery"
# Recovery as a fresh process sees it (three times).
for i in $(seq 1 "$RUNS"); do "$BIN/examples/recovery_bench" replay "$DATA/recovery/journal"; done
