#!/usr/bin/env bash
# The whole benchmark of docs/BENCHMARKS.md: raw insert rates, the seed workload (3 runs per
# database), open-loop rate steps, and writer sweeps. Results go to $OUT (one JSON file per
# run); docs/bench/summary.py turns them into the tables. Takes about 35 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ljwx-bench}
# Which parts to run, and the open-loop steps (requests/s of 100 records) per database.
PARTS=${PARTS:-"raw seed open sweep"}
SQLITE_RATES=${SQLITE_RATES:-"60 90 120 160 200"}
MARIADB_RATES=${MARIADB_RATES:-"100 150 200 300 400"}
POSTGRES_RATES=${POSTGRES_RATES:-"100 150 200 250 350"}
part() { [[ " $PARTS " == *" $1 "* ]]; }
mkdir -p "$OUT"
run=docs/bench/run.sh
bin=target/release/ljwx-bigscreen
bench_db=target/release/bench-db
export RUST_LOG=warn

part raw && for i in 1 2 3; do
  [ "$i" = 1 ] && echo "== raw insert rates"
  rm -f "$OUT/raw.db"*
  DATABASE_URL="sqlite://$OUT/raw.db?mode=rwc" "$bench_db" --config /x --rows 200000 --chunk 4096 >> "$OUT/raw_sqlite.jsonl"
  mysql -h127.0.0.1 -uroot -e 'DROP DATABASE IF EXISTS ljwx_raw; CREATE DATABASE ljwx_raw'
  DATABASE_URL=mysql://root@127.0.0.1:3306/ljwx_raw "$bench_db" --config /x --rows 200000 --chunk 2048 --connections 4 >> "$OUT/raw_mariadb.jsonl"
  psql -q -h127.0.0.1 -U postgres -d test -c 'DROP DATABASE IF EXISTS ljwx_raw WITH (FORCE)' -c 'CREATE DATABASE ljwx_raw'
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/ljwx_raw "$bench_db" --config /x --rows 200000 --chunk 2048 --connections 4 >> "$OUT/raw_postgres_multi.jsonl"
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/ljwx_raw "$bench_db" --config /x --rows 200000 --chunk 2048 --connections 8 --method copy >> "$OUT/raw_postgres_copy.jsonl"
done

part seed && for db in sqlite mariadb postgres; do
  echo "== seed workload on $db: 5000 users, 100 records per batch, 1-5 s think time, 60 s"
  for i in 1 2 3; do
    $run "$db" "$OUT/seed_${db}_$i.json" --users 5000 --duration 60
  done
done

if part open; then
  echo "== open loop steps (requests/s of 100 records), 20 s each"
  for rate in $SQLITE_RATES; do $run sqlite "$OUT/open_sqlite_$rate.json" --mode open --rate "$rate" --duration 20; done
  for rate in $MARIADB_RATES; do $run mariadb "$OUT/open_mariadb_$rate.json" --mode open --rate "$rate" --duration 20; done
  for rate in $POSTGRES_RATES; do $run postgres "$OUT/open_postgres_$rate.json" --mode open --rate "$rate" --duration 20; done
fi

part sweep && echo "== writer sweeps on MariaDB, open loop 400 requests/s"
part sweep && for rows in 1000 4000 16000; do
  for linger in 1 5 20; do
    LJWX_WRITER__MAX_ROWS=$rows LJWX_WRITER__LINGER_MS=$linger \
      $run mariadb "$OUT/sweep_rows${rows}_linger${linger}.json" --mode open --rate 400 --duration 20
  done
done
part sweep && for writers in 1 2 4 8; do
  LJWX_WRITER__WRITERS=$writers $run mariadb "$OUT/sweep_writers$writers.json" --mode open --rate 450 --duration 20
done
echo "== done"
