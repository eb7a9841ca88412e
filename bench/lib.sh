# Shared by the bench scripts; source it from the repository root after
# setting SECS (seconds per run) and RUNS (runs per row).
#   bench_build [EXTRA CARGO ARGS...]   release build of server and CLI
#   bench_run LABEL "SERVER FLAGS" [BENCH ARGS...]
#       RUNS times: a fresh server on loopback with an empty data dir,
#       `interlockctl bench` against it, one JSON line per run into $OUT.
#       SERVER=path runs another server binary (an older build, for A/B).
#   bench_cluster API0 API1 API2 RAFT0 RAFT1 RAFT2
#       a new three-node cluster on loopback in $DATA/node-N (emptied
#       first), waited for (at most 10 s) until a node says it leads; sets
#       CLUSTER_PIDS, LEADER (its endpoint) and LEADER_PID.
# Data goes under target/bench-data (the build's disk, not a tmpfs) and is
# removed on exit, as is $OUT.
BIN=target/release
DATA=target/bench-data
PORT=50099
OUT=$(mktemp)
trap 'rm -rf "$DATA" "$OUT"; kill $(jobs -p) 2>/dev/null || true' EXIT

bench_build() {
  cargo build --release --locked -p interlock-server -p interlock-client "$@" >&2
}

bench_machine() {
  echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
}

bench_cluster() {
  local api=("$1" "$2" "$3") raft=("$4" "$5" "$6") spec="" i
  for i in 0 1 2; do
    spec+="${spec:+,}$((i + 1))=127.0.0.1:${raft[$i]}/127.0.0.1:${api[$i]}"
  done
  rm -rf "$DATA"; mkdir -p "$DATA"
  CLUSTER_PIDS=(); LEADER=""; LEADER_PID=""
  for i in 0 1 2; do
    "$BIN/interlock-server" --dev --ops-listen off --listen "127.0.0.1:${api[$i]}" \
      --node-id $((i + 1)) --cluster "$spec" --data-dir "$DATA/node-$((i + 1))" >/dev/null 2>&1 &
    CLUSTER_PIDS+=($!)
  done
  for _ in $(seq 1 200); do
    for i in 0 1 2; do
      if "$BIN/interlockctl" --endpoint "http://127.0.0.1:${api[$i]}" --token dev-admin --json \
          cluster status 2>/dev/null | grep -q '"role": "leader"'; then
        LEADER="http://127.0.0.1:${api[$i]}"; LEADER_PID=${CLUSTER_PIDS[$i]}
      fi
    done
    [ -n "$LEADER" ] && return 0
    sleep 0.05
  done
  echo "no leader" >&2; exit 1
}

bench_run() {
  local label=$1 srv=$2; shift 2
  for _ in $(seq 1 "$RUNS"); do
    rm -rf "$DATA"; mkdir -p "$DATA"
    # shellcheck disable=SC2086
    "${SERVER:-$BIN/interlock-server}" --dev --listen "127.0.0.1:$PORT" --data-dir "$DATA" $srv >/dev/null 2>&1 &
    local pid=$!
    # Wait (at most 10 s) until the server accepts connections.
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    "$BIN/interlockctl" --endpoint "http://127.0.0.1:$PORT" --json bench \
      --duration-secs "$SECS" --server-pid "$pid" --label "$label" "$@" | tr -d '\n' >> "$OUT" || true
    echo >> "$OUT"
    kill "$pid"; wait "$pid" || true
  done
}
