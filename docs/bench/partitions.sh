#!/usr/bin/env bash
# Inserts with monthly partitions against without (issue 15): the same loads on a fresh
# database whose health table is partitioned (`partitions.enabled`, the default) or not.
#
#   docs/bench/partitions.sh [BACKENDS] [RUNS]       defaults: "mariadb postgres" 3
#
# Each run, per setting (alternating): an open loop of 200 requests/s × 100 records for 20 s
# (upload P50/P99), and the seed's closed-loop workload (5000 users, 60 s: records/s
# acknowledged at saturation). Prints medians of RUNS. Only loopback is used.
set -euo pipefail
backends=${1:-mariadb postgres}; runs=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/ljwx-bench-partitions}
mkdir -p "$out"
for backend in $backends; do
  for run in $(seq 1 "$runs"); do
    for setting in on off; do
      enabled=true; [ "$setting" = off ] && enabled=false
      LJWX_PARTITIONS__ENABLED=$enabled VERIFY=0 "$root/docs/bench/run.sh" "$backend" \
        "$out/open_${backend}_${setting}_$run.json" --mode open --rate 200 --duration 20 \
        --run-id "part_open_${setting}_$run" > /dev/null
      LJWX_PARTITIONS__ENABLED=$enabled VERIFY=0 "$root/docs/bench/run.sh" "$backend" \
        "$out/seed_${backend}_${setting}_$run.json" --mode closed --duration 60 \
        --run-id "part_seed_${setting}_$run" > /dev/null
    done
  done
done
python3 - "$out" "$runs" "$backends" <<'PY'
import json, statistics, sys
out, runs, backends = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
med = statistics.median
load = lambda kind, b, s: [json.load(open(f"{out}/{kind}_{b}_{s}_{n}.json"))["report"] for n in range(1, runs + 1)]
runs_of = lambda values, fmt: ", ".join(fmt.format(v) for v in values)
print(f"medians of {runs}; open loop 200 requests/s x 100 records, 20 s; seed workload 5000 users, 60 s\n")
print("| database | partitions | open-loop P50 ms (runs) | open-loop P99 ms (runs) | seed acknowledged rec/s (runs) |")
print("|---|---|---|---|---|")
for b in backends:
    for s in ("on", "off"):
        o, seed = load("open", b, s), load("seed", b, s)
        p50 = [r["latency_ms"]["p50"] for r in o]; p99 = [r["latency_ms"]["p99"] for r in o]
        acked = [r["records"]["acknowledged_per_s"] for r in seed]
        print(f"| {b} | {s} | {med(p50):.1f} ({runs_of(p50, '{:.1f}')}) | {med(p99):.1f} ({runs_of(p99, '{:.1f}')}) "
              f"| {med(acked):,.0f} ({runs_of(acked, '{:,.0f}')}) |")
PY
