#!/usr/bin/env bash
# A PostgreSQL primary and a streaming standby of it on loopback ports, for the read-replica
# tests: Debian's PostgreSQL binaries, clusters of their own in DIR, run as the postgres user.
#
#   .ci/pg-replica.sh start DIR PORT    primary on PORT, standby on PORT+1; prints
#                                        "PRIMARY_URL REPLICA_URL" (idempotent)
#   .ci/pg-replica.sh stop DIR
set -euo pipefail
cmd=$1; dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { runuser -u postgres -- "$@"; }
case $cmd in
  start)
    port=$3; standby_port=$((port + 1))
    urls="postgres://postgres@127.0.0.1:$port/postgres postgres://postgres@127.0.0.1:$standby_port/postgres"
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && "$bin/pg_isready" -q -h 127.0.0.1 -p "$standby_port"; then
      echo "$urls"; exit 0
    fi
    "$0" stop "$dir" 2>/dev/null || true
    rm -rf "$dir"; mkdir -p "$dir"; chown postgres "$dir"
    as_pg "$bin/initdb" -D "$dir/primary" -A trust -U postgres > "$dir/initdb.log"
    cat >> "$dir/primary/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 4
CONF
    as_pg "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start > /dev/null
    # A base backup that follows the primary (-R writes standby.signal and primary_conninfo).
    as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$port" -U postgres -D "$dir/standby" -R -X stream
    echo "port = $standby_port" >> "$dir/standby/postgresql.conf"
    as_pg "$bin/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w start > /dev/null
    echo "$urls"
    ;;
  stop)
    for node in standby primary; do
      [ -d "$dir/$node" ] && as_pg "$bin/pg_ctl" -D "$dir/$node" -m fast -w stop > /dev/null || true
    done
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
