#!/usr/bin/env bash
# Idle subscribers: bunkerd pinned to core 0; a closed loop without idle
# connections, then IDLE websockets each holding one #p subscription (loadgen idle, core 1), bunkerd's
# RSS before and after, then the same closed loop with them held. Bounded: each loop by its count and
# 30 s, the idle connections by a 300 s hold (they are closed when the script ends).
#
#   benches/scripts/idle.sh [IDLE]
#
# Needs release builds: cargo build --release -p bunkerd -p benches --bin loadgen
set -euo pipefail
. "$(dirname "$0")/limits-out-of-reach.sh"
n=${1:-10000}
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
idle=
BUNKERD_OPERATOR_TOKEN=bench-operator-token-0123456789 BUNKERD_LOG=warn \
  taskset -c 0 "$target/bunkerd" serve --data-dir "$work/data" --listen 127.0.0.1:17447 \
  --admin-listen 127.0.0.1:17448 --workers 1 >"$work/bunkerd.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; [ -n "$idle" ] && kill "$idle" 2>/dev/null; rm -rf "$work"; true' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:17448/healthz >/dev/null 2>&1 && break; sleep 0.1; done
echo bench-operator-token-0123456789 >"$work/token"
taskset -c 1 "$target/loadgen" provision --admin 127.0.0.1:17448 --token-file "$work/token" \
  --users 100 --uris-per-user 4 --out "$work/uris.txt"
head -200 "$work/uris.txt" >"$work/a.txt"; tail -200 "$work/uris.txt" >"$work/b.txt"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
closed() {
  local before after out
  before=$(ticks)
  out=$(taskset -c 1 "$target/loadgen" run --relay 127.0.0.1:17447 --uris "$1" --clients 200 \
    --requests 60000 --duration 30 2>/dev/null | tail -1)
  after=$(ticks)
  python3 -c "import json,sys; a=json.loads(sys.argv[1]); \
print('rps', round(a['rps']), 'ok', a['ok'], 'invalid', a['invalid'], 'p99_ms', round(a['p99_ms'], 2), \
'cpu_us_per_request', round(($after - $before) * 1e6 / $hz / max(a['ok'], 1), 1))" "$out"
}
echo "without idle connections: $(closed "$work/a.txt")"
r1=$(rss)
mkfifo "$work/ready"
taskset -c 1 "$target/loadgen" idle --relay 127.0.0.1:17447 --connections "$n" --hold 300 >"$work/ready" &
idle=$!
read -r line <"$work/ready"
echo "$line"
sleep 1
r2=$(rss)
echo "rss_kib before $r1 with_idle $r2 per_connection_kib $(python3 -c "print(round(($r2 - $r1) / max($n, 1), 2))")"
echo "with $n idle connections: $(closed "$work/b.txt")"
