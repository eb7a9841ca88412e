#!/usr/bin/env bash
# Contention and the realistic mix, in one run on one machine,
# against the default server (durable journal, current-thread runtime):
#  - contention: 64 unary clients checking (then releasing) on 100,000
#    participants uniformly, then all on ONE participant; the hot/uniform
#    throughput ratio (target >= 0.5). Also with --durability none, where
#    the server is CPU-bound rather than fsync-bound.
#  - the realistic mix: Zipf(s=1) over 100,000 participants, 5% of checks
#    rejected, 60% of approvals committed and 30% released (10% expire),
#    broker syncs at 50 messages/s, unary (64 clients) and CheckStream
#    (4 streams x 64 in flight).
# Usage: bench/mix.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
run() { # label server-flags -- bench-args...
  local label=$1 srv=$2; shift 2
  bench_run "$label" "--rate-limit-per-sec 0 $srv" "$@"
}
for d in "durable:" "none:--durability none"; do
  name=${d%%:*}; flags=${d#*:}
  run "$name uniform" "$flags" --clients 64 --participants 100000 --release-pct 100
  run "$name hot" "$flags" --clients 64 --participants 1 --release-pct 100
done
MIX=(--participants 100000 --skew zipf --zipf-s 1 --reject-pct 5 --commit-pct 60 --release-pct 30 --sync-per-sec 50)
run "mix unary" "" --clients 64 "${MIX[@]}"
run "mix stream" "" --clients 4 --mode stream --in-flight 64 "${MIX[@]}"
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
print(f"{'run':<14}{'req/s min/med/max':>26}{'cpu us/req min/med/max':>24}{'p50':>7}{'p99':>7}{'p99.9':>7}{'appr':>8}{'rej':>7}{'commit':>8}{'release':>8}{'syncs':>6}{'errors':>7}")
for label in by:
    print(f"{label:<14}{rng(by, label, 'throughput_per_sec', '{:.0f}'):>26}{rng(by, label, 'server_cpu_us_per_request'):>24}"
          f"{med(by, label, 'p50_us'):>7.0f}{med(by, label, 'p99_us'):>7.0f}{med(by, label, 'p999_us'):>7.0f}"
          f"{med(by, label, 'approved'):>8.0f}{med(by, label, 'rejected'):>7.0f}{med(by, label, 'commits'):>8.0f}{med(by, label, 'releases'):>8.0f}"
          f"{med(by, label, 'sync_messages'):>6.0f}{sum(x['errors'] for x in by[label]):>7}")
    for x in by[label]:
        if x.get("first_error"):
            print(f"  first error: {x['first_error']}")
            break
for d in ("durable", "none"):
    h = med(by, f"{d} hot", "throughput_per_sec"); u = med(by, f"{d} uniform", "throughput_per_sec")
    print(f"contention ({d}): one hot participant / uniform throughput = {h/u:.2f} (target >= 0.5)")
PY
