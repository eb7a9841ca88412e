#!/usr/bin/env bash
# What recording metrics costs a check: the same server with its
# operations port on (the default, metrics recorded, scraped every 5 s as a
# Prometheus would, a little more often than its usual 15-30 s) and off
# (`--ops-listen off`: nothing recorded), alternated RUNS times, the way
# bench/ab.sh runs a venue's load: one connection, unique order ids, 10,000
# participants, TTL 1 s, `--durability none`, 16 and 64 clients. Prints
# server CPU per request for each and on/off (target: at most 1.03).
# Usage: bench/metrics.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RUNS_TOTAL=${2:-5}
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
# The scraper: runs throughout; while metrics are off nothing answers it.
( while true; do curl -s -o /dev/null --max-time 2 http://127.0.0.1:9464/metrics || true; sleep 5; done ) &
for _ in $(seq 1 "$RUNS_TOTAL"); do
  for c in 16 64; do
    bench_run "on u$c" "--rate-limit-per-sec 0 --durability none --ops-listen 127.0.0.1:9464" \
      --clients "$c" --connections 1 --participants 10000 --ttl-ms 1000
    bench_run "off u$c" "--rate-limit-per-sec 0 --durability none --ops-listen off" \
      --clients "$c" --connections 1 --participants 10000 --ttl-ms 1000
  done
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
table(by, 10)
for c in (16, 64):
    on = med(by, f"on u{c}", "server_cpu_us_per_request"); off = med(by, f"off u{c}", "server_cpu_us_per_request")
    print(f"{c} clients: CPU/request with metrics / without = {on/off:.3f} (target <= 1.03)")
PY
