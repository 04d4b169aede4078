#!/usr/bin/env bash
# Fairness between tenants: tenant A sends at 10 × its rate limit while
# tenant B sends at its limit; B must see zero refusals and a p99 within 20 % of B alone, A's excess
# must be refused with `rate-limited:`, and both must show in bunkerd's /metrics.
#
#   benches/scripts/fairness.sh [LIMIT] [DURATION] [USERS] [BURST]
#
# Defaults: LIMIT=300 requests/s, DURATION=30 s, USERS=50 per tenant, BURST=LIMIT.
# A fresh release bunkerd pinned to core 0 with one signer worker (ports 17457/17458); two tenants,
# A and B, each with USERS users and `limits = {requests_per_sec: LIMIT, burst: BURST}` set through
# the admin API; every load generator pinned to core 1, one client per user, open loop, sign_event:
#   phase 1  B alone at LIMIT req/s for DURATION s (the reference p99);
#   phase 2  A at 10 × LIMIT req/s, and once A is being refused (its rate-limited counter in /metrics
#            moves), B at LIMIT req/s for DURATION s. A runs DURATION + 20 s so its flood covers B's
#            set-up and whole timed phase; the script checks it is still being refused after B ends.
# Then it prints the /metrics lines of both tenants (requests, rate-limited refusals, the request
# duration histogram's count) and the refusals by reason, and a verdict; it exits 1 when a check fails.
# Reports, latency CSVs and the scraped metrics stay in the work directory it names (the data
# directory is removed). Bounded: every run is bounded by its duration and request count, and the wait
# for A's flood by 120 s.
#
# Why BURST = LIMIT is enough for B: bunkerd's bucket (GCRA) refills at LIMIT/s and holds BURST, and
# the generator's open loop sends request k at start + k / LIMIT on an absolute schedule: a late send
# is followed by catch-up, never by more than the schedule allows, so B's sends up to any instant stay
# within LIMIT × elapsed + 1. Set-up (connect and get_public_key per client, 2 × USERS requests)
# takes tokens before the timed phase; the bucket refills while the generator builds its requests.
# What remains, BURST − 2 × USERS at worst (200 requests, 0.67 s at the defaults), absorbs the
# generator's pacing jitter. A refusal of B would mean a bucket shared with A (unfairness), or a full
# signer queue or tenant lane (`rate-limited: …`, limit="queue" / "tenant_queue"), not jitter. Pass
# BURST to test another choice.
#
# Every generator connection comes from 127.0.0.1, so bunkerd's per-address and per-connection
# limits (EVENT buckets, connection and subscription counts) are raised out of reach here, through
# their BUNKERD_* variables, but left on (their checks are part of the measured path), as in the
# other scripts: at their defaults A's flood would exhaust the one address bucket A and B share and B
# would be refused by it, which measures the benchmark's single address, not tenant isolation (in a
# deployment tenants' clients come from their own addresses). Every refusal is then the tenant's own
# (limit="tenant_rate" in bunkerd_limit_refusals_total); the verdict checks that.
#
# Both generators share core 1, so A's generator (10 × LIMIT sends and refusals/s) adds some
# client-side scheduling delay to B's measured latency in phase 2; that only makes the p99 check
# stricter.
#
# Controls: A_MULT (default 10) is A's rate as a multiple of its limit; A_MULT=1 runs A at exactly
# its limit (what A's admitted traffic alone costs B) and A_MULT=0 runs no A at all (the noise floor
# of the p99 ratio: B against B); the checks of A's refusals are skipped in both.
# bunkerd demotes a connection refused `rate-limited:` to its SCHED_IDLE I/O thread (README,
# "Limits"), so A's 50 connections are served there during its floods; the script prints
# bunkerd_websocket_connection_demotions_total. BUNKERD_RATE_LIMITED_DEMOTION_SECS=0 in the
# environment turns demotion off (for comparison runs; see benches/README.md).
# Placement can be changed for experiments (defaults as above): BUNKERD_CPUS=0, A_CPUS=1, B_CPUS=1
# (taskset lists) and WORKERS=1 (bunkerd's signer threads); A_IDLE=1 runs A's generator under
# SCHED_IDLE (`chrt --idle 0`), so that with bunkerd also on A's core (BUNKERD_CPUS=0,1) A's
# generator takes only CPU bunkerd leaves — closer to A's clients being on other machines. After
# phase 1 the script also saves bunkerd's /metrics, so the verdict can show bunkerd's own latency
# histogram for B in each phase next to the client-side p99.
#
# B's generator connects from 127.0.0.2 and A's from 127.0.0.1. When tcpdump is installed (Debian
# package `tcpdump`; run as root), the script captures B's traffic on the loopback interface and
# benches/scripts/wire_latency.py pairs each B request with its response there: B's latency as
# bunkerd's host sees it on the wire — bunkerd's whole work, socket reads and writes included,
# without the two generators' scheduling on their shared core. The verdict shows the p99 ratio both
# ways; the check stays on the generator's (client-side) figure. The capture runs on core 1 with the
# generators, and copying B's packets costs both sides a little, in every phase alike. WIRE=0 skips
# it.
#
# Interleaved mode, INTERLEAVE=ON,OFF (seconds, for example 10,10): phase 1 is skipped, and in phase 2
# A's generator floods for ON seconds, pauses for OFF seconds, and repeats (`loadgen run --duty`),
# while B runs at LIMIT req/s throughout (pass a longer DURATION, for example 120). B's replies are
# then split by when B sent them: during A's floods or during its pauses, leaving out the first
# second after each switch. Both halves come from the same minutes, so the machine's drift (on this
# VM the same run's p99 moved by 2 × between minutes) affects both alike; the sequential phases above
# compare minutes that can differ for reasons of their own. The p99 check then compares B during A's
# floods with B during A's pauses. With A_MULT=0 the same windows are laid over B alone, from the
# start of B's timed phase: the noise floor of this comparison. The verdict also shows B's p99 per
# cycle (each flood and the pause after it) and flags a run as disturbed when its pause windows'
# p99 differ by more than 1.6 × (the machine, not A, then decides its ratio).
#
# Needs release builds: cargo build --release -p bunkerd -p benches --bin loadgen
set -euo pipefail
export BUNKERD_EVENTS_PER_SEC=1000000 BUNKERD_EVENTS_BURST=1000000 BUNKERD_UNPAIRED_REQUESTS_PER_SEC=0 \
  BUNKERD_IP_EVENTS_PER_SEC=1000000 BUNKERD_IP_EVENTS_BURST=1000000 \
  BUNKERD_MAX_CONNECTIONS=100000 BUNKERD_MAX_CONNECTIONS_PER_IP=100000 \
  BUNKERD_MAX_SUBSCRIPTIONS_PER_IP=1000000
