#!/usr/bin/env bash
# CPU per stored record: the service process and the database server side by side, at a fixed
# open-loop rate, from /proc (user + system), so the ratio holds on a noisy machine. Then the
# seed workload's acknowledged rate as a share of the database's raw insert rate, measured in
# the same run.
#
#   docs/bench/cpu.sh [BACKENDS] [RATE] [RUNS]       defaults: "sqlite mariadb postgres" 100 3
#
# RATE is requests per second of 100 records each, for 20 s. SERVER=path/to/ljwx-bigscreen
# measures another build (for before/after). Only loopback is used; every run gets a fresh
# database (docs/bench/run.sh). On SQLite the database runs inside the service: its figure
# is the total per record.
set -euo pipefail
backends=${1:-sqlite mariadb postgres}; rate=${2:-100}; runs=${3:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/ljwx-bench-cpu}
server_bin=${SERVER:-$root/target/release/ljwx-bigscreen}
mkdir -p "$out"
source "$root/docs/bench/fresh-db.sh"
for backend in $backends; do
  for run in $(seq 1 "$runs"); do
    VERIFY=0 "$root/docs/bench/run.sh" "$backend" "$out/open_${backend}_$run.json" \
      --mode open --rate "$rate" --duration 20 --run-id "cpu_${backend}_$run" > /dev/null
    VERIFY=0 "$root/docs/bench/run.sh" "$backend" "$out/seed_${backend}_$run.json" \
      --mode closed --duration 60 --run-id "seed_${backend}_$run" > /dev/null
    work=$(mktemp -d)
    url=$(fresh_db "$backend" ljwx_bench_raw "$work")
    connections=4; [ "$backend" = sqlite ] && connections=1
    method=multi; [ "$backend" = postgres ] && method=copy
    DATABASE_URL=$url RUST_LOG=warn "$root/target/release/bench-db" --config /nonexistent \
      --rows 200000 --chunk 1000 --connections "$connections" --method "$method" \
      > "$out/raw_${backend}_$run.json"
    rm -rf "$work"
  done
done
python3 - "$out" "$runs" "$rate" "$backends" <<'PY'
import json, statistics, sys
out, runs, rate, backends = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
med = statistics.median
print(f"open loop {rate} requests/s of 100 records, 20 s; CPU seconds per million stored records, median of {runs}\n")
print("| database | service s/M (runs) | database s/M (runs) | service ÷ database | stored rec/s |")
print("|---|---|---|---|---|")
for b in backends:
    rows = [json.load(open(f"{out}/open_{b}_{n}.json")) for n in range(1, runs + 1)]
    per_m = lambda key: [r[key] / r["report"]["records"]["inserted"] * 1e6 for r in rows]
    svc, db = per_m("server_load_cpu_seconds"), per_m("db_load_cpu_seconds")
    stored = med(r["report"]["records"]["inserted"] / r["report"]["elapsed_s"] for r in rows)
    ratio = f"{med(svc) / med(db):.2f}" if med(db) > 0 else "– (in process)"
    print(f"| {b} | {med(svc):.1f} ({', '.join(f'{v:.1f}' for v in svc)}) "
          f"| {med(db):.1f} ({', '.join(f'{v:.1f}' for v in db)}) | {ratio} | {stored:,.0f} |")
print(f"\nseed workload (5000 users, 100 records, think 1–5 s, 60 s) against the raw insert rate, median of {runs}\n")
print("| database | acknowledged rec/s (runs) | raw rows/s (runs) | share |")
print("|---|---|---|---|")
for b in backends:
    acked = [json.load(open(f"{out}/seed_{b}_{n}.json"))["report"]["records"]["acknowledged_per_s"] for n in range(1, runs + 1)]
    raw = [json.load(open(f"{out}/raw_{b}_{n}.json"))["rows_per_second"] for n in range(1, runs + 1)]
    print(f"| {b} | {', '.join(f'{v:,.0f}' for v in acked)} | {', '.join(f'{v:,.0f}' for v in raw)} "
          f"| {med(acked) / med(raw):.2f} |")
PY
