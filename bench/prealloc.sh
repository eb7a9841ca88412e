#!/usr/bin/env bash
# The journal's zeroed space ahead (the durable path): a durable server
# writing records in place (the default) against one appending them
# (--journal-prealloc-bytes 0), at 16 and 64 clients, the two alternated
# RUNS times so that the machine's drift hits both alike. Prints server CPU
# per request, throughput and latency (min/median/max of the runs).
# Usage: bench/prealloc.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-5}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
ALTERNATIONS=$RUNS
RUNS=1
for _ in $(seq 1 "$ALTERNATIONS"); do
  for c in 16 64; do
    bench_run "append-$c" "--rate-limit-per-sec 0 --journal-prealloc-bytes 0" --clients "$c"
    bench_run "in-place-$c" "--rate-limit-per-sec 0" --clients "$c"
  done
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
table(by, 14)
for c in (16, 64):
    a = med(by, f"append-{c}", "server_cpu_us_per_request")
    p = med(by, f"in-place-{c}", "server_cpu_us_per_request")
    print(f"{c} clients: CPU/request in place / append = {p/a:.2f}")
PY
