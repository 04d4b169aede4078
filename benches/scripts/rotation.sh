#!/usr/bin/env bash
# Key rotation under load, then cut by SIGKILL. A fresh bunkerd (release build, key-file
# master key) with one tenant of USERS users and EXTRA more tenants (so a master-key rotation
# has that many data keys to rewrap), then:
#   1. open-loop sign_event load from CLIENTS clients at RATE req/s; while it runs, a master-key
#      rotation and then the tenant's data-key rotation (every user re-sealed), each polled on
#      GET /v1/keys to its end; the load must end with 0 errors, refusals, timeouts, invalid;
#   2. each rotation again, killed with SIGKILL part-way (after KILL_AT rewrapped data keys /
#      re-sealed users, read off /metrics), bunkerd restarted on the same data directory: the
#      custody task completes it; then a short load must again be all verified.
# Prints one line per phase (seconds, counts) and the load reports; exit 1 on any failure.
#
#   benches/scripts/rotation.sh [USERS=100000] [RATE=1000] [CLIENTS=100] [EXTRA=2000]
#   (environment: DURATION=120 s of load in step 1; KILL_AT, KILL_AT_USERS; WORK=<directory>)
#
# Needs release builds: cargo build --release -p bunkerd -p benches --bin loadgen
set -euo pipefail
. "$(dirname "$0")/limits-out-of-reach.sh"
export BUNKERD_LOG=warn BUNKERD_OPERATOR_TOKEN=bench-operator-token-0123456789
users=${1:-100000} rate=${2:-1000} clients=${3:-100} extra=${4:-2000}
target=${CARGO_TARGET_DIR:-target}/release
work=${WORK:-$(mktemp -d)}
admin=http://127.0.0.1:17448
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi' EXIT
echo bench-operator-token-0123456789 >"$work/token"

start() {
  "$target/bunkerd" serve --data-dir "$work/data" --listen 127.0.0.1:17447 \
    --admin-listen 127.0.0.1:17448 >>"$work/bunkerd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do curl -fs "$admin/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "bunkerd did not become ready"; exit 1
}
api() { curl -fsS -H "Authorization: Bearer $(cat "$work/token")" "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# The sum of a metric's series (any labels), as an integer.
metric() { curl -fs "$admin/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%d\n", s}'; }
# Waits until GET /v1/keys shows no rotation, shred or run in progress (bounded: 30 minutes).
settle() {
  for _ in $(seq 1 18000); do
    if api "$admin/v1/keys" | python3 -c "import json,sys; k=json.load(sys.stdin); sys.exit(0 if k['rotating_to'] is None and k['tenants_rotating']==0 and not k['running'] and k['last_error'] is None else 1)"; then
      return
    fi
    sleep 0.1
  done
  echo "rotation did not settle"; api "$admin/v1/keys"; exit 1
}
elapsed() { python3 -c "import sys,time; print(round(time.time() - float(sys.argv[1]), 1))" "$1"; }
check_load() {
  python3 - "$1" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
bad = {k: r[k] for k in ("errors", "refused", "rate_limited", "timeouts", "invalid") if r[k]}
print(json.dumps({k: r[k] for k in ("sent", "ok", "errors", "refused", "timeouts", "invalid", "rps", "p50_ms", "p99_ms", "max_ms") if k in r}))
sys.exit(1 if bad or r["ok"] != r["sent"] else 0)
PY
}

start
t0=$(date +%s.%N)
"$target/loadgen" provision --admin 127.0.0.1:17448 --token-file "$work/token" --users "$users" \
  --uris-per-user 1 --tenant-id-out "$work/tenant" --out "$work/uris.txt" 2>/dev/null
tenant=$(cat "$work/tenant")
for i in $(seq 1 "$extra"); do api -d "{\"name\":\"extra-$i\"}" "$admin/v1/tenants" >/dev/null; done
echo "provisioned $users users (one bunker URI each) and $extra more tenants: $(elapsed "$t0") s"

# 1. Both rotations during the load. The load's duration leaves room for both; the script fails
#    if a rotation is still running when the load ends.
duration=${DURATION:-120}
"$target/loadgen" run --relay 127.0.0.1:17447 --uris "$work/uris.txt" --clients "$clients" \
  --requests $((rate * duration)) --duration "$duration" --rate "$rate" --timeout 10 \
  >"$work/load1.json" 2>"$work/load1.log" &
load=$!
before=$(metric bunkerd_requests_total)
until [ "$(metric bunkerd_requests_total)" -gt $((before + rate)) ]; do
  kill -0 "$load" 2>/dev/null || { cat "$work/load1.log"; exit 1; }
  sleep 0.1
done
t=$(date +%s.%N)
api -X POST -d '{}' "$admin/v1/keys/rotate" >/dev/null
settle
echo "master-key rotation under load: $(elapsed "$t") s, $(metric bunkerd_key_rewrapped_total) data keys rewrapped"
t=$(date +%s.%N)
api -X POST "$admin/v1/tenants/$tenant/keys/rotate" >/dev/null
settle
echo "tenant data-key rotation under load: $(elapsed "$t") s, $(metric bunkerd_key_resealed_users_total) users re-sealed"
kill -0 "$load" 2>/dev/null || { echo "the load ended before the rotations did: raise DURATION"; exit 1; }
wait "$load"
check_load "$work/load1.json"

# 2. Each rotation cut by SIGKILL part-way, then completed by the restarted server.
kill_at=${KILL_AT:-$((extra / 3))}
before=$(metric bunkerd_key_rewrapped_total)
api -X POST -d '{}' "$admin/v1/keys/rotate" >/dev/null
until [ "$(metric bunkerd_key_rewrapped_total)" -ge $((before + kill_at)) ]; do sleep 0.01; done
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
t=$(date +%s.%N)
start
settle
echo "master-key rotation killed after $kill_at rewraps: completed $(elapsed "$t") s after the restart, $(metric bunkerd_key_rewrapped_total) rewrapped by the new process; wrapped by version: $(api "$admin/v1/keys" | field "['wrapped_by_version']")"
kill_at=${KILL_AT_USERS:-$((users / 3))}
before=$(metric bunkerd_key_resealed_users_total)
api -X POST "$admin/v1/tenants/$tenant/keys/rotate" >/dev/null
until [ "$(metric bunkerd_key_resealed_users_total)" -ge $((before + kill_at)) ]; do sleep 0.01; done
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
t=$(date +%s.%N)
start
settle
echo "tenant data-key rotation killed after $kill_at re-seals: completed $(elapsed "$t") s after the restart, $(metric bunkerd_key_resealed_users_total) users re-sealed by the new process"
# Users the first load did not pair with (a bunker URI connects once).
sed -n "$((clients + 1)),$((2 * clients))p" "$work/uris.txt" >"$work/uris2.txt"
"$target/loadgen" run --relay 127.0.0.1:17447 --uris "$work/uris2.txt" --clients "$clients" \
  --requests $((rate * 10)) --duration 60 --rate "$rate" --timeout 10 >"$work/load2.json" 2>"$work/load2.log"
check_load "$work/load2.json"
echo "all verified; work directory $work"
