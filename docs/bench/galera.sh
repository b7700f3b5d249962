#!/usr/bin/env bash
# A three-node MariaDB Galera cluster on loopback ports (Debian's mariadb-server, galera-4 and
# rsync), each node a mariadbd of its own with its data directory in DIR (owned by mysql:
# the rsync state transfer runs as that user).
#
#   docs/bench/galera.sh start DIR PORT    nodes on PORT, PORT+1, PORT+2 (group communication
#                                           on PORT+10…, state transfers on PORT+20…/PORT+30…);
#                                           prints the three URLs (database ljwx)
#   docs/bench/galera.sh kill DIR N        SIGKILL node N (1–3)
#   docs/bench/galera.sh stop DIR
set -euo pipefail
cmd=$1; dir=$2
node_port() { echo $(( $1 + $2 - 1 )); }
case $cmd in
  start)
    port=$3
    "$0" stop "$dir" 2>/dev/null || true
    rm -rf "$dir"; mkdir -p "$dir"; chown mysql:mysql "$dir"
    peers=""
    for n in 1 2 3; do peers="$peers${peers:+,}127.0.0.1:$((port + 9 + n))"; done
    for n in 1 2 3; do
      d=$dir/node$n; p=$(node_port "$port" "$n"); g=$((port + 9 + n))
      mkdir -p "$d"; chown mysql:mysql "$d"
      mariadb-install-db --no-defaults --datadir="$d/data" --user=mysql \
        --auth-root-authentication-method=normal > "$d/install.log" 2>&1
      cat > "$d/my.cnf" <<CNF
[mysqld]
datadir=$d/data
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
log-error=$d/error.log
port=$p
bind-address=127.0.0.1
user=mysql
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=128M
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=ljwx
wsrep_cluster_address=gcomm://$peers
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$g
wsrep_provider_options=gmcast.listen_addr=tcp://127.0.0.1:$g;ist.recv_addr=127.0.0.1:$((port + 29 + n))
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$((port + 19 + n))
CNF
      chown -R mysql:mysql "$d"
    done
    for n in 1 2 3; do
      d=$dir/node$n; p=$(node_port "$port" "$n")
      extra=(); [ "$n" = 1 ] && extra=(--wsrep-new-cluster)
      mariadbd --defaults-file="$d/my.cnf" "${extra[@]}" > /dev/null 2>&1 &
      for _ in $(seq 1 120); do
        mysqladmin -h127.0.0.1 -P"$p" -uroot ping > /dev/null 2>&1 && break; sleep 0.5
      done
      # Synced before the next joins (a donor serves one state transfer at a time).
      for _ in $(seq 1 120); do
        state=$(mysql -h127.0.0.1 -P"$p" -uroot -N -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | awk '{print $2}')
        [ "$state" = Synced ] && break; sleep 0.5
      done
      [ "$state" = Synced ] || { echo "node$n did not sync: $d/error.log" >&2; exit 1; }
    done
    mysql -h127.0.0.1 -P"$port" -uroot -e "CREATE DATABASE IF NOT EXISTS ljwx"
    for n in 1 2 3; do printf 'mysql://root@127.0.0.1:%s/ljwx\n' "$(node_port "$port" "$n")"; done
    ;;
  kill)
    kill -KILL "$(cat "$dir/node$3/mysqld.pid")"
    ;;
  stop)
    for n in 3 2 1; do
      [ -f "$dir/node$n/mysqld.pid" ] && kill "$(cat "$dir/node$n/mysqld.pid")" 2>/dev/null || true
    done
    sleep 2
    ;;
  *) echo "usage: $0 start DIR PORT | kill DIR N | stop DIR" >&2; exit 2 ;;
esac
