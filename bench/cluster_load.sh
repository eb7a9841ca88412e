#!/usr/bin/env bash
# Two runs of a three-node cluster under `interlockctl bench` (the commands
# behind bench/RESULTS.md, "Failover": "A node far behind rejoins" and
# "Steady load"):
#   steady SECONDS  load the leader for SECONDS at 64 clients; print each
#                   node's role, term and applied entry before and after
#                   (an unchanged term: no election during the run), and
#                   each node's apply lag from its /metrics: how long after
#                   the leader stamped an entry's oldest command the node
#                   applied the entry (p50, p99 as the histogram bucket
#                   they fall in, and the share over 50 ms)
#   rejoin SECONDS  kill a follower, load the leader for SECONDS at 64
#                   clients, restart the follower and time until the
#                   leader's log matches on it
#   start N         start a new cluster N times: which node leads, in which
#                   term (1: the first election won), and how long after
#                   the processes were started a leader was known
# Usage: bench/cluster_load.sh steady|rejoin|start [SECONDS|N]
# LOGS=DIR keeps each node's log as DIR/node-N.log (elections, timeouts,
# snapshots are logged at INFO). NODE_ARGS adds flags to every node (e.g.
# "--snapshot-after-entries 20000", so that a rejoining node is sent a
# snapshot). PROFILE=FILE records the rejoining node's first 8 s with perf
# (FILE.leader: the leader's).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?steady, rejoin or start}
SECS=${2:-600}
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
# Ports below the kernel's ephemeral range (32768-60999): there an outgoing
# connection may hold one when a node binds (tests/support/ports.rs).
API=(21131 21132 21133)
RAFT=(21141 21142 21143)
OPS=(21151 21152 21153)
SPEC="1=127.0.0.1:${RAFT[0]}/127.0.0.1:${API[0]},2=127.0.0.1:${RAFT[1]}/127.0.0.1:${API[1]},3=127.0.0.1:${RAFT[2]}/127.0.0.1:${API[2]}"
PIDS=(0 0 0)
log_of() { # node index -> where its output goes
  if [ -n "${LOGS:-}" ]; then echo "$LOGS/node-$(($1 + 1)).log"; else echo /dev/null; fi
}
start() { # node index
  # shellcheck disable=SC2086 # NODE_ARGS is a list of flags
  "$BIN/interlock-server" --dev --ops-listen "127.0.0.1:${OPS[$1]}" --listen "127.0.0.1:${API[$1]}" \
    --node-id $(($1 + 1)) --cluster "$SPEC" --data-dir "$DATA/node-$(($1 + 1))" ${NODE_ARGS:-} \
    >>"$(log_of "$1")" 2>&1 &
  PIDS[$1]=$!
}
status() { # node index -> "role term applied matched-by-node..."
  "$BIN/interlockctl" --endpoint "http://127.0.0.1:${API[$1]}" --token dev-admin --json cluster status |
    python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["role"], v["term"], v.get("last_applied_index") or 0, v.get("last_log_index") or 0, " ".join(str(n.get("matched_index") or 0) for n in v["nodes"]))'
}
lag() { # node index -> "entries N, apply lag p50 <= X ms, p99 <= Y ms, over 50 ms: Z%"
  python3 - "${OPS[$1]}" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
buckets = []
for line in text.splitlines():
    if line.startswith("interlock_cluster_apply_age_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), int(float(line.rsplit(" ", 1)[1]))))
buckets.sort()
total = buckets[-1][1] if buckets else 0
if total == 0:
    print("no entries applied"); sys.exit()
def at(q):
    for le, c in buckets:
        if c >= q * total:
            return "%g" % (le * 1000) if le != float("inf") else "> 10000"
over = total - max(c for le, c in buckets if le <= 0.05)
print("entries %d, apply lag p50 <= %s ms, p99 <= %s ms, over 50 ms: %.3f%%" % (total, at(0.5), at(0.99), 100.0 * over / total))
PY
}
show() { for i in 0 1 2; do [ "${PIDS[$i]}" != 0 ] && echo "node $((i + 1)): $(status "$i" | cut -d' ' -f1-3)"; done; }
boot() { # a new cluster in empty data directories; sets LEADER and BOOT_MS
  rm -rf "$DATA"; mkdir -p "$DATA"
  if [ -n "${LOGS:-}" ]; then mkdir -p "$LOGS"; fi
  local t0; t0=$(date +%s%N)
  for i in 0 1 2; do start "$i"; done
  LEADER=""
  for _ in $(seq 1 400); do
    for i in 0 1 2; do status "$i" 2>/dev/null | grep -q '^leader' && LEADER=$i; done
    [ -n "$LEADER" ] && break
    sleep 0.02
  done
  [ -n "$LEADER" ] || { echo "no leader" >&2; exit 1; }
  BOOT_MS=$((($(date +%s%N) - t0) / 1000000))
}
if [ "$MODE" = start ]; then
  for r in $(seq 1 "$SECS"); do
    boot
    echo "start $r: node $((LEADER + 1)) leads in term $(status "$LEADER" | cut -d' ' -f2), known ${BOOT_MS} ms after the three processes were started"
    kill "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    PIDS=(0 0 0)
  done
  exit 0
fi
boot
load() {
  "$BIN/interlockctl" --endpoint "http://127.0.0.1:${API[$LEADER]}" --json bench --clients 64 \
    --duration-secs "$SECS" --warmup-secs 1 --label "$MODE" |
    python3 -c 'import json,sys; v=json.load(sys.stdin); print("%d checks (%d errors), %.0f checks/s, p50 %s us, p99 %s us" % (v["checks"], v["errors"], v["throughput_per_sec"], v["p50_us"], v["p99_us"]))'
}
case "$MODE" in
  steady)
    echo "before:"; show
    load
    echo "after:"; show
    for i in 0 1 2; do echo "node $((i + 1)) ($(status "$i" | cut -d' ' -f1)): $(lag "$i")"; done
    ;;
  rejoin)
    echo "before:"; show
    F=$(((LEADER + 1) % 3))
    kill -9 "${PIDS[$F]}"; wait "${PIDS[$F]}" 2>/dev/null || true; PIDS[$F]=0
    load
    GOAL=$(status "$LEADER" | cut -d' ' -f4)
    T0=$(date +%s.%N)
    start "$F"
    if [ -n "${PROFILE:-}" ]; then # the rejoining node's and the leader's first 8 s
      perf record -q -g -o "$PROFILE" -p "${PIDS[$F]}" -- sleep 8 >/dev/null 2>&1 &
      perf record -q -g -o "$PROFILE.leader" -p "${PIDS[$LEADER]}" -- sleep 8 >/dev/null 2>&1 &
    fi
    LAST=$T0
    while true; do
      M=$(status "$LEADER" | cut -d' ' -f$((5 + F)))
      [ "$M" -ge "$GOAL" ] && break
      NOW=$(date +%s.%N)
      if python3 -c "import sys; sys.exit(0 if $NOW - $LAST >= 1 else 1)"; then
        echo "  $(python3 -c "print(round($NOW - $T0, 1))") s: matched $M of $GOAL"
        LAST=$NOW
      fi
      sleep 0.05
    done
    T1=$(date +%s.%N)
    echo "node $((F + 1)) was $GOAL entries behind; matched $(python3 -c "print(round($T1 - $T0, 2))") s after its restart"
    show
    ;;
  *) echo "steady, rejoin or start" >&2; exit 2 ;;
esac
kill "${PIDS[@]/#0/}" 2>/dev/null || true
