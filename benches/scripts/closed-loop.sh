#!/usr/bin/env bash
# Closed-loop end-to-end run: bunkerd pinned to core 0 with one signer worker,
# the load generator pinned to core 1; reports requests/s, latency, and bunkerd's CPU time per request
# read from /proc/<pid>/stat over the timed phase. Bounded: stops after REQUESTS or DURATION seconds.
#
#   benches/scripts/closed-loop.sh [USERS] [CLIENTS] [REQUESTS] [DURATION]
#
# Needs release builds: cargo build --release -p bunkerd -p benches --bin loadgen
set -euo pipefail
. "$(dirname "$0")/limits-out-of-reach.sh"
users=${1:-100} clients=${2:-200} requests=${3:-60000} duration=${4:-30}
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

BUNKERD_OPERATOR_TOKEN=bench-operator-token-0123456789 BUNKERD_LOG=warn \
  taskset -c 0 "$target/bunkerd" serve --data-dir "$work/data" --listen 127.0.0.1:17447 \
  --admin-listen 127.0.0.1:17448 --workers 1 >"$work/bunkerd.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:17448/healthz >/dev/null 2>&1 && break; sleep 0.1; done
echo bench-operator-token-0123456789 >"$work/token"
taskset -c 1 "$target/loadgen" provision --admin 127.0.0.1:17448 --token-file "$work/token" \
  --users "$users" --uris-per-user $(( (clients + users - 1) / users )) --out "$work/uris.txt"

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
# The CPU window brackets the whole loadgen run; set-up (connect, get_public_key per client) is
# included, so the per-request figure is slightly pessimistic.
before=$(ticks)
taskset -c 1 "$target/loadgen" run --relay 127.0.0.1:17447 --uris "$work/uris.txt" \
  --clients "$clients" --requests "$requests" --duration "$duration" | tee "$work/report.json"
after=$(ticks)
python3 - "$before" "$after" "$hz" "$work/report.json" <<'PY'
import json, sys
before, after, hz, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
report = json.loads(open(path).read().strip().splitlines()[-1])
cpu_s = (after - before) / hz
answered = report["ok"] + report["errors"]
print(json.dumps({"bunkerd_cpu_s": round(cpu_s, 3), "answered": answered,
                  "cpu_us_per_request": round(cpu_s * 1e6 / max(answered, 1), 1)}))
PY
