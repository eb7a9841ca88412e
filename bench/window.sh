#!/usr/bin/env bash
# The HTTP/2 stream window (--stream-window-bytes): the default 32 KiB
# against hyper's 1 MiB, alternated in one run on one machine, for the
# cases it could slow: CheckStream (4 streams x 64 in flight, and 1 x 256)
# and unary checks at 16 clients, all with --durability none.
# Prints server CPU per request, throughput and latency per row.
# Usage: bench/window.sh [SECONDS_PER_RUN] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
for _ in $(seq 1 "$RUNS"); do
  for w in 32768 1048576; do
    srv="--rate-limit-per-sec 0 --durability none --stream-window-bytes $w"
    RUNS=1 bench_run "w$w s4x64" "$srv" --clients 4 --mode stream --in-flight 64
    RUNS=1 bench_run "w$w s1x256" "$srv" --clients 1 --mode stream --in-flight 256
    RUNS=1 bench_run "w$w u16" "$srv" --clients 16
  done
done
python3 - "$OUT" <<'PY'
import sys
sys.path.insert(0, "bench")
from summary import load, med, rng, table
by = load(sys.argv[1])
table(by, 20)
for case in ("s4x64", "s1x256", "u16"):
    a, b = f"w32768 {case}", f"w1048576 {case}"
    print(f"{case}: 32 KiB / 1 MiB: CPU per request {med(by, a, 'server_cpu_us_per_request')/med(by, b, 'server_cpu_us_per_request'):.2f}, throughput {med(by, a, 'throughput_per_sec')/med(by, b, 'throughput_per_sec'):.2f}")
PY
