#!/usr/bin/env bash
# Upload latency while housekeeping deletes a million rows, against the same load without it.
#
#   docs/bench/housekeeping.sh [BACKEND] [RUNS]       defaults: mariadb 3
#
# Each run: a fresh database whose quarantine holds 1 000 000 samples of 1 000 000 serials,
# all past their retention (arrived 2020-01-01); then an open loop of 100 requests/s × 100
# records for 60 s, with housekeeping on (it starts at once, 1000 rows per DELETE, 20 ms
# apart) or off, alternating. Prints, per mode, the upload P50/P99 and the quarantine rows
# left after the load (on: what housekeeping had not reached yet), medians of RUNS. Before
# the first run it also times the dashboard's quarantine queries on the full quarantine.
# Only loopback is used.
set -euo pipefail
backend=${1:-mariadb}; runs=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/ljwx-bench-housekeeping}
mkdir -p "$out"
prepare=$out/prepare.sh
cat > "$prepare" <<'SH'
#!/usr/bin/env bash
# PREPARE hook: a million quarantined samples, one serial each, past their retention.
set -euo pipefail
backend=$1; url=$2; db=${url##*/}
case $backend in
  mariadb)  mysql -h127.0.0.1 -uroot "$db" -e "INSERT INTO t_unknown_device_data \
              (device_sn, heart_rate, timestamp, create_time) \
              SELECT CONCAT('STRAY', seq), 70, FROM_UNIXTIME(1600000000 + seq), '2020-01-01 00:00:00' \
              FROM seq_1_to_1000000" ;;
  postgres) psql -q -h127.0.0.1 -U postgres -d "$db" -c "INSERT INTO t_unknown_device_data \
              (device_sn, heart_rate, timestamp, create_time) \
              SELECT 'STRAY' || n, 70, to_timestamp(1600000000 + n), '2020-01-01 00:00:00+00' \
              FROM generate_series(1, 1000000) AS n" ;;
  *) echo "housekeeping.sh: mariadb or postgres" >&2; exit 1 ;;
esac
SH
chmod +x "$prepare"
left() {  # quarantine rows left in the benchmark database
  case $backend in
    mariadb)  mysql -h127.0.0.1 -uroot -N ljwx_bench -e "SELECT COUNT(*) FROM t_unknown_device_data" ;;
    postgres) psql -h127.0.0.1 -U postgres -d ljwx_bench -tA -c "SELECT COUNT(*) FROM t_unknown_device_data" ;;
  esac
}
for run in $(seq 1 "$runs"); do
  for mode in on off; do
    enabled=true; [ "$mode" = off ] && enabled=false
    PREPARE=$prepare VERIFY=0 LJWX_HOUSEKEEPING__ENABLED=$enabled \
      "$root/docs/bench/run.sh" "$backend" "$out/${mode}_$run.json" \
      --mode open --rate 100 --duration 60 --run-id "hk_${mode}_$run" > /dev/null
    echo "$(left)" > "$out/${mode}_${run}.left"
  done
done
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
med = statistics.median
print("| housekeeping | upload P50 ms (runs) | upload P99 ms (runs) | quarantine rows left of 1 000 000 (runs) |")
print("|---|---|---|---|")
for mode in ("on", "off"):
    r = [json.load(open(f"{out}/{mode}_{n}.json"))["report"] for n in range(1, runs + 1)]
    p50 = [x["latency_ms"]["p50"] for x in r]; p99 = [x["latency_ms"]["p99"] for x in r]
    left = [int(open(f"{out}/{mode}_{n}.left").read()) for n in range(1, runs + 1)]
    f = lambda v: ", ".join(f"{x:.1f}" for x in v)
    print(f"| {mode} | {med(p50):.1f} ({f(p50)}) | {med(p99):.1f} ({f(p99)}) | {med(left):,.0f} ({', '.join(f'{x:,}' for x in left)}) |")
PY
