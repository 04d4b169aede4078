#!/usr/bin/env bash
# Soak: a fresh bunkerd pinned to core 0, 100 users and 200 clients, the load
# generator pinned to core 1 at RATE requests/s for DURATION seconds (open loop), bunkerd's RSS sampled
# every 10 s into rss.log in the work directory it names. Bounded by DURATION.
#
#   benches/scripts/soak.sh [RATE] [DURATION]
#
# Needs release builds: cargo build --release -p bunkerd -p benches --bin loadgen
# The generator builds every request before the clock starts: RATE × DURATION requests take about
# 1 KiB each in memory (2.4 GB at 8,000 req/s for 300 s) and a few minutes to build and to verify.
set -euo pipefail
. "$(dirname "$0")/limits-out-of-reach.sh"
rate=${1:-8000} duration=${2:-300}
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
sampler=
BUNKERD_OPERATOR_TOKEN=bench-operator-token-0123456789 BUNKERD_LOG=warn \
  taskset -c 0 "$target/bunkerd" serve --data-dir "$work/data" --listen 127.0.0.1:17447 \
  --admin-listen 127.0.0.1:17448 --workers 1 >"$work/bunkerd.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; [ -n "$sampler" ] && kill "$sampler" 2>/dev/null; true' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:17448/healthz >/dev/null 2>&1 && break; sleep 0.1; done
echo bench-operator-token-0123456789 >"$work/token"
taskset -c 1 "$target/loadgen" provision --admin 127.0.0.1:17448 --token-file "$work/token" \
  --users 100 --uris-per-user 2 --out "$work/uris.txt" 2>/dev/null
(while kill -0 "$pid" 2>/dev/null; do echo "$(date +%s) $(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"; sleep 10; done) >"$work/rss.log" &
sampler=$!
taskset -c 1 "$target/loadgen" run --relay 127.0.0.1:17447 --uris "$work/uris.txt" --clients 200 \
  --requests $((rate * duration)) --duration "$duration" --rate "$rate" --timeout 10 \
  --latency-csv "$work/lat.csv"
echo "final rss_kib $(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); samples: $work/rss.log" >&2
