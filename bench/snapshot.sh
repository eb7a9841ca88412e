#!/usr/bin/env bash
# Checks while snapshots are taken, at 1,000,000 participants: snapshots
# rebuilt from the files off the ledger's lock (the default) against the
# state encoded under the lock (--snapshot-under-lock) and against no
# snapshot at all (a threshold no run reaches), alternated in one run on
# one machine. Each run: a durable server with a small
# --snapshot-after-bytes, 1M participants synced, then --clients checks
# for SECS seconds; the server's log says how long each snapshot held the
# ledger's lock. Prints check latency (p50, p99, p99.9, max), snapshots
# written and the longest lock hold per mode.
# Usage: bench/snapshot.sh [SECONDS_PER_RUN] [RUNS] [SNAPSHOT_AFTER_MIB] [PARTICIPANTS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
RUNS=${2:-2}
SNAP_MIB=${3:-32}
PARTICIPANTS=${4:-1000000}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
LOGS=$(mktemp -d)
trap 'rm -rf "$DATA" "$OUT" "$LOGS"; kill $(jobs -p) 2>/dev/null || true' EXIT
n=0
for _ in $(seq 1 "$RUNS"); do
  for mode in none replayed under-lock; do
    n=$((n + 1))
    snap=$((SNAP_MIB * 1024 * 1024)) flags=""
    [ "$mode" = under-lock ] && flags="--snapshot-under-lock"
    [ "$mode" = none ] && snap=$((1024 * 1024 * 1024 * 1024))
    rm -rf "$DATA"; mkdir -p "$DATA"
    # shellcheck disable=SC2086
    "$BIN/interlock-server" --dev --listen "127.0.0.1:$PORT" --data-dir "$DATA" \
      --rate-limit-per-sec 0 --snapshot-after-bytes "$snap" $flags \
      >"$LOGS/$n-$mode.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    "$BIN/interlockctl" --endpoint "http://127.0.0.1:$PORT" --json bench \
      --duration-secs "$SECS" --server-pid "$pid" --label "$mode" \
      --participants "$PARTICIPANTS" --clients 4 | tr -d '\n' >> "$OUT" || true
    echo >> "$OUT"
    kill "$pid"; wait "$pid" || true
  done
done
python3 - "$OUT" "$LOGS" <<'PY'
import glob, json, re, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
held = {}
for path in glob.glob(sys.argv[2] + "/*.log"):
    # Logs are named RUN-MODE.log.
    mode = path.split("/")[-1].split("-", 1)[1].removesuffix(".log")
    for line in open(path, errors="replace"):
        m = re.search(r"snapshot written.*lock_held_us=(\d+)", line)
        if m:
            held.setdefault(mode, []).append(int(m.group(1)))
by = {}
for r in rows:
    by.setdefault(r["label"], []).append(r)
print(f"{'mode':<12}{'runs':>5}{'checks/s':>10}{'p50 us':>8}{'p99 us':>8}{'p99.9 us':>10}{'max us':>10}{'snapshots':>11}{'lock held max us':>18}")
for mode, rs in by.items():
    med = lambda k: statistics.median(x[k] for x in rs)
    h = held.get(mode, [])
    print(f"{mode:<12}{len(rs):>5}{med('throughput_per_sec'):>10.0f}{med('p50_us'):>8.0f}{med('p99_us'):>8.0f}{med('p999_us'):>10.0f}{max(x['max_us'] for x in rs):>10}{len(h):>11}{max(h) if h else 0:>18}")
PY
