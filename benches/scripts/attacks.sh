#!/usr/bin/env bash
# The attack suite: each attack of the README's "Security" section against a freshly started
# release bunkerd on loopback, with its defaults unless the case says otherwise, and the figure it
# must hold. Bounded: every case by its count and a timeout; loopback addresses only.
#
#   benches/scripts/attacks.sh [case…]     cases: idle stalled forged keepalive nosub nip05 nip49
#
# Needs a release build (cargo build --release -p bunkerd; BUNKERD_BIN names another binary) and
# the pinned Node clients (npm ci --prefix tests/node). Prints one line per case and exits 1 if any
# case failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BUNKERD_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/bunkerd}
node_dir=$root/tests/node
relay=127.0.0.1:17547
admin=127.0.0.1:17548
token=attack-suite-operator-token-0123456789
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(idle stalled forged keepalive nosub nip05 nip49)
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; true' EXIT
failed=0

# Starts bunkerd on a new data directory with extra flags; waits for /healthz.
start() {
  rm -rf "$work/data"
  BUNKERD_OPERATOR_TOKEN=$token BUNKERD_LOG=warn "$bin" serve --data-dir "$work/data" \
    --listen "$relay" --admin-listen "$admin" "$@" >"$work/bunkerd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://$admin/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$work/bunkerd.log"
  echo "bunkerd did not start"
  exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
# Highest RSS seen while a command runs (sampled every 50 ms), KiB, on stdout; the command's
# output goes to $work/out.
peak_while() {
  "$@" >"$work/out" 2>"$work/err" &
  local job=$! peak=0 now
  while kill -0 "$job" 2>/dev/null; do
    now=$(rss); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.05
  done
  wait "$job" && status=0 || status=$?
  echo "$peak"
  return "$status"
}
verdict() { # name, ok(0/1), figures
  if [ "$2" = 0 ]; then echo "PASS $1: $3"; else echo "FAIL $1: $3"; failed=1; fi
}

for case in "${cases[@]}"; do
  case $case in
  idle)
    # 10,000 idle subscribers from a fresh process, opened by `ws`: ≤ 5 KiB each.
    start
    before=$(rss)
    mkfifo "$work/ready" "$work/hold"
    node "$node_dir/idle_subscribers.mjs" "ws://$relay" 10000 64 300 <"$work/hold" >"$work/ready" &
    idle=$!
    exec 3>"$work/hold"
    read -r ready <"$work/ready"
    after=$(rss)
    exec 3>&-
    wait "$idle" || true
    rm -f "$work/ready" "$work/hold"
    per=$(python3 -c "print(round(($after - $before) / 10000, 2))")
    ok=$(python3 -c "print(0 if $per <= 5 else 1)")
    verdict idle "$ok" "$ready; RSS $before → $after KiB, $per KiB per idle subscriber (bound 5)"
    stop
    ;;
  stalled)
    # 50 readers that never read, each sent 300 replies of ~48 KiB (14 MiB each, 700 MiB in
    # all): RSS growth stays under 50 × 1 MiB (their outbound budgets) + 64 MiB (retention) +
    # 64 MiB of slack.
    start
    before=$(rss)
    ok=0
    peak=$(peak_while node "$node_dir/attacks.mjs" stalled "$relay" "$admin" "$token" 50 300) || ok=1
    growth=$(( (peak - before) / 1024 ))
    [ "$growth" -le $((50 + 64 + 64)) ] || ok=1
    verdict stalled "$ok" "$(cat "$work/out"); RSS $before → peak $peak KiB (+$growth MiB, bound 178)"
    stop
    ;;
  forged)
    # 32 addresses × 2,000 forged events while the real client sends 100 requests: all 100
    # answered, nothing charged to the tenant.
    start
    ok=0
    node "$node_dir/attacks.mjs" forged "$relay" "$admin" "$token" 32 2000 >"$work/out" 2>"$work/err" || ok=1
    verdict forged "$ok" "$(cat "$work/out" "$work/err")"
    stop
    ;;
  keepalive)
    # 8 addresses × 400 keep-alive connections: at most 256 held per address, the rest refused.
    start
    ok=0
    node "$node_dir/attacks.mjs" keepalive "$relay" 8 400 >"$work/out" 2>"$work/err" || ok=1
    verdict keepalive "$ok" "$(cat "$work/out" "$work/err")"
    stop
    ;;
  nosub)
    # 1,000 websockets that never subscribe: all closed (1008) after the idle limit (5 s here).
    start --idle-without-subscription-secs 5 --max-connections-per-ip 1000
    ok=0
    node "$node_dir/attacks.mjs" nosub "$relay" 1000 >"$work/out" 2>"$work/err" || ok=1
    verdict nosub "$ok" "$(cat "$work/out" "$work/err")"
    stop
    ;;
  nip05)
    start
    ok=0
    node "$node_dir/attacks.mjs" nip05 "$admin" "$token" >"$work/out" 2>"$work/err" || ok=1
    verdict nip05 "$ok" "$(cat "$work/out" "$work/err")"
    stop
    ;;
  nip49)
    # log_n 20 (1 GiB of scrypt): refused within 2 s, RSS growth under 16 MiB.
    start
    before=$(rss)
    ok=0
    peak=$(peak_while node "$node_dir/attacks.mjs" nip49 "$admin" "$token" 20) || ok=1
    growth=$(( (peak - before) / 1024 ))
    [ "$growth" -le 16 ] || ok=1
    verdict nip49 "$ok" "$(cat "$work/out" "$work/err"); RSS +$growth MiB (bound 16)"
    stop
    ;;
  *)
    echo "unknown case: $case"
    exit 64
    ;;
  esac
done
exit "$failed"
