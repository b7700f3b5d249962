#!/usr/bin/env bash
# Device keys' cost: the same open loop against a server with `devices.auth = off` and with
# `required` (every upload carrying a gateway key), runs alternating, and the medians of the
# acknowledged record rate and P99 latency side by side.
#
#   docs/bench/auth.sh [BACKEND] [RATE] [RUNS]     defaults: mariadb 100 3
#
# RATE is requests per second of 100 records each, for 20 s. Only loopback is used; each run
# gets a fresh database (docs/bench/run.sh).
set -euo pipefail
backend=${1:-mariadb}; rate=${2:-100}; runs=${3:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/ljwx-bench-auth}
mkdir -p "$out"
for run in $(seq 1 "$runs"); do
  for auth in off required; do
    LJWX_DEVICES__AUTH=$auth "$root/docs/bench/run.sh" "$backend" "$out/${auth}_$run.json" \
      --mode open --rate "$rate" --duration 20 --run-id "auth_${auth}_$run" > /dev/null
  done
done
python3 - "$out" "$runs" "$backend" "$rate" <<'PY'
import json, statistics, sys
out, runs, backend, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
print(f"{backend}, open loop {rate} requests/s of 100 records, 20 s, median of {runs}\n")
print("| devices.auth | acknowledged records/s (runs) | median | P99 ms (runs) | median | server CPU s (runs) |")
print("|---|---|---|---|---|---|")
medians = {}
for auth in ["off", "required"]:
    reports = [json.load(open(f"{out}/{auth}_{n}.json")) for n in range(1, runs + 1)]
    rates = [r["report"]["records"]["acknowledged_per_s"] for r in reports]
    p99 = [r["report"]["latency_ms"]["p99"] for r in reports]
    cpu = [r["server_cpu_seconds"] for r in reports]
    medians[auth] = (statistics.median(rates), statistics.median(p99))
    print(f"| {auth} | {', '.join(f'{v:,.0f}' for v in rates)} | {statistics.median(rates):,.0f} "
          f"| {', '.join(f'{v:.1f}' for v in p99)} | {statistics.median(p99):.1f} "
          f"| {', '.join(f'{v:.1f}' for v in cpu)} |")
(off_rate, off_p99), (req_rate, req_p99) = medians["off"], medians["required"]
print(f"\nrequired vs off: records/s {100 * (req_rate / off_rate - 1):+.1f} %, "
      f"P99 {100 * (req_p99 / off_p99 - 1):+.1f} %")
PY
