#!/usr/bin/env bash
# The read side over a large health table (issue 16): page times of the samples API, the
# summaries, FHIR search and Open mHealth with ROWS stored samples, and the memory of a Bulk
# Data export streamed whole.
#
#   docs/bench/readside.sh sqlite|mariadb|postgres [ROWS] [REQUESTS]
#
# 1. A fresh database (partitioned by month, as a new install is); ROWS rows (default
#    10 000 000) inserted with `bench-db` (1000 devices `BENCH<run>_NNNN`, users 1–1000, one
#    sample a second per device, 45 days ago); the statistics updated.
# 2. The release server with a read token; REQUESTS (default 300) requests of each kind, one
#    at a time over one keep-alive connection, at random devices, wearers and times
#    (docs/bench/readside.py): one JSON line per kind with P50/P95/P99/max ms.
# 3. With EXPORT=1: a system-level `$export`, every file downloaded (curl, to /dev/null) while
#    the server's RSS is sampled every 100 ms: one JSON line with samples, lines, bytes,
#    seconds and the peak RSS against the RSS before.
# Only loopback is used.
set -euo pipefail
backend=$1; rows=${2:-10000000}; requests=${3:-300}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
source "$root/docs/bench/fresh-db.sh"
bench_workdir
url=$(fresh_db "$backend" ljwx_read "$work")
port=18003
token=bench-read-token
export DATABASE_URL=$url LJWX_LISTEN=127.0.0.1:$port RUST_LOG=${RUST_LOG:-warn}
export LJWX_ADMIN__READ_TOKEN=$token LJWX_ADMIN__PASSWORD=bench-read

echo "inserting $rows rows..." >&2
method=multi; [ "$backend" = postgres ] && method=copy
"$bin/bench-db" --config /nonexistent --rows "$rows" --chunk 4096 --method "$method" \
  --connections "$([ "$backend" = sqlite ] && echo 1 || echo 4)" >&2
case $backend in
  mariadb)  mysql -h127.0.0.1 -uroot ljwx_read -e "ANALYZE TABLE t_user_health_data" > /dev/null
            first=$(mysql -h127.0.0.1 -uroot -N ljwx_read -e "SELECT device_sn, UNIX_TIMESTAMP(MIN(timestamp)) FROM t_user_health_data WHERE id = (SELECT MIN(id) FROM t_user_health_data)") ;;
  postgres) psql -q -h127.0.0.1 -U postgres -d ljwx_read -c "ANALYZE t_user_health_data"
            first=$(psql -h127.0.0.1 -U postgres -d ljwx_read -tA -F ' ' -c "SELECT device_sn, EXTRACT(EPOCH FROM timestamp)::bigint FROM t_user_health_data ORDER BY id LIMIT 1") ;;
  sqlite)   db=${url#sqlite://}; db=${db%%\?*}
            sqlite3 "$db" "ANALYZE" 2>/dev/null || true
            first=$(python3 -c "
import sqlite3, sys, datetime
c = sqlite3.connect(sys.argv[1]); sn, ts = c.execute('SELECT device_sn, timestamp FROM t_user_health_data ORDER BY id LIMIT 1').fetchone()
print(sn, int(datetime.datetime.fromisoformat(ts.replace('Z', '+00:00')).timestamp()))" "$db") ;;
esac
read -r device start <<< "$first"
prefix=${device%_*}_

"$bin/ljwx-bigscreen" --config /nonexistent serve 2> "$work/server.log" &
server=$!
base=http://127.0.0.1:$port
for _ in $(seq 1 300); do curl -sf "$base/api/health" > /dev/null && break; sleep 0.1; done

python3 "$root/docs/bench/readside.py" "$base" "$token" "$prefix" "$start" \
  "$((rows / 1000))" "$requests" "$backend" "$rows"

if [ "${EXPORT:-0}" = 1 ]; then
  rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
  before=$(rss)
  ( peak=0; while kill -0 "$server" 2>/dev/null; do
      r=$(rss 2>/dev/null || echo 0); [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" > "$work/peak"
      sleep 0.1; done ) &
  sampler=$!
  started=$(date +%s.%N)
  status=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $token" -H 'Prefer: respond-async' \
    "$base/fhir/\$export" | awk 'tolower($1) == "content-location:" {print $2}' | tr -d '\r')
  until curl -s -H "Authorization: Bearer $token" "$status" -o "$work/manifest" -w '%{http_code}' | grep -q 200; do
    sleep 0.5
  done
  planned=$(date +%s.%N)
  lines=0; bytes=0
  for file in $(python3 -c 'import json,sys; print(" ".join(o["url"] for o in json.load(open(sys.argv[1]))["output"]))' "$work/manifest"); do
    out=$(curl -s -H "Authorization: Bearer $token" "$file" | tee >(wc -c > "$work/bytes") | wc -l)
    lines=$((lines + out)); bytes=$((bytes + $(cat "$work/bytes")))
  done
  ended=$(date +%s.%N)
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  python3 - "$backend" "$rows" "$lines" "$bytes" "$started" "$planned" "$ended" "$before" "$(cat "$work/peak")" <<'PY'
import json, sys
backend, rows, lines, size, started, planned, ended, before, peak = sys.argv[1:]
print(json.dumps({"backend": backend, "samples": int(rows), "export_lines": int(lines),
                  "bytes": int(size), "planning_s": round(float(planned) - float(started), 1),
                  "download_s": round(float(ended) - float(planned), 1),
                  "rss_before_mib": round(int(before) / 1024, 1), "rss_peak_mib": round(int(peak) / 1024, 1)}))
PY
fi
