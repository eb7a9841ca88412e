#!/usr/bin/env bash
# Where a replicated check's cost goes: a three-node cluster on this
# machine, `interlockctl bench` at CLIENTS against the leader for SECONDS,
# and meanwhile one of
#   stat    perf stat of every node for 5 s: fdatasync, writev, write, futex
#           calls and context switches (each node's counts, then the bench line)
#   record  perf record -g of the leader for SECONDS - 5 s; the report's top
#           symbols and the share of kernel and user space
#   none    the bench alone
# Usage: bench/cluster_profile.sh [CLIENTS] [SECONDS] [stat|record|none]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-16}
SECS=${2:-12}
WHAT=${3:-stat}
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
# Ports below the kernel's ephemeral range (32768-60999): there an outgoing
# connection may hold one when a node binds (tests/support/ports.rs).
PROF=$(mktemp -d)
trap 'rm -rf "$DATA" "$OUT" "$PROF"; kill $(jobs -p) 2>/dev/null || true' EXIT
bench_cluster 21161 21162 21163 21171 21172 21173
PIDS=("${CLUSTER_PIDS[@]}")
LPID=$LEADER_PID
echo "# leader $LEADER (pid $LPID), $CLIENTS clients, $SECS s, $WHAT"
case $WHAT in
  stat)
    (sleep 3; for p in "${PIDS[@]}"; do
      perf stat -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_futex,context-switches \
        -p "$p" -o "$PROF/stat-$p.txt" -- sleep 5 &
    done; wait) &
    PERF=$! ;;
  record)
    (sleep 3; perf record -F 999 -g -p "$LPID" -o "$PROF/perf.data" -- sleep $((SECS - 5)) 2>/dev/null) &
    PERF=$! ;;
  none) PERF="" ;;
  *) echo "stat, record or none" >&2; exit 2 ;;
esac
"$BIN/interlockctl" --endpoint "$LEADER" bench --duration-secs "$SECS" --server-pid "$LPID" --clients "$CLIENTS"
if [ -n "$PERF" ]; then wait "$PERF"; fi
case $WHAT in
  stat)
    for p in "${PIDS[@]}"; do
      echo "node pid $p$([ "$p" = "$LPID" ] && echo ' (leader)'):"
      grep -E 'syscalls|context' "$PROF/stat-$p.txt"
    done ;;
  record)
    perf report -i "$PROF/perf.data" --no-children --sort dso -g none --stdio 2>/dev/null | grep '%' | head -6
    perf report -i "$PROF/perf.data" --no-children --sort symbol -g none --stdio 2>/dev/null | grep '%' | cut -c1-120 | head -20 ;;
esac
