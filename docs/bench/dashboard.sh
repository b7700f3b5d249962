#!/usr/bin/env bash
# Dashboard page times over a large health table (DESIGN §9, issue: every page < 200 ms with
# 10 million stored rows).
#
#   docs/bench/dashboard.sh sqlite|mariadb|postgres [ROWS] [FETCHES]
#
# 1. A fresh database; ROWS rows (default 10 000 000) inserted into t_user_health_data with
#    `bench-db` (the raw insert path: 1000 devices).
# 2. The release server with 1000 bound devices; 60 s of the seed's workload at 500 users
#    (breaching records raise alerts; daily counters and traces fill), and 200 samples of
#    unknown devices in quarantine.
# 3. Every page fetched FETCHES times (default 50) by a logged-in client: once with the
#    service idle, once while an open-loop load of 10 000 records/s runs.
# 4. Ingest with and without VIEWERS (default 100) open dashboards on the live feed: the same
#    20 s open loop of 10 000 records/s, twice.
# Prints one JSON line per page and phase: median, p95 and max milliseconds (curl's
# time_total: request sent to last byte received), then one per ingest run. Only loopback is
# used.
set -euo pipefail
backend=$1; rows=${2:-10000000}; fetches=${3:-50}; viewers=${VIEWERS:-100}
# Dashboards open during the first ingest run: 0 compares with no feed at all; 1 isolates the
# cost of fanning out to many from the cost of computing the feed.
baseline=${BASELINE_VIEWERS:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
source "$root/docs/bench/fresh-db.sh"
bench_workdir
url=$(fresh_db "$backend" ljwx_dash "$work")
port=18002
password=bench-dashboard
export DATABASE_URL=$url LJWX_LISTEN=127.0.0.1:$port RUST_LOG=${RUST_LOG:-warn}
export LJWX_ADMIN__PASSWORD=$password LJWX_ADMIN__LOGIN_ATTEMPTS_PER_MINUTE=1000

echo "inserting $rows rows..." >&2
"$root/target/release/bench-db" --config /nonexistent --rows "$rows" --chunk 4096 \
  --connections "$([ "$backend" = sqlite ] && echo 1 || echo 4)" >&2
"$bin/ljwx-stress" bindings --devices 1000 > "$work/bindings.csv"
"$bin/ljwx-bigscreen" --config /nonexistent devices import "$work/bindings.csv" > /dev/null
"$bin/ljwx-bigscreen" --config /nonexistent serve 2> "$work/server.log" &
server=$!
base=http://127.0.0.1:$port
for _ in $(seq 1 300); do curl -sf "$base/api/health" > /dev/null && break; sleep 0.1; done

echo "filling alerts, counters and traces..." >&2
"$bin/ljwx-stress" run --url "$base" --users 500 --duration 60 \
  --breach-per-mille 5 > /dev/null 2>&1 || true
now=$(date +%s)
for d in $(seq 1 20); do
  body=$(python3 -c "import json,sys; print(json.dumps({'data': [{'deviceSn': 'UNBOUND%02d' % $d, 'heartRate': 70, 'timestamp': $now - 600 + i} for i in range(10)]}))")
  curl -sf -H 'content-type: application/json' -d "$body" "$base/upload_health_data_batch" > /dev/null
done

jar=$work/jar
curl -s -c "$jar" -b "$jar" "$base/login" > "$work/login.html"
csrf=$(grep -o 'name="csrf" value="[^"]*"' "$work/login.html" | head -1 | sed 's/.*value="//;s/"$//')
curl -s -c "$jar" -b "$jar" -o /dev/null -d "csrf=$csrf&password=$password&next=/" "$base/login"

measure() { # phase
  # A batch still kept in memory, for its waterfall page.
  trace=$(curl -s "$base/api/traces?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["trace_id"])' 2>/dev/null || echo none)
  pages=(/ /live.json "/alerts?status=open" "/alerts?status=all" "/alerts?status=all&page=5" /devices "/devices?page=10" /traces "/traces/$trace" /system)
  for page in "${pages[@]}"; do
    for _ in $(seq 1 "$fetches"); do
      curl -s -b "$jar" -o /dev/null -w '%{http_code} %{time_total}\n' "$base$page"
    done > "$work/times"
    python3 - "$1" "$page" "$work/times" "$backend" "$rows" <<'PY'
import json, statistics, sys
phase, page, path, backend, rows = sys.argv[1:]
lines = [l.split() for l in open(path)]
codes = sorted({c for c, _ in lines})
ms = sorted(float(t) * 1000 for _, t in lines)
p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
print(json.dumps({"backend": backend, "rows": int(rows), "phase": phase, "page": page,
                  "status": codes, "median_ms": round(statistics.median(ms), 2),
                  "p95_ms": round(p95, 2), "max_ms": round(ms[-1], 2)}))
PY
  done
}

measure idle
"$bin/ljwx-stress" run --url "$base" --mode open --rate 100 --duration 120 > /dev/null 2>&1 &
load=$!
sleep 5
measure "load 10k rec/s"
kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true

ingest() { # label
  "$bin/ljwx-stress" run --url "$base" --mode open --rate 100 --duration 20 \
    --json "$work/ingest.json" > /dev/null 2>&1 || true
  python3 - "$1" "$work/ingest.json" "$backend" <<'PY'
import json, sys
label, path, backend = sys.argv[1:]
r = json.load(open(path))
print(json.dumps({"backend": backend, "phase": label,
                  "acknowledged_per_s": round(r["records"]["acknowledged_per_s"]),
                  "success_pct": r["requests"]["success_rate_pct"],
                  "p50_ms": r["latency_ms"]["p50"], "p99_ms": r["latency_ms"]["p99"]}))
PY
}
pids=()
open_dashboards() { # count
  for _ in $(seq 1 "$1"); do
    curl -s -N -b "$jar" "$base/live" > /dev/null &
    pids+=($!)
  done
}
open_dashboards "$baseline"
sleep 5
ingest "ingest, $baseline dashboards on /live"
open_dashboards $((viewers - baseline))
sleep 3
ingest "ingest, $viewers dashboards on /live"
kill "${pids[@]}" 2>/dev/null || true
