#!/usr/bin/env bash
# Open-loop run: a fresh bunkerd pinned to core 0 with one signer worker, USERS users
# with one bunker URI each, the load generator pinned to core 1 sending RATE requests/s for DURATION
# seconds over one client per user. Prints the generator's JSON report; writes lat.csv (send time and
# latency of every reply) into the work directory it names. Bounded by DURATION and RATE × DURATION.
#
#   benches/scripts/open-loop.sh [RATE] [DURATION] [USERS]
#
# Needs release builds: cargo build --release -p bunkerd -p benches --bin loadgen
set -euo pipefail
. "$(dirname "$0")/limits-out-of-reach.sh"
rate=${1:-5000} duration=${2:-30} users=${3:-1000}
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
BUNKERD_OPERATOR_TOKEN=bench-operator-token-0123456789 BUNKERD_LOG=warn \
  taskset -c 0 "$target/bunkerd" serve --data-dir "$work/data" --listen 127.0.0.1:17447 \
  --admin-listen 127.0.0.1:17448 --workers 1 >"$work/bunkerd.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:17448/healthz >/dev/null 2>&1 && break; sleep 0.1; done
echo bench-operator-token-0123456789 >"$work/token"
taskset -c 1 "$target/loadgen" provision --admin 127.0.0.1:17448 --token-file "$work/token" \
  --users "$users" --uris-per-user 1 --out "$work/uris.txt"
taskset -c 1 "$target/loadgen" run --relay 127.0.0.1:17447 --uris "$work/uris.txt" \
  --clients "$users" --requests $((rate * duration)) --duration "$duration" --rate "$rate" \
  --latency-csv "$work/lat.csv"
echo "latencies: $work/lat.csv" >&2
