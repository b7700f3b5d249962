#!/usr/bin/env bash
# Issue 3's "≥ 80 % of the raw rate", measured with the database on a core of its own.
#
# On a 2-core machine the unpinned comparison is unfair: the raw rate is the database with
# both cores, while under load the server and the load generator take part of them. Here the
# database server (every mariadbd thread, every postgres process) is pinned to CPU 0 and its
# clients — bench-db for the raw rate; the service and ljwx-stress for the open loop — to
# CPU 1, for both measurements alike. Affinity is restored at the end.
#
# The raw rate is taken on as many rows as an open-loop run stores (RAW_ROWS, default
# 1 200 000 ≈ 20 s at 60 000 records/s): a table that outgrows the buffer pool inserts more
# slowly, so a raw figure on a young table would flatter the database.
#
#   OUT=/tmp/ljwx-pinned [RUNS=3] [RAW_ROWS=1200000] [VARIANTS=...] docs/bench/pinned.sh mariadb|postgres "RATES"
#   (RATES in requests/s of 100 records; each rate is run RUNS times)
#
# VARIANTS compares server settings: ';'-separated lists of LJWX_* assignments, e.g.
# "LJWX_WRITER__WRITERS=4;LJWX_WRITER__WRITERS=4 LJWX_WRITER__POSTGRES_COPY=false". Every rate
# runs once per variant in each round, variants side by side. Default: the defaults.
set -uo pipefail
cd "$(dirname "$0")/../.."
db=$1; rates=$2
OUT=${OUT:-/tmp/ljwx-pinned}
RUNS=${RUNS:-3}
RAW_ROWS=${RAW_ROWS:-1200000}
IFS=';' read -ra variants <<< "${VARIANTS:-}"
[ ${#variants[@]} -eq 0 ] && variants=("")
mkdir -p "$OUT"
bin=target/release/ljwx-bigscreen
bench_db=target/release/bench-db
export RUST_LOG=warn
case $db in
  mariadb)  pids() { pgrep -x mariadbd; } ;;
  postgres) pids() { pgrep -x postgres; } ;;
  *) echo "mariadb or postgres (SQLite runs inside the service)" >&2; exit 1 ;;
esac
pin() { for p in $(pids); do taskset -a -p -c "$1" "$p" > /dev/null; done; }
trap 'pin 0,1' EXIT
pin 0
source docs/bench/fresh-db.sh
# Raw and open-loop runs alternate, so a drift of the machine's speed hits both alike.
for i in $(seq 1 "$RUNS"); do
  url=$(fresh_db "$db" ljwx_raw /tmp)
  DATABASE_URL=$url taskset -c 1 "$bench_db" --config /x --rows "$RAW_ROWS" --chunk 2048 \
    --connections 4 >> "$OUT/raw_${db}.jsonl"
  if [ "$db" = postgres ]; then
    url=$(fresh_db "$db" ljwx_raw /tmp)
    DATABASE_URL=$url taskset -c 1 "$bench_db" --config /x --rows "$RAW_ROWS" --chunk 2048 \
      --connections 8 --method copy >> "$OUT/raw_${db}_copy.jsonl"
  fi
  for rate in $rates; do
    for settings in "${variants[@]}"; do
      # The file name carries the settings: writer.writers-4+writer.postgres_copy-false.
      tag=$(echo "$settings" | sed 's/LJWX_//g; s/__/./g; s/=/-/g; s/ /+/g' | tr 'A-Z' 'a-z')
      env $settings taskset -c 1 docs/bench/run.sh "$db" "$OUT/open_${db}_${tag:-default}_${rate}_$i.json" \
        --mode open --rate "$rate" --duration 20
    done
  done
done
