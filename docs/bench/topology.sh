#!/usr/bin/env bash
# The production topology of deploy/ on this one machine: nginx with the shipped site in front
# of N release instances (ports 18401…), MariaDB or PostgreSQL, a Redis Cluster of three masters
# and three replicas (deploy/redis-cluster.sh, ports 7200–7205, fresh for the run), and
# ljwx-stress through nginx (port 18400). Prints one JSON line: the load's figures, the CPU
# seconds of the instances (all their processes, restarts included), nginx, Redis and the
# database server during the run, the commands the Redis masters processed, the instances'
# largest peak RSS, and nginx's 502s.
#
#   docs/bench/topology.sh mariadb|postgres N OUT.json [ljwx-stress run options...]
#
# ROLLING=1: 5 s into the load each instance in turn gets SIGTERM, drains, and starts again,
#            as deploy/deploy.sh does (SETTLE 3 s between instances).
# KILL_MASTER=1: 10 s into the load the Redis master holding the activity counters is killed
#            (SIGKILL); its replica takes over.
# VERIFY=0 skips comparing the stored rows with what was acknowledged.
#
# Only loopback is used; every loop is bounded by the load's duration.
set -euo pipefail
backend=$1; n=$2; out=$3; shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
work=$(mktemp -d)
nginx_port=18400
cleanup() {
  set +e
  for f in "$work"/pid.*; do [ -f "$f" ] && pkill -KILL -P "$(cat "$f")" 2>/dev/null; done
  [ -f "$work/nginx.pid" ] && kill -TERM "$(cat "$work/nginx.pid")" 2>/dev/null || true
  "$root/deploy/redis-cluster.sh" stop "$work/redis" > /dev/null 2>&1 || true
  sleep 0.5; rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

source "$root/docs/bench/fresh-db.sh"
url=$(fresh_db "$backend" ljwx_topo "$work")
redis_url=$("$root/deploy/redis-cluster.sh" start "$work/redis" 7200)
export DATABASE_URL=$url REDIS_URL=$redis_url RUST_LOG=${RUST_LOG:-warn}
export LJWX_SERVER__TRUSTED_PROXIES='["127.0.0.1/32"]'
"$bin/ljwx-stress" bindings --devices 1000 > "$work/bindings.csv"
"$bin/ljwx-bigscreen" --config /nonexistent devices import "$work/bindings.csv" > /dev/null

# Instance i runs under GNU time, which records its CPU seconds and peak RSS when it exits; its
# pid is in $work/pid.i (a restart may come from a background job of this script).
start_instance() { # index
  local port=$((nginx_port + 1 + $1))
  LJWX_LISTEN=127.0.0.1:$port /usr/bin/time -f '%U %S %M' -o "$work/instance.$1.$(date +%s%N).time" \
    "$bin/ljwx-bigscreen" --config /nonexistent serve 2>> "$work/instance.$1.log" &
  echo $! > "$work/pid.$1"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/health" > /dev/null && return; sleep 0.1; done
  echo "instance $1 did not start" >&2; exit 1
}
stop_instance() { # index: SIGTERM to the service (GNU time's child); wait until both are gone
  local pid; pid=$(cat "$work/pid.$1")
  pkill -TERM -P "$pid" || true
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
for i in $(seq 0 $((n - 1))); do start_instance "$i"; done

# nginx with the shipped site: its listen port, one server line per instance, logs in $work.
servers=$(for i in $(seq 0 $((n - 1))); do
  printf '    server 127.0.0.1:%s max_fails=3 fail_timeout=3s;\\n' $((nginx_port + 1 + i)); done)
awk -v servers="$servers" -v listen="    listen 127.0.0.1:$nginx_port;" '
  /^ *server 127\.0\.0\.1:/ { if (!done) { printf "%s", servers; done = 1 } next }
  /^ *listen 80;/ { print listen; next }
  { print }' "$root/deploy/nginx/ljwx-bigscreen.conf" | sed "s#/var/log/nginx#$work#" > "$work/site.conf"
cat > "$work/nginx.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 16384; }
http {
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  include $work/site.conf;
}
CONF
nginx -p "$work" -c "$work/nginx.conf"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$nginx_port/health" > /dev/null && break; sleep 0.1; done

cpu_of_pids() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done | awk '{s += $1} END {print s / 100}'; }
db_cpu() {
  case $backend in
    mariadb)  cpu_of_pids "$(pidof mariadbd)" ;;
    postgres) for p in $(pgrep -x postgres); do awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || true; done |
                awk '{s += $1} END {print s / 100}' ;;
  esac
}
nginx_pids() { local master; master=$(cat "$work/nginx.pid"); echo "$master"; pgrep -P "$master" || true; }
redis_pids() { for port in $(seq 7200 7205); do cat "$work/redis/$port/redis.pid" 2>/dev/null || true; done; }
# Commands the masters processed (a replica's count would repeat its master's writes).
redis_commands() {
  for port in $(seq 7200 7205); do
    [ "$(redis-cli -p "$port" role 2>/dev/null | head -1)" = master ] || continue
    redis-cli -p "$port" info stats | awk -F: '/^total_commands_processed/ {print $2}'
  done | awk '{s += $1} END {print s + 0}'
}
# shellcheck disable=SC2046
before="$(db_cpu) $(cpu_of_pids $(nginx_pids)) $(cpu_of_pids $(redis_pids)) $(redis_commands)"

