#!/usr/bin/env bash
# Sustained order flow against one server: WINDOWS back-to-back runs of
# SECS seconds each of `interlockctl bench` (unique order ids, 64 clients,
# TTL 1 s, 10,000 participants) against the same server, so its tables
# fill and stay full. Prints per window: checks/s, refusals (errors), p99,
# the server's RSS, its CPU per check (with full tables once they fill)
# and the size of its data directory (journal segments and snapshots;
# DURABILITY=durable to journal, `none` by default).
# Extra arguments go to the server (for example
# `--idempotency-memory 32MiB` to fill the idempotency table in
# seconds rather than minutes). SERVER=path picks another server binary.
# Usage: bench/sustained.sh [SECS] [WINDOWS] [SERVER FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
WINDOWS=${2:-6}
shift 2 || true
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
SERVER=${SERVER:-$BIN/interlock-server}
rm -rf "$DATA"; mkdir -p "$DATA"
"$SERVER" --dev --listen "127.0.0.1:$PORT" --data-dir "$DATA" --durability "${DURABILITY:-none}" \
  --rate-limit-per-sec 0 "$@" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
echo "server: $SERVER --durability ${DURABILITY:-none} $*"
printf '%-8s%12s%10s%10s%12s%14s%12s\n' window checks/s errors "p99 us" "RSS KiB" "cpu us/check" "data KiB"
for w in $(seq 1 "$WINDOWS"); do
  "$BIN/interlockctl" --endpoint "http://127.0.0.1:$PORT" --json bench --duration-secs "$SECS" \
    --warmup-secs 0 --server-pid "$pid" --clients 64 --participants 10000 --ttl-ms 1000 \
    --label "w$w" | tr -d '\n' > "$OUT"
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  data=$(du -sk "$DATA" | cut -f1)
  python3 - "$OUT" "$w" "$rss" "$data" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read())
print(f"{sys.argv[2]:<8}{r['throughput_per_sec']:>12.0f}{r['errors']:>10}{r['p99_us']:>10}{sys.argv[3]:>12}{r['server_cpu_us_per_request'] or 0:>14.1f}{sys.argv[4]:>12}")
PY
done
kill "$pid"; wait "$pid" || true
