#!/usr/bin/env bash
# Where a check's server CPU goes, next to the gRPC floor's: perf samples
# (self time, no call graph) of `--echo-floor` and of Interlock under the
# load of bench/venue.sh (one connection, unique order ids, 10,000
# participants, TTL 1 s, `--durability none`), grouped by crate and
# scaled to µs per request by the bench's own CPU per request. Needs perf.
# Usage: bench/split.sh [SECONDS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
CLIENTS=${2:-16}
RUNS=1
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_build
bench_machine
PERF_DIR=$(mktemp -d)
trap 'rm -rf "$DATA" "$OUT" "$PERF_DIR"; kill $(jobs -p) 2>/dev/null || true' EXIT
profile() {
  local name=$1 srv=$2; shift 2
  rm -rf "$DATA"; mkdir -p "$DATA"
  # shellcheck disable=SC2086
  "$BIN/interlock-server" --dev --listen "127.0.0.1:$PORT" --data-dir "$DATA" $srv >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  "$BIN/interlockctl" --endpoint "http://127.0.0.1:$PORT" --json bench --duration-secs $((SECS + 2)) \
    --warmup-secs 1 --server-pid "$pid" --label "$name" --clients "$CLIENTS" --connections 1 "$@" \
    | tr -d '\n' > "$PERF_DIR/$name.json" &
  local bench=$!
  sleep 2
  perf record -q -F 1999 -p "$pid" -o "$PERF_DIR/$name.data" -- sleep "$SECS" 2>/dev/null
  wait "$bench"
  kill "$pid"; wait "$pid" || true
  perf report -q --stdio --no-children --sort dso,sym --percent-limit 0 \
    -i "$PERF_DIR/$name.data" 2>/dev/null > "$PERF_DIR/$name.txt"
}
profile echo "--rate-limit-per-sec 0 --echo-floor" --target echo
profile interlock "--rate-limit-per-sec 0 --durability none" --participants 10000 --ttl-ms 1000
python3 - "$PERF_DIR" <<'PY'
import json, re, sys
d = sys.argv[1]
CLASSES = [
    ("kernel", lambda dso, s: "kernel" in dso),
    ("malloc/free", lambda dso, s: re.search(r"malloc|free|_int_|realloc|tcache|arena", s) and "libc" in dso),
    ("memcpy/memmove/memset", lambda dso, s: re.search(r"mem(cpy|move|set|cmp)", s) is not None),
    ("libc, other", lambda dso, s: "libc" in dso),
    ("ledger (interlock_ledger)", lambda dso, s: "interlock_ledger" in s),
    ("server (interlock_server, interlock)", lambda dso, s: re.search(r"\binterlock(_server)?::", s) is not None),
    ("prost", lambda dso, s: "prost::" in s),
    ("rust_decimal", lambda dso, s: "rust_decimal" in s),
    ("hashing (foldhash, siphasher, hashbrown)", lambda dso, s: re.search(r"foldhash|siphasher|hashbrown", s) is not None),
    ("h2", lambda dso, s: re.search(r"\bh2::", s) is not None),
    ("hyper", lambda dso, s: "hyper" in s),
    ("tonic", lambda dso, s: "tonic" in s),
    ("tower", lambda dso, s: "tower" in s),
    ("tokio", lambda dso, s: "tokio" in s),
    ("bytes, http", lambda dso, s: re.search(r"\bbytes::|\bhttp::", s) is not None),
    ("tracing", lambda dso, s: "tracing" in s),
    ("other", lambda dso, s: True),
]
def split(name):
    r = json.load(open(f"{d}/{name}.json"))
    cpu = r["server_cpu_us_per_request"]
    shares = {c: 0.0 for c, _ in CLASSES}
    for line in open(f"{d}/{name}.txt"):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
        for c, f in CLASSES:
            if f(dso, sym):
                shares[c] += pct
                break
    total = sum(shares.values()) or 1
    return cpu, {c: cpu * v / total for c, v in shares.items()}
ecpu, e = split("echo")
icpu, i = split("interlock")
print(f"{'class':<44}{'echo us/req':>12}{'interlock':>12}{'extra':>10}")
for c, _ in CLASSES:
    print(f"{c:<44}{e[c]:>12.2f}{i[c]:>12.2f}{i[c]-e[c]:>+10.2f}")
print(f"{'total (server CPU per request)':<44}{ecpu:>12.2f}{icpu:>12.2f}{icpu-ecpu:>+10.2f}")
print(f"interlock / floor: {icpu/ecpu:.2f}")
PY
