#!/usr/bin/env bash
# bunkerd vs the rust-nostr baseline (nostr-relay-builder + one
# NostrConnectRemoteSigner per user, TCP_NODELAY on), each pinned to core 0, driven by the same
# load generator pinned to core 1, closed loop, all sign_event (templates carry `pubkey`, which the
# baseline needs). Prints both reports and the throughput ratio. Bounded by REQUESTS and DURATION.
#
#   benches/scripts/compare-baseline.sh [USERS] [CLIENTS] [REQUESTS] [DURATION]
#
# Needs: cargo build --release -p bunkerd -p benches --bin loadgen --bin baseline
set -euo pipefail
. "$(dirname "$0")/limits-out-of-reach.sh"
users=${1:-100} clients=${2:-200} requests=${3:-30000} duration=${4:-30}
target=${CARGO_TARGET_DIR:-target}/release
per_user=$(( (clients + users - 1) / users ))
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

wait_for() { for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }

# bunkerd
BUNKERD_OPERATOR_TOKEN=bench-operator-token-0123456789 BUNKERD_LOG=warn \
  taskset -c 0 "$target/bunkerd" serve --data-dir "$work/data" --listen 127.0.0.1:17447 \
  --admin-listen 127.0.0.1:17448 --workers 1 >"$work/bunkerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:17448/healthz >/dev/null 2>&1 && break; sleep 0.1; done
echo bench-operator-token-0123456789 >"$work/token"
taskset -c 1 "$target/loadgen" provision --admin 127.0.0.1:17448 --token-file "$work/token" \
  --users "$users" --uris-per-user "$per_user" --out "$work/bunkerd-uris.txt"
taskset -c 1 "$target/loadgen" run --relay 127.0.0.1:17447 --uris "$work/bunkerd-uris.txt" \
  --clients "$clients" --requests "$requests" --duration "$duration" --template-pubkey \
  | tail -n 1 >"$work/bunkerd.json"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

# baseline
taskset -c 0 "$target/baseline" --listen 127.0.0.1:18447 --users "$users" \
  --uris-per-user "$per_user" --out "$work/baseline-uris.txt" --duration $(( duration * 3 + 120 )) \
  >"$work/baseline.log" 2>&1 &
pids+=($!)
wait_for "$work/baseline-uris.txt"
taskset -c 1 "$target/loadgen" run --relay 127.0.0.1:18447 --uris "$work/baseline-uris.txt" \
  --clients "$clients" --requests "$requests" --duration "$duration" --template-pubkey \
  | tail -n 1 >"$work/baseline.json"

python3 - "$work/bunkerd.json" "$work/baseline.json" <<'PY'
import json, sys
ours, base = (json.load(open(p)) for p in sys.argv[1:3])
for name, r in (("bunkerd", ours), ("baseline", base)):
    print(f"{name:9} {r['rps']:9.0f} req/s  ok {r['ok']}/{r['sent']}  invalid {r['invalid']}  "
          f"timeouts {r['timeouts']}  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms")
print(json.dumps({"bunkerd_rps": ours["rps"], "baseline_rps": base["rps"],
                  "ratio": ours["rps"] / max(base["rps"], 1e-9)}))
PY