limit=${1:-300} duration=${2:-30} users=${3:-50} burst=${4:-${1:-300}}
a_extra=20
a_mult=${A_MULT:-10}
interleave=${INTERLEAVE:-}
if [ -n "$interleave" ] && ! [[ "$interleave" =~ ^[0-9]+,[0-9]+$ && ${interleave%,*} -ge 2 && ${interleave#*,} -ge 2 ]]; then
  echo "INTERLEAVE must be ON,OFF in whole seconds, each at least 2 (the first second after a switch is left out)" >&2
  exit 64
fi
wire=${WIRE:-1}
command -v tcpdump >/dev/null 2>&1 || wire=0
a_sched=()
[ "${A_IDLE:-0}" = 1 ] && a_sched=(chrt --idle 0)
bunkerd_cpus=${BUNKERD_CPUS:-0} a_cpus=${A_CPUS:-1} b_cpus=${B_CPUS:-1} workers=${WORKERS:-1}
target=${CARGO_TARGET_DIR:-target}/release
relay=127.0.0.1:17457 admin=127.0.0.1:17458
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work/data"
}
trap cleanup EXIT

BUNKERD_OPERATOR_TOKEN=bench-operator-token-0123456789 BUNKERD_LOG=warn \
  taskset -c "$bunkerd_cpus" "$target/bunkerd" serve --data-dir "$work/data" --listen "$relay" \
  --admin-listen "$admin" --workers "$workers" >"$work/bunkerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://$admin/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
echo bench-operator-token-0123456789 >"$work/token"

# A: one URI per user. B: two per user (a URI's secret is single-use): the first USERS for phase 1,
# the next USERS (the same users) for phase 2.
for t in a b; do
  per_user=1; [ "$t" = b ] && per_user=2
  taskset -c 1 "$target/loadgen" provision --admin "$admin" --token-file "$work/token" \
    --tenant-name "fairness-$t" --requests-per-sec "$limit" --burst "$burst" \
    --users "$users" --uris-per-user "$per_user" --out "$work/$t-uris.txt" \
    --tenant-id-out "$work/$t.id"
done
a_id=$(cat "$work/a.id") b_id=$(cat "$work/b.id")
head -n "$users" "$work/b-uris.txt" >"$work/b1-uris.txt"
sed -n "$((users + 1)),$((2 * users))p" "$work/b-uris.txt" >"$work/b2-uris.txt"

# bunkerd_rate_limited_total of tenant $1 (0 before its first refusal).
rate_limited() {
  curl -fs "http://$admin/metrics" |
    awk -v key="bunkerd_rate_limited_total{tenant=\"$1\"}" '$1 == key { v = $2 } END { print v + 0 }'
}

# run NAME URIS RATE DURATION [ARGS…]: one open-loop generator on core 1, with any further loadgen
# ARGS; JSON report in NAME.json, the summary in NAME.err, every verified reply's latency in
# NAME-lat.csv.
run() {
  local cpus=$b_cpus source=127.0.0.2 sched=()
  [ "$1" = a ] && cpus=$a_cpus source=127.0.0.1 sched=("${a_sched[@]}")
  "${sched[@]}" taskset -c "$cpus" "$target/loadgen" run --relay "$relay" --uris "$2" --clients "$users" \
    --requests $(($3 * $4)) --duration "$4" --rate "$3" --latency-csv "$work/$1-lat.csv" \
    --source-ip "$source" "${@:5}" >"$work/$1.json" 2>"$work/$1.err"
}

if [ "$wire" = 1 ]; then
  taskset -c 1 tcpdump -i lo -s 0 -B 65536 --time-stamp-precision=nano -w "$work/b.pcap" \
    "tcp and host 127.0.0.2 and port ${relay##*:}" 2>"$work/tcpdump.err" &
  tcpdump_pid=$!
  pids+=("$tcpdump_pid")
  for _ in $(seq 1 50); do grep -q listening "$work/tcpdump.err" && break; sleep 0.1; done
  if ! kill -0 "$tcpdump_pid" 2>/dev/null; then
    echo "tcpdump could not capture (not root?): no wire figures" >&2
    cat "$work/tcpdump.err" >&2
    wire=0
  fi
fi

if [ -z "$interleave" ]; then
  echo "== phase 1: B alone at $limit req/s for $duration s (limit $limit/s, burst $burst)" >&2
  run b1 "$work/b1-uris.txt" "$limit" "$duration"
  cat "$work/b1.err" >&2
  curl -fs "http://$admin/metrics" >"$work/metrics-phase1.txt"
else
  echo "== interleaved: no phase 1; A floods ${interleave/,/ s on, } s off during phase 2" >&2
fi
a_duty=()
[ -n "$interleave" ] && a_duty=(--duty "$interleave")

# A's sign_event requests answered so far (0 before its first).
a_served() {
  curl -fs "http://$admin/metrics" |
    awk -v t="tenant=\"$a_id\"" 'index($0, "bunkerd_requests_total{method=\"sign_event\"") == 1 && index($0, t) { v += $2 } END { print v + 0 }'
}

echo "== phase 2: A at $((a_mult * limit)) req/s for $((duration + a_extra)) s, B at $limit req/s for $duration s" >&2
a_pid=
if [ "$a_mult" -gt 0 ]; then
  run a "$work/a-uris.txt" $((a_mult * limit)) $((duration + a_extra)) "${a_duty[@]}" &
  a_pid=$!
  pids+=("$a_pid")
  # B starts once A is flooding (refused) or, at A_MULT=1, once A is being served.
  flooding=
  for _ in $(seq 1 600); do
    if [ "$a_mult" -gt 1 ]; then
      [ "$(rate_limited "$a_id")" -gt 0 ] && { flooding=1; break; }
    else
      [ "$(a_served)" -gt 0 ] && { flooding=1; break; }
    fi
    kill -0 "$a_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$flooding" ]; then
    echo "tenant A never got going (generator exited or 120 s passed):" >&2
    cat "$work/a.err" >&2
    exit 1
  fi
fi
a_before=$(rate_limited "$a_id")
b_started=$(date +%s.%N)
run b2 "$work/b2-uris.txt" "$limit" "$duration"
b_ended=$(date +%s.%N)
if [ "$wire" = 1 ]; then
  kill -INT "$tcpdump_pid" && wait "$tcpdump_pid" || true
  kept=()
  for p in "${pids[@]}"; do [ "$p" = "$tcpdump_pid" ] || kept+=("$p"); done
  pids=("${kept[@]}")
  python3 "$(dirname "$0")/wire_latency.py" "$work/b.pcap" "${relay##*:}" "$work/b-wire.csv" >&2 ||
    { echo "wire latency: the capture did not pair up; ignored" >&2; rm -f "$work/b-wire.csv"; }
fi
a_after=$(rate_limited "$a_id")
sleep 1
a_later=$(rate_limited "$a_id")
if [ -n "$a_pid" ]; then
  wait "$a_pid"
  echo "-- A" >&2
  cat "$work/a.err" >&2
fi
echo "-- B" >&2
cat "$work/b2.err" >&2

curl -fs "http://$admin/metrics" >"$work/metrics.txt"
echo "== /metrics (A = $a_id, B = $b_id)"
grep -E "^bunkerd_(requests_total|rate_limited_total|request_duration_seconds_count)\{.*tenant=\"($a_id|$b_id)\"" \
  "$work/metrics.txt" | sed -e "s/\"$a_id\"/\"$a_id\" (A)/" -e "s/\"$b_id\"/\"$b_id\" (B)/" || true
grep -E '^bunkerd_events_rejected_total' "$work/metrics.txt" || true
grep -E '^bunkerd_limit_refusals_total' "$work/metrics.txt" | grep -v ' 0$' || true
grep -E '^bunkerd_websocket_connection_demotions_total' "$work/metrics.txt" || true

echo "== verdict (reports, latencies and metrics in $work)"
python3 - "$work" "$a_id" "$b_id" "$limit" "$a_before" "$a_after" "$a_later" "$b_started" "$b_ended" "$a_mult" "$interleave" <<'PY'
import json, re, sys
work, a_id, b_id = sys.argv[1:4]
limit = int(sys.argv[4])
a_mult = int(sys.argv[10])
interleave = sys.argv[11]
a_before, a_after, a_later = (int(x) for x in sys.argv[5:8])
b_wall = float(sys.argv[9]) - float(sys.argv[8])

def report(name):
    return json.loads(open(f"{work}/{name}.json").read().strip().splitlines()[-1])

b2 = report("b2")
a = report("a") if a_mult > 0 else None

def p99(latencies):
    xs = sorted(latencies)
    return xs[min(len(xs) - 1, int(0.99 * len(xs)))] if xs else 0.0

if interleave:
    # A's floods start at its timed phase's start; with A_MULT=0 (no A: the method's noise floor)
    # the same windows are laid from the start of B's timed phase.
    on_s, off_s = (float(x) for x in interleave.split(","))
    anchor = a["start_unix_ms"] if a is not None else b2["start_unix_ms"]
    period_ms = (on_s + off_s) * 1e3

def classify(sent_ms):
    """'alone', 'with' (A flooding) or None for a B request sent at `sent_ms` (Unix ms)."""
    if interleave:
        # During one of A's floods or one of its pauses, the first second after each switch left
        # out.
        if sent_ms < max(anchor, b2["start_unix_ms"]):
            return None
        phase = (sent_ms - anchor) % period_ms
        if 1e3 <= phase < on_s * 1e3:
            return "with"
        return "alone" if phase >= on_s * 1e3 + 1e3 else None
    for name, r in (("alone", b1), ("with", b2)):
        if r["start_unix_ms"] <= sent_ms < r["start_unix_ms"] + r["elapsed_s"] * 1e3:
            return name
    return None

def split(csv, sent_column, latency_column, cycles=None):
    """A CSV's latencies by classify() of their send instants (Unix ms); in interleaved mode also
    into `cycles` (when given) by flood/pause cycle: {cycle index: {"alone": [...], "with": [...]}}."""
    halves = {"alone": [], "with": []}
    for line in open(csv).read().splitlines()[1:]:
        cols = [float(x) for x in line.split(",")]
        side = classify(cols[sent_column])
        if side:
            halves[side].append(cols[latency_column])
            if cycles is not None:
                k = int((cols[sent_column] - anchor) // period_ms)
                cycles.setdefault(k, {"alone": [], "with": []})[side].append(cols[latency_column])
    return halves

if not interleave:
    b1 = report("b1")
if interleave:
    cycles = {}
    halves = split(f"{work}/b2-lat.csv", 2, 1, cycles)
    b1 = {"sent": len(halves["alone"]), "ok": len(halves["alone"]), "refused": 0, "timeouts": 0,
          "invalid": 0, "p50_ms": sorted(halves["alone"] or [0])[len(halves["alone"]) // 2],
          "p99_ms": p99(halves["alone"]), "max_ms": max(halves["alone"] or [0])}
    with_a = {"n": len(halves["with"]), "p50_ms": sorted(halves["with"] or [0])[len(halves["with"]) // 2],
              "p99_ms": p99(halves["with"]), "max_ms": max(halves["with"] or [0])}
    print(f"interleaved ({interleave} s): B's replies sent during A's pauses {b1['ok']}, during A's "
          f"floods {with_a['n']} (the first second after each switch left out)")
metrics = {}
for line in open(f"{work}/metrics.txt"):
    m = re.match(r'^(\w+)(?:\{(.*)\})? (\S+)$', line.strip())
    if m:
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
        metrics[(m.group(1), labels)] = float(m.group(3))

def total(name, **want):
    return sum(v for (n, labels), v in metrics.items()
               if n == name and all((k, w) in labels for k, w in want.items()))

checks = []
def check(ok, text):
    checks.append(ok)
    print(("PASS " if ok else "FAIL ") + text)

print(f"B alone:  sent {b1['sent']} ok {b1['ok']} refused {b1['refused']} timeouts {b1['timeouts']} "
      f"invalid {b1['invalid']} | p50 {b1['p50_ms']:.3f} p99 {b1['p99_ms']:.3f} max {b1['max_ms']:.3f} ms")
print(f"B with A: sent {b2['sent']} ok {b2['ok']} refused {b2['refused']} timeouts {b2['timeouts']} "
      f"invalid {b2['invalid']} | p50 {b2['p50_ms']:.3f} p99 {b2['p99_ms']:.3f} max {b2['max_ms']:.3f} ms"
      + (" (the whole phase)" if interleave else ""))
if interleave:
    print(f"B during A's floods: {with_a['n']} replies | p50 {with_a['p50_ms']:.3f} "
          f"p99 {with_a['p99_ms']:.3f} max {with_a['max_ms']:.3f} ms")
    b2_p99 = with_a["p99_ms"]
else:
    b2_p99 = b2["p99_ms"]
if a is not None:
  print(f"A:        sent {a['sent']} ok {a['ok']} refused {a['refused']} timeouts {a['timeouts']} "
        f"invalid {a['invalid']} | admitted {a['ok'] / max(a['elapsed_s'], 1e-9):.0f} req/s "
        f"(limit {limit}) over {a['elapsed_s']:.1f} s")

check(b2["refused"] == 0, f"B refusals with A flooding: {b2['refused']} (must be 0)")
check(b2["timeouts"] == 0 and b2["invalid"] == 0 and b2["ok"] + b2["errors"] == b2["sent"],
      f"every B request answered and verified: {b2['ok'] + b2['errors']} of {b2['sent']}")
if interleave:
    check(bool(halves["alone"]) and bool(halves["with"]),
          f"both halves have replies: {len(halves['alone'])} in A's pauses, {len(halves['with'])} "
          f"in A's floods")
ratio = b2_p99 / b1["p99_ms"] if b1["p99_ms"] > 0 else float("inf")
check(ratio <= 1.20,
      f"B p99 alone {b1['p99_ms']:.3f} ms, with A {b2_p99:.3f} ms: ratio {ratio:.3f} (must be <= 1.20)")
if interleave:
    # Per cycle: B's p99 in each flood window and in the pause after it. A run whose pause windows
    # differ by more than DISTURBED × was disturbed (the VM, a neighbour): its pooled ratio says
    # more about when the disturbance fell than about A. On the 2-vCPU VM of benches/README.md,
    # runs whose pause windows all had a p99 under 0.9 ms differed by ≈ 1.1–1.45 ×; 1.6 leaves some
    # room above that.
    DISTURBED = 1.6
    pairs = [(p99(c["with"]), p99(c["alone"])) for _, c in sorted(cycles.items())
             if c["with"] and c["alone"]]
    if pairs:
        print("info: B p99 per cycle, A's flood / the pause after it (ms): "
              + ", ".join(f"{f:.2f}/{q:.2f}" for f, q in pairs))
        spread = max(q for _, q in pairs) / max(min(q for _, q in pairs), 1e-9)
        if spread > DISTURBED:
            print(f"NOTE disturbed run: B's p99 in A's pauses ranged {min(q for _, q in pairs):.2f}–"
                  f"{max(q for _, q in pairs):.2f} ms (× {spread:.2f} > {DISTURBED}); the p99 check "
                  f"above is not evidence either way — rerun")
import os
if os.path.exists(f"{work}/b-wire.csv"):
    wire = split(f"{work}/b-wire.csv", 0, 1)
    w1, w2 = p99(wire["alone"]), p99(wire["with"])
    print(f"info: B p99 on the wire (bunkerd's host, without the generators' scheduling): alone "
          f"{w1:.3f} ms ({len(wire['alone'])} requests), with A {w2:.3f} ms ({len(wire['with'])}): "
          f"ratio {w2 / w1 if w1 > 0 else float('inf'):.3f}")

if a_mult < 2:
    print(f"info: control run (A_MULT={a_mult}): A {'absent' if a_mult == 0 else 'at its limit'}; "
          f"the checks of A's refusals are skipped")
else:
    rl_a = total("bunkerd_rate_limited_total", tenant=a_id)
    rl_b = total("bunkerd_rate_limited_total", tenant=b_id)
    check(a["refused"] > 0 and a["timeouts"] == 0 and a["invalid"] == 0,
          f"A's excess refused: {a['refused']} of {a['sent']} sent, {a['timeouts']} timeouts, {a['invalid']} invalid")
    if "rate_limited" in a:
        check(a["rate_limited"] == a["refused"],
              f"every A refusal starts with rate-limited: (generator): {a['rate_limited']} of {a['refused']}")
    check(rl_a == a["refused"],
          f"every A refusal counted as rate-limited by bunkerd: bunkerd_rate_limited_total A {rl_a:.0f}, "
          f"A's refusals {a['refused']}")
    others = {dict(labels)["reason"]: int(v) for (n, labels), v in metrics.items()
              if n == "bunkerd_events_rejected_total" and dict(labels).get("reason") != "rate_limited" and v > 0}
    check(not others, f"no refusal with another NIP-01 prefix: {others or 'none'}")
    rejected_rl = total("bunkerd_events_rejected_total", reason="rate_limited")
    check(rejected_rl == rl_a + rl_b,
          f"every rate-limited refusal is a tenant's: events_rejected_total{{reason=rate_limited}} "
          f"{rejected_rl:.0f}, rate_limited_total A + B {rl_a + rl_b:.0f}")
    limits = {dict(labels)["limit"]: int(v) for (n, labels), v in metrics.items()
              if n == "bunkerd_limit_refusals_total" and v > 0}
    if limits or any(n == "bunkerd_limit_refusals_total" for n, _ in metrics):
        check(set(limits) <= {"tenant_rate"},
              f"refusals by limit (bunkerd_limit_refusals_total): {limits or 'none'} (only tenant_rate)")
    answered_b = total("bunkerd_requests_total", tenant=b_id)
    check(rl_a > 0 and answered_b > 0 and rl_b == 0,
          f"/metrics shows both: A rate-limited {rl_a:.0f}, B answered {answered_b:.0f}, B rate-limited {rl_b:.0f}")
    print(f"info: A refused {a_after - a_before} while B's generator ran ({b_wall:.1f} s wall, set-up "
          f"included; ≈ {9 * limit} refusals/s expected)")
    if not interleave:  # interleaved, A may be pausing when B ends
        check(a_later > a_after,
              f"A still flooding after B finished: +{a_later - a_after} refusals in the next second")

# bunkerd's own view of B: its sign_event latency histogram (relay accept → response handed to the
# connection) after phase 1 and, by difference, in phase 2. Informational: the client-side p99
# above also includes the relay's socket reads and writes and the generators' scheduling.
def buckets(path):
    out = {}
    for line in open(path):
        if line.startswith("bunkerd_request_duration_seconds_bucket{") and f'tenant="{b_id}"' in line \
                and 'method="sign_event"' in line:
            out[re.search(r'le="([^"]+)"', line).group(1)] = float(line.split()[-1])
    return out
h1 = buckets(f"{work}/metrics-phase1.txt") if not interleave else {}
h_all = buckets(f"{work}/metrics.txt")
if h1 and h_all:
    n1 = h1["+Inf"]
    n2 = h_all["+Inf"] - n1
    for le in ("0.00025", "0.0005", "0.001"):
        over1 = n1 - h1[le]
        over2 = n2 - (h_all[le] - h1[le])
        print(f"info: bunkerd-side B sign_event over {float(le) * 1000:g} ms: alone {over1:.0f} of "
              f"{n1:.0f} ({over1 / n1:.2%}), with A {over2:.0f} of {n2:.0f} ({over2 / n2:.2%})")
sys.exit(0 if all(checks) else 1)
PY
