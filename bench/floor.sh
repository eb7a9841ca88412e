#!/usr/bin/env bash
# Interlock against the gRPC floor, in one run on one machine:
# the same load generator against `interlock-server --echo-floor` (tonic,
# same messages, no work), Interlock with --durability none, and Interlock
# durable (the default), under two runtime settings (2 worker threads;
# current-thread), unary at 1/16/64 clients and CheckStream (4 streams x 64
# in flight). Prints server CPU per request and latency, and the ratios.
# Usage: bench/floor.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
run() { # label target runtime-flags server-flags -- bench-args...
  local label=$1 target=$2 rt=$3 srv=$4; shift 4
  bench_run "$label" "--rate-limit-per-sec 0 $rt $srv" --target "$target" "$@"
}
for rt in "mt2:--runtime multi-thread --worker-threads 2" "ct:--runtime current-thread"; do
  name=${rt%%:*}; flags=${rt#*:}
  for c in 1 16 64; do
    run "$name echo u$c" echo "$flags" "--echo-floor" --clients "$c"
    run "$name none u$c" interlock "$flags" "--durability none" --clients "$c"
    run "$name durable u$c" interlock "$flags" "" --clients "$c"
  done
  run "$name echo s4x64" echo "$flags" "--echo-floor" --clients 4 --mode stream --in-flight 64
  run "$name none s4x64" interlock "$flags" "--durability none" --clients 4 --mode stream --in-flight 64
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
table(by, 20)
for rt in ("mt2", "ct"):
    for c in (1, 16, 64):
        e = med(by, f"{rt} echo u{c}", "server_cpu_us_per_request")
        n = med(by, f"{rt} none u{c}", "server_cpu_us_per_request")
        d = med(by, f"{rt} durable u{c}", "server_cpu_us_per_request")
        print(f"{rt} unary {c:>2} clients: CPU/req none/echo = {n/e:.2f} (target <= 1.15), durable/echo = {d/e:.2f} (target <= 1.5)")
    e1 = med(by, f"{rt} echo u1", "p50_us"); n1 = med(by, f"{rt} none u1", "p50_us")
    print(f"{rt} p50 at 1 client: none/echo = {n1/e1:.2f} (target <= 1.1)")
    s = med(by, f"{rt} none s4x64", "server_cpu_us_per_request"); u = med(by, f"{rt} none u16", "server_cpu_us_per_request")
    print(f"{rt} CheckStream CPU/check vs unary (16 clients) = {s/u:.2f} (target <= 0.25); stream p99 = {med(by, f'{rt} none s4x64', 'p99_us'):.0f} us (target <= 2000)")
PY
