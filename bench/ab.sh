#!/usr/bin/env bash
# This build's server against another build's (OLD_SERVER), the way
# bench/venue.sh runs a venue's load: one connection, unique order ids,
# 10,000 participants, TTL 1 s, `--durability none`, 16 and 64 clients,
# the two servers alternated RUNS times with the same `interlockctl`.
# Prints server CPU per request and throughput per server, and new/old.
# Usage: bench/ab.sh OLD_SERVER [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: bench/ab.sh OLD_SERVER [SECONDS_PER_RUN] [RUNS]}
OLD=$(realpath "$OLD")
SECS=${2:-10}
RUNS_TOTAL=${3:-3}
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
echo "# old: $OLD"
for _ in $(seq 1 "$RUNS_TOTAL"); do
  for c in 16 64; do
    SERVER=$OLD bench_run "old u$c" "--rate-limit-per-sec 0 --durability none" --clients "$c" \
      --connections 1 --participants 10000 --ttl-ms 1000
    SERVER='' bench_run "new u$c" "--rate-limit-per-sec 0 --durability none" --clients "$c" \
      --connections 1 --participants 10000 --ttl-ms 1000
  done
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
table(by, 10)
for c in (16, 64):
    o = med(by, f"old u{c}", "server_cpu_us_per_request"); n = med(by, f"new u{c}", "server_cpu_us_per_request")
    print(f"{c} clients: CPU/request new/old = {n/o:.3f}")
PY
