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
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["label"], []).append(r)
def rng(label, key):
    v = sorted(x[key] or 0 for x in by[label])
    return v[0], statistics.median(v), v[-1]
print(f"{'run':<14}{'cpu us/req min/med/max':>26}{'req/s':>9}{'p50 us':>8}{'p99 us':>8}")
for label in by:
    lo, med, hi = rng(label, "server_cpu_us_per_request")
    print(f"{label:<14}{lo:>10.1f}/{med:.1f}/{hi:.1f}{rng(label,'throughput_per_sec')[1]:>11.0f}"
          f"{rng(label,'p50_us')[1]:>8.0f}{rng(label,'p99_us')[1]:>8.0f}")
for c in (16, 64):
    a = rng(f"append-{c}", "server_cpu_us_per_request")[1]
    p = rng(f"in-place-{c}", "server_cpu_us_per_request")[1]
    print(f"{c} clients: CPU/request in place / append = {p/a:.2f}")
PY
