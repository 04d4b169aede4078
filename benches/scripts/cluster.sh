#!/usr/bin/env bash
# What a cluster costs per request: for N = 1, 2, 3 nodes on loopback, a throwaway PostgreSQL
# (initdb + pg_ctl, fsync on), one nats-server and N release bunkerd nodes sharing them
# (`--store postgres://…`, `--cluster-bus nats://…`, `--workers 1`, one master key and operator
# token), then a closed-loop `sign_event` run spread evenly over the nodes. Prints one table:
# requests/s and, per request answered, the CPU of all bunkerd nodes, of PostgreSQL (postmaster and
# every backend) and of nats-server, PostgreSQL's committed transactions, rows inserted (and the
# claim and audit rows among them, counted in the table) and WAL bytes, NATS messages in and out
# and bytes out. A second table gives each cluster's idle cost (no clients, IDLE seconds): CPU per
# second and bus messages per second (the heartbeats).
#
#   benches/scripts/cluster.sh [USERS] [CLIENTS] [REQUESTS] [DURATION s] [NODE COUNTS]
#   benches/scripts/cluster.sh 100 200 100000 20 "1 2 3"     # the defaults
#
# Spreading the load: one loadgen per node, in parallel, each with its share of the clients and
# of REQUESTS, its own slice of the bunker URIs and `--relay` that node (as a client whose bunker
# URI lists several relays would). Not HAProxy: on 2 cores a proxy would add its own CPU and a
# hop to every request and frame, blurring what the nodes, PostgreSQL and NATS cost; and which
# node a client reaches does not change the bus traffic (every response goes to the N - 1 other
# nodes wherever its subscriber is). req/s is the sum of the generators' rates.
#
# Pinning (2 cores): every bunkerd node on NODE_CPUS (default core 0, so N nodes share one core
# and req/s stays comparable across N); the generators, PostgreSQL and nats-server on AUX_CPUS
# (default core 1). Absolute req/s is not the point: the costs per request and per node are.
#
# Windows: CPU, NATS counters and req/s bracket the whole generator runs, set-up included
# (connect + get_public_key per client, as in closed-loop.sh: slightly pessimistic). PostgreSQL's
# pg_stat_database counters (xact_commit, tup_inserted) reach the view up to 10 s late (a backend
# that goes idle holds them that long): they are read 11 s after provisioning and after the run.
# The idle window (CPU and NATS only) starts 2 s after provisioning.
#
# Knobs (environment): NODE_CPUS=0 AUX_CPUS=1 IDLE=10 (seconds) WORKERS=1 (signer threads per
# node: a worker waits for each request's claim in PostgreSQL) KEEP=1 (keep the work directory)
# PG_STATEMENTS=1 (load pg_stat_statements and print, after each run, the statements of the
# bunkerd database per request answered: a diagnosis, it costs PostgreSQL CPU of its own).
# PostgreSQL from the newest /usr/lib/postgresql/*/bin (PGBIN to override); run as root, its
# commands run as PG_OS_USER (default postgres). Needs nats-server, curl and python3.
#
# Needs release builds (`--bin loadgen` would leave bunkerd's binary out of a single command):
#   cargo build --release -p bunkerd && cargo build --release -p benches --bin loadgen
set -euo pipefail
. "$(dirname "$0")/limits-out-of-reach.sh"
users=${1:-100} clients=${2:-200} requests=${3:-100000} duration=${4:-20} counts=${5:-1 2 3}
node_cpus=${NODE_CPUS:-0} aux_cpus=${AUX_CPUS:-1} idle=${IDLE:-10} workers=${WORKERS:-1}
target=${CARGO_TARGET_DIR:-target}/release
pgbin=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
pg_os_user=${PG_OS_USER:-postgres}
as_pg=() # initdb and postgres refuse to run as root
[ "$(id -u)" = 0 ] && as_pg=(runuser -u "$pg_os_user" --)
token=bench-operator-token-0123456789
hz=$(getconf CLK_TCK)
for bin in "$target/bunkerd" "$target/loadgen" "$pgbin/initdb" "$pgbin/pg_ctl"; do
  [ -x "$bin" ] || { echo "missing $bin" >&2; exit 1; }
done
command -v nats-server >/dev/null || { echo "missing nats-server (apt-get install nats-server)" >&2; exit 1; }

work=$(mktemp -d)
chmod 0711 "$work" # PostgreSQL's OS user reaches its own directory below
pids=() pgdata=''
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$pgdata" ] && [ -f "$pgdata/postmaster.pid" ]; then
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
  fi
  pids=() pgdata=''
}
trap 'cleanup; if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # URL [tries of 0.1 s]
  for _ in $(seq 1 "${2:-300}"); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}