events=()
if [ "${ROLLING:-0}" = 1 ]; then
  ( sleep 5
    for i in $(seq 0 $((n - 1))); do
      echo "$(date +%s.%N) SIGTERM instance $i" >> "$work/events"
      stop_instance "$i"; start_instance "$i"
      echo "$(date +%s.%N) instance $i healthy again" >> "$work/events"
      sleep 3
    done ) &
  events+=($!)
fi
if [ "${KILL_MASTER:-0}" = 1 ]; then
  ( sleep 10
    slot=$(redis-cli -p 7200 cluster keyslot activity)
    port=$(redis-cli -p 7200 cluster nodes | awk -v slot="$slot" '$3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1];
        if (slot >= r[1] && slot <= r[2]) { split($2, a, "[:@]"); print a[2] } } }')
    kill -KILL "$(cat "$work/redis/$port/redis.pid")"
    echo "$(date +%s.%N) killed the Redis master on $port" >> "$work/events" ) &
  events+=($!)
fi

verify_args=(--verify-db "$url")
[ "${VERIFY:-1}" = 0 ] && verify_args=()
"$bin/ljwx-stress" run --url "http://127.0.0.1:$nginx_port" --json "$work/report.json" \
  "${verify_args[@]}" "$@" > "$work/stress.txt" 2>&1 || true
for pid in "${events[@]}"; do wait "$pid" || true; done
# shellcheck disable=SC2046
after="$(db_cpu) $(cpu_of_pids $(nginx_pids)) $(cpu_of_pids $(redis_pids)) $(redis_commands)"
for i in $(seq 0 $((n - 1))); do stop_instance "$i"; done
cat "$work"/instance.*.time | awk '{cpu += $1 + $2; if ($3 > rss) rss = $3} END {print cpu, rss}' > "$work/instances"
python3 - "$work" "$backend" "$n" "$out" "$before" "$after" <<'PY'
import json, os, sys
work, backend, n, out, before, after = sys.argv[1:]
db0, ng0, rd0, rc0 = map(float, before.split()); db1, ng1, rd1, rc1 = map(float, after.split())
cpu, rss = open(f"{work}/instances").read().split()
try:
    report = json.load(open(f"{work}/report.json"))
except Exception:
    report = {"error": open(f"{work}/stress.txt").read()[-2000:]}
log = open(f"{work}/ljwx-bigscreen-error.log").read() if os.path.exists(f"{work}/ljwx-bigscreen-error.log") else ""
events = open(f"{work}/events").read().splitlines() if os.path.exists(f"{work}/events") else []
result = {
    "backend": backend, "instances": int(n),
    "instances_cpu_seconds": round(float(cpu), 2),
    "instance_peak_rss_mib": round(int(rss) / 1024, 1),
    "nginx_cpu_seconds": round(ng1 - ng0, 2),
    "redis_cpu_seconds": round(rd1 - rd0, 2),
    "redis_commands": int(rc1 - rc0),
    "db_cpu_seconds": round(db1 - db0, 2),
    "nginx_502": sum(1 for line in log.splitlines() if "no live upstreams" in line or "prematurely closed" in line),
    "events": events,
    "report": report,
}
open(out, "w").write(json.dumps(result) + "\n")
print(json.dumps({k: v for k, v in result.items() if k != "report"}))
PY
