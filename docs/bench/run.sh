#!/usr/bin/env bash
# One benchmark run: a fresh database, 1000 bound devices (TEST_0001..TEST_1000), the release
# server, and one ljwx-stress run against it. Prints one JSON line with the stress report,
# the server's peak RSS and CPU seconds (in all, and during the load alone), the database
# server's CPU seconds during the load (MariaDB, PostgreSQL), and the load generator's CPU
# seconds. VERIFY=0 skips the check of the stored rows (which would add database time).
#
#   docs/bench/run.sh sqlite|mariadb|postgres OUT.json [ljwx-stress run options...]
#
# Only loopback is used. Server settings come from the environment (LJWX_*), so sweeps
# can vary them: LJWX_WRITER__MAX_ROWS=2000 docs/bench/run.sh postgres out.json --mode open --rate 800
# LJWX_DEVICES__AUTH=required runs the load with a gateway key (docs/bench/auth.sh).
# PREPARE=script runs before the server starts (see below).
# WARMUP="ljwx-stress run options" runs a load first that is not measured, for the steady
# state: each multi-row statement shape is prepared once per connection, and a fresh server
# prepares them as group sizes first occur. Give it another --days-back than the measured
# run, or its records are the measured run's duplicates:
#   WARMUP="--mode open --rate 100 --duration 20 --days-back 2" docs/bench/run.sh mariadb out.json --mode open --rate 100 --duration 20
set -euo pipefail
backend=$1; out=$2; shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
# SERVER=path/to/ljwx-bigscreen runs another build of the server (e.g. to compare two commits).
server_bin=${SERVER:-$bin/ljwx-bigscreen}
source "$root/docs/bench/fresh-db.sh"
bench_workdir
url=$(fresh_db "$backend" ljwx_bench "$work")
port=18001
export DATABASE_URL=$url LJWX_LISTEN=127.0.0.1:$port RUST_LOG=${RUST_LOG:-warn}
"$bin/ljwx-stress" bindings --devices 1000 > "$work/bindings.csv"
"$server_bin" --config /nonexistent devices import "$work/bindings.csv" > /dev/null
# PREPARE=script runs `script BACKEND DATABASE_URL` on the migrated database before the server
# starts (docs/bench/housekeeping.sh fills the quarantine with it).
[ -n "${PREPARE:-}" ] && "$PREPARE" "$backend" "$url"
# With device keys on (LJWX_DEVICES__AUTH=optional|required) the load carries a gateway key of
# customer 1, which every test device is bound to.
key_args=()
case ${LJWX_DEVICES__AUTH:-off} in
  optional|required)
    key_args=(--key "$("$server_bin" --config /nonexistent devices key issue --customer 1 2>/dev/null)") ;;
esac
"$server_bin" --config /nonexistent serve 2> "$work/server.log" &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/health" > /dev/null && break; sleep 0.1; done

# Peak RSS of the server, sampled every 200 ms while the load runs.
( peak=0; while kill -0 "$server" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" > "$work/peak_rss_kib"
    sleep 0.2
  done ) &
sampler=$!

# CPU seconds of a process (user + system), and of the database server's processes: MariaDB
# is one process; PostgreSQL one per connection, plus what exited children left the postmaster.
cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
db_cpu() {
  case $backend in
    # The server on 3306 (other mariadbd, a Galera test cluster say, may be running).
    mariadb)  cpu_of "$(ss -Hltnp 'sport = :3306' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)" ;;
    postgres) for p in $(pgrep -x postgres); do awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || true; done |
                awk '{s += $1} END {print s / 100}' ;;
    *)        echo 0 ;;
  esac
}
if [ -n "${WARMUP:-}" ]; then
  # Word splitting of WARMUP is wanted: it holds the options.
  # shellcheck disable=SC2086
  "$bin/ljwx-stress" run --url "http://127.0.0.1:$port" --run-id warmup "${key_args[@]}" $WARMUP \
    > "$work/warmup.txt" 2>&1 || true
fi
verify_args=(--verify-db "$url")
[ "${VERIFY:-1}" = 0 ] && verify_args=()
server_before=$(cpu_of "$server"); db_before=$(db_cpu)
/usr/bin/time -f '%U %S %M' -o "$work/stress.time" \
  "$bin/ljwx-stress" run --url "http://127.0.0.1:$port" --json "$work/report.json" \
  "${verify_args[@]}" "${key_args[@]}" "$@" > "$work/stress.txt" 2>&1 || true
server_cpu=$(cpu_of "$server"); db_after=$(db_cpu)
server_load_cpu=$(awk -v a="$server_cpu" -v b="$server_before" 'BEGIN {print a - b}')
db_load_cpu=$(awk -v a="$db_after" -v b="$db_before" 'BEGIN {print a - b}')
kill -TERM "$server"; wait "$server" || true
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
read -r su ss smax < "$work/stress.time"
python3 - "$work/report.json" "$(cat "$work/peak_rss_kib" 2>/dev/null || echo 0)" "$server_cpu" "$su" "$ss" "$smax" "$backend" "$out" "$work/stress.txt" "$server_load_cpu" "$db_load_cpu" <<'PY'
import json, sys
report_path, rss, server_cpu, su, ss, smax, backend, out, text, server_load, db_load = sys.argv[1:]
try:
    report = json.load(open(report_path))
except Exception:
    report = {"error": open(text).read()[-2000:]}
result = {
    "backend": backend,
    "server_peak_rss_mib": round(int(rss) / 1024, 1),
    "server_cpu_seconds": float(server_cpu),
    "server_load_cpu_seconds": round(float(server_load), 2),
    "db_load_cpu_seconds": round(float(db_load), 2),
    "stress_cpu_seconds": round(float(su) + float(ss), 2),
    "stress_max_rss_mib": round(int(smax) / 1024, 1),
    "report": report,
}
open(out, "w").write(json.dumps(result) + "\n")
print(json.dumps({k: v for k, v in result.items() if k != "report"}))
PY