psql_() { "$pgbin/psql" -X -h 127.0.0.1 -p "$pgport" -U bunkerd -d postgres -Atq -F ' ' -c "$1"; }
# xact_commit tup_inserted WAL-position-in-bytes of the bunkerd database (read from another one).
pg_stats() {
  psql_ "SELECT xact_commit, tup_inserted, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint
         FROM pg_stat_database WHERE datname = 'bunkerd'"
}
# pg_stats once every backend has reported: a backend flushes its counters at most once a second,
# and one that goes idle within a second of its last flush holds them for 10 s
# (PGSTAT_IDLE_INTERVAL), so wait 11 s after the last activity.
pg_settled() { sleep 11; pg_stats; }
# Rows of claims and of the audit log now in the records table, exactly (one transaction of its own
# in the bunkerd database: read once per window end, after pg_settled).
pg_rows() {
  "$pgbin/psql" -X -h 127.0.0.1 -p "$pgport" -U bunkerd -d bunkerd -Atq -F ' ' -c \
    "SELECT count(*) FILTER (WHERE cf = 'claims'), count(*) FILTER (WHERE cf = 'audit') FROM records"
}
# CPU ticks (utime + stime): all bunkerd nodes, PostgreSQL (the postmaster with its reaped
# children, plus every live child), nats-server; then NATS in_msgs out_msgs in_bytes out_bytes.
sample() {
  python3 - "$postmaster" "$nats_pid" "$mon" "${node_pids[@]}" <<'PY'
import json, os, sys, urllib.request
postmaster, nats, mon, nodes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # fields from the 3rd (state) on
    except OSError:
        return None
def own(f):
    return int(f[11]) + int(f[12])  # utime + stime (fields 14 and 15)
bunkerd = sum(own(stat(p)) for p in nodes)
pm = stat(postmaster)
pg = own(pm) + int(pm[13]) + int(pm[14])  # + cutime + cstime: children already reaped
for entry in os.listdir("/proc"):
    if entry.isdigit():
        f = stat(entry)
        if f is not None and int(f[1]) == postmaster:  # ppid (field 4)
            pg += own(f)
varz = json.load(urllib.request.urlopen(f"http://127.0.0.1:{mon}/varz"))
print(bunkerd, pg, own(stat(nats)), varz["in_msgs"], varz["out_msgs"], varz["in_bytes"], varz["out_bytes"])
PY
}

