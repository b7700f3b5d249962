#!/usr/bin/env bash
# One benchmark run: a fresh database, 1000 bound devices (TEST_0001..TEST_1000), the release
# server, and one ljwx-stress run against it. Prints one JSON line with the stress report,
# the server's peak RSS and CPU seconds, and the load generator's CPU seconds.
#
#   docs/bench/run.sh sqlite|mariadb|postgres OUT.json [ljwx-stress run options...]
#
# Only loopback is used. Server settings come from the environment (LJWX_*), so sweeps
# can vary them: LJWX_WRITER__MAX_ROWS=2000 docs/bench/run.sh postgres out.json --mode open --rate 800
# LJWX_DEVICES__AUTH=required runs the load with a gateway key (docs/bench/auth.sh).
set -euo pipefail
backend=$1; out=$2; shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
# SERVER=path/to/ljwx-bigscreen runs another build of the server (e.g. to compare two commits).
server_bin=${SERVER:-$bin/ljwx-bigscreen}
work=$(mktemp -d)
server=
trap '{ [ -n "$server" ] && kill "$server" 2>/dev/null; } || true; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"

source "$root/docs/bench/fresh-db.sh"
url=$(fresh_db "$backend" ljwx_bench "$work")
port=18001
export DATABASE_URL=$url LJWX_LISTEN=127.0.0.1:$port RUST_LOG=${RUST_LOG:-warn}
"$bin/ljwx-stress" bindings --devices 1000 > "$work/bindings.csv"
"$server_bin" --config /nonexistent devices import "$work/bindings.csv" > /dev/null
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

/usr/bin/time -f '%U %S %M' -o "$work/stress.time" \
  "$bin/ljwx-stress" run --url "http://127.0.0.1:$port" --json "$work/report.json" \
  --verify-db "$url" "${key_args[@]}" "$@" > "$work/stress.txt" 2>&1 || true
server_cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$server/stat")
kill -TERM "$server"; wait "$server" || true
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
read -r su ss smax < "$work/stress.time"
python3 - "$work/report.json" "$(cat "$work/peak_rss_kib" 2>/dev/null || echo 0)" "$server_cpu" "$su" "$ss" "$smax" "$backend" "$out" "$work/stress.txt" <<'PY'
import json, sys
report_path, rss, server_cpu, su, ss, smax, backend, out, text = sys.argv[1:]
try:
    report = json.load(open(report_path))
except Exception:
    report = {"error": open(text).read()[-2000:]}
result = {
    "backend": backend,
    "server_peak_rss_mib": round(int(rss) / 1024, 1),
    "server_cpu_seconds": float(server_cpu),
    "stress_cpu_seconds": round(float(su) + float(ss), 2),
    "stress_max_rss_mib": round(int(smax) / 1024, 1),
    "report": report,
}
open(out, "w").write(json.dumps(result) + "\n")
print(json.dumps({k: v for k, v in result.items() if k != "report"}))
PY
