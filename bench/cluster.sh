#!/usr/bin/env bash
# What replication costs a check: the same `interlockctl bench` against a
# single durable node and against the leader of a three-node cluster (three
# processes on this machine, each with its own data directory), alternated
# run by run. Reports p50/p99 latency and throughput at 1 and 16 clients,
# and the issue's ratios: cluster p50 against 1.5 x local + 0.5 ms, p99
# against 2 x local, throughput against 0.5 x local. Also a cluster of one (one node
# with --cluster naming only itself): what the replicated path would cost a single node.
# Usage: bench/cluster.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
# Ports below the kernel's ephemeral range (32768-60999): there an outgoing
# connection may hold one when a node binds (tests/support/ports.rs).
RAFT0=21121

cluster_run() { # label clients
  local label=$1 clients=$2
  bench_cluster 21111 21112 21113 "$RAFT0" 21122 21123
  "$BIN/interlockctl" --endpoint "$LEADER" --json bench --duration-secs "$SECS" \
    --server-pid "$LEADER_PID" --label "$label" --clients "$clients" | tr -d '\n' >> "$OUT" || true
  echo >> "$OUT"
  kill "${CLUSTER_PIDS[@]}"; wait "${CLUSTER_PIDS[@]}" || true
}

for _ in $(seq 1 "$RUNS"); do
  for c in 1 16; do
    RUNS=1 bench_run "local-$c" "" --clients "$c"
    RUNS=1 bench_run "one-$c" "--node-id 1 --cluster 1=127.0.0.1:$RAFT0/127.0.0.1:$PORT" --clients "$c"
    cluster_run "cluster-$c" "$c"
  done
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng
by = load(sys.argv[1])
print(f"{'run':<14}{'req/s min/med/max':>30}{'p50 us':>9}{'p99 us':>9}{'cpu us/req':>12}")
for label in by:
    print(f"{label:<14}{rng(by, label, 'throughput_per_sec', '{:.0f}'):>30}{med(by, label, 'p50_us'):>9.0f}"
          f"{med(by, label, 'p99_us'):>9.0f}{med(by, label, 'server_cpu_us_per_request'):>12.1f}")
for c in (1, 16):
    l50, c50 = med(by, f"local-{c}", "p50_us"), med(by, f"cluster-{c}", "p50_us")
    l99, c99 = med(by, f"local-{c}", "p99_us"), med(by, f"cluster-{c}", "p99_us")
    lt, ct = med(by, f"local-{c}", "throughput_per_sec"), med(by, f"cluster-{c}", "throughput_per_sec")
    print(f"{c} clients: p50 {c50:.0f} us vs 1.5 x {l50:.0f} + 500 = {1.5 * l50 + 500:.0f} us "
          f"({'met' if c50 <= 1.5 * l50 + 500 else 'missed'}); "
          f"p99 {c99 / l99:.2f} x local ({'met' if c99 <= 2 * l99 else 'missed'}); "
          f"throughput {ct / lt:.2f} x local ({'met' if ct >= 0.5 * lt else 'missed'})")
    ot = med(by, f"one-{c}", "throughput_per_sec")
    oc, lc = med(by, f"one-{c}", "server_cpu_us_per_request"), med(by, f"local-{c}", "server_cpu_us_per_request")
    print(f"{c} clients, a cluster of one: throughput {ot / lt:.2f} x local, CPU per check {oc / lc:.2f} x local")
PY