results=$work/results.tsv
: >"$results"
for n in $counts; do
  echo "== $n node(s)" >&2
  run=$work/n$n
  mkdir -p "$run"

  # PostgreSQL: a fresh cluster, trust on loopback, fsync on, socket in its own directory.
  pgdata=$run/pg pgport=$(free_port)
  mkdir -p "$pgdata"
  [ "$(id -u)" = 0 ] && chown "$pg_os_user" "$pgdata"
  chmod 0700 "$pgdata"
  "${as_pg[@]}" "$pgbin/initdb" -D "$pgdata" -U bunkerd --auth=trust -E UTF8 --no-sync >"$run/initdb.log" 2>&1
  pgopts="-c listen_addresses=127.0.0.1 -p $pgport -k $pgdata -c fsync=on -c max_connections=300"
  [ -n "${PG_STATEMENTS:-}" ] && pgopts+=" -c shared_preload_libraries=pg_stat_statements"
  taskset -c "$aux_cpus" "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start \
    -o "$pgopts" >"$run/pg_ctl.log" 2>&1
  postmaster=$(head -1 "$pgdata/postmaster.pid")
  psql_ "CREATE DATABASE bunkerd"
  [ -n "${PG_STATEMENTS:-}" ] && psql_ "CREATE EXTENSION pg_stat_statements"

  # NATS, with its monitoring port for /varz.
  natsport=$(free_port) mon=$(free_port)
  taskset -c "$aux_cpus" nats-server -a 127.0.0.1 -p "$natsport" -m "$mon" >"$run/nats.log" 2>&1 &
  nats_pid=$!
  pids+=("$nats_pid")
  wait_for "http://127.0.0.1:$mon/varz"

  # N nodes; the first creates the master key, the others read it.
  node_pids=() relays=() admins=()
  for i in $(seq 1 "$n"); do
    relay=$(free_port) admin=$(free_port)
    key=()
    [ "$i" -gt 1 ] && key=(--master-key-file "$run/node1/master.key")
    BUNKERD_OPERATOR_TOKEN=$token BUNKERD_LOG=warn \
      taskset -c "$node_cpus" "$target/bunkerd" serve --data-dir "$run/node$i" \
      --store "postgres://bunkerd@127.0.0.1:$pgport/bunkerd" --cluster-bus "nats://127.0.0.1:$natsport" \
      --listen "127.0.0.1:$relay" --admin-listen "127.0.0.1:$admin" --workers "$workers" "${key[@]}" \
      >"$run/node$i.log" 2>&1 &
    pid=$!
    pids+=("$pid") node_pids+=("$pid") relays+=("$relay") admins+=("$admin")
    wait_for "http://127.0.0.1:$admin/readyz" || { cat "$run/node$i.log" >&2; exit 1; }
  done

  # Users through node 1; the URIs dealt round-robin into one file per node.
  echo "$token" >"$run/token"
  taskset -c "$aux_cpus" "$target/loadgen" provision --admin "127.0.0.1:${admins[0]}" \
    --token-file "$run/token" --users "$users" --uris-per-user $(((clients + users - 1) / users)) \
    --out "$run/uris.txt" >&2
  for i in $(seq 1 "$n"); do
    awk -v n="$n" -v k="$((i - 1))" '(NR - 1) % n == k' "$run/uris.txt" >"$run/uris$i.txt"
  done

  # Idle: heartbeats only.
  sleep 2
  idle0=$(sample)
  sleep "$idle"
  idle1=$(sample)

  # The run: one generator per node, in parallel.
  pg0="$(pg_settled) $(pg_rows)"
  [ -n "${PG_STATEMENTS:-}" ] && psql_ "SELECT pg_stat_statements_reset()" >/dev/null
  s0=$(sample)
  gens=()
  for i in $(seq 1 "$n"); do
    c=$((clients / n + (i <= clients % n ? 1 : 0)))
    taskset -c "$aux_cpus" "$target/loadgen" run --relay "127.0.0.1:${relays[i - 1]}" \
      --uris "$run/uris$i.txt" --clients "$c" --requests $((requests / n)) --duration "$duration" \
      >"$run/report$i.json" 2>"$run/loadgen$i.log" &
    gens+=($!) pids+=($!)
  done
  for g in "${gens[@]}"; do wait "$g" || { cat "$run"/loadgen*.log >&2; exit 1; }; done
  s1=$(sample)
  pg1="$(pg_settled) $(pg_rows)"
  cat "$run"/loadgen*.log >&2
  if [ -n "${PG_STATEMENTS:-}" ]; then
    answered=$(cat "$run"/report*.json | python3 -c 'import json, sys
print(sum(r["ok"] + r["errors"] for r in map(json.loads, filter(str.strip, sys.stdin))))')
    echo "statements per request answered ($answered), bunkerd database:" >&2
    psql_ "SELECT round(calls::numeric / $answered, 3), round((total_exec_time * 1000 / $answered)::numeric, 1)
             || ' µs', left(regexp_replace(query, '\s+', ' ', 'g'), 90)
           FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bunkerd')
           ORDER BY calls DESC LIMIT 12" >&2
  fi
  echo "$n|$idle0|$idle1|$s0|$s1|$pg0|$pg1|$(for i in $(seq 1 "$n"); do tail -1 "$run/report$i.json"; done | paste -sd'\t')" >>"$results"
  cleanup
done

python3 - "$results" "$hz" "$idle" <<'PY'
import json, sys
path, hz, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows, idles = [], []
for line in open(path):
    n, i0, i1, s0, s1, p0, p1, reports = line.rstrip("\n").split("|")
    n = int(n)
    i0, i1, s0, s1, p0, p1 = ([int(x) for x in v.split()] for v in (i0, i1, s0, s1, p0, p1))
    reps = [json.loads(r) for r in reports.split("\t")]
    answered = sum(r["ok"] + r["errors"] for r in reps)
    bad = sum(r["errors"] + r["refused"] + r["timeouts"] + r["invalid"] for r in reps)
    rps = sum(r["rps"] for r in reps)
    d = [b - a for a, b in zip(s0, s1)]
    pg = [b - a for a, b in zip(p0, p1)]
    per = lambda x: x / max(answered, 1)
    us = lambda ticks: per(ticks) / hz * 1e6
    rows.append((n, rps, answered, bad, us(d[0]), us(d[1]), us(d[2]), per(pg[0]), per(pg[1]),
                 per(pg[3]), per(pg[4]), per(pg[2]), per(d[3]), per(d[4]), per(d[6])))
    di = [b - a for a, b in zip(i0, i1)]
    idles.append((n, di[0] / hz / idle * 1e3, di[1] / hz / idle * 1e3, di[2] / hz / idle * 1e3,
                  di[3] / idle, di[4] / idle))
print("| N | req/s | answered | not ok | bunkerd CPU µs/req (all nodes) | PostgreSQL CPU µs/req "
      "| NATS CPU µs/req | PG xact/req | rows inserted/req | claim rows/req | audit rows/req "
      "| WAL B/req | NATS msgs in/req | NATS msgs out/req | NATS bytes out/req |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print("| %d | %.0f | %d | %d | %.1f | %.1f | %.1f | %.2f | %.2f | %.3f | %.3f | %.0f | %.3f | %.3f | %.0f |" % r)
print()
print(f"Idle, {idle:.0f} s, no clients:")
print("| N | bunkerd CPU ms/s (all nodes) | PostgreSQL CPU ms/s | NATS CPU ms/s | NATS msgs in/s | NATS msgs out/s |")
print("|---:|---:|---:|---:|---:|---:|")
for r in idles:
    print("| %d | %.2f | %.2f | %.2f | %.1f | %.1f |" % r)
PY
