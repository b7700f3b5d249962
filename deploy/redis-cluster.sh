#!/usr/bin/env bash
# A Redis Cluster of three masters and three replicas (seed §4), on one host's loopback ports:
#
#   deploy/redis-cluster.sh start [DIR] [FIRST_PORT]    default /var/lib/ljwx-redis-cluster 7000
#   deploy/redis-cluster.sh stop  [DIR]
#
# Nodes listen on FIRST_PORT … FIRST_PORT+5 (bound to 127.0.0.1: put them on a private
# address of their own hosts in production, one master and one replica of another per host),
# each with its data, config and log under DIR/PORT. Starting an existing cluster restarts its
# nodes with their saved state. The service's URL is then
# REDIS_URL=redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002.
set -euo pipefail
action=${1:-start}; dir=${2:-/var/lib/ljwx-redis-cluster}; first=${3:-7000}
ports=$(seq "$first" $((first + 5)))
host=127.0.0.1

case $action in
  start)
    for port in $ports; do
      mkdir -p "$dir/$port"
      [ -f "$dir/$port/redis.conf" ] || cat > "$dir/$port/redis.conf" <<CONF
port $port
bind $host
protected-mode yes
dir $dir/$port
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 3000
appendonly yes
daemonize yes
pidfile $dir/$port/redis.pid
logfile $dir/$port/redis.log
CONF
      redis-cli -h "$host" -p "$port" ping > /dev/null 2>&1 || redis-server "$dir/$port/redis.conf"
    done
    for port in $ports; do
      for _ in $(seq 1 50); do redis-cli -h "$host" -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
    done
    if ! redis-cli -h "$host" -p "$first" cluster info | grep -q '^cluster_state:ok'; then
      if [ "$(redis-cli -h "$host" -p "$first" cluster info | awk -F: '/cluster_known_nodes/ {print $2}' | tr -d '\r')" = 1 ]; then
        # shellcheck disable=SC2046
        redis-cli --cluster create $(for p in $ports; do echo "$host:$p"; done) \
          --cluster-replicas 1 --cluster-yes > "$dir/create.log"
      fi
      for _ in $(seq 1 100); do
        redis-cli -h "$host" -p "$first" cluster info | grep -q '^cluster_state:ok' && break
        sleep 0.1
      done
    fi
    redis-cli -h "$host" -p "$first" cluster info | grep '^cluster_state:ok' > /dev/null ||
      { echo "the cluster did not come up: see $dir/*/redis.log" >&2; exit 1; }
    echo "redis+cluster://$host:$first,$host:$((first + 1)),$host:$((first + 2))"
    ;;
  stop)
    for port in $(ls "$dir" 2>/dev/null | grep -E '^[0-9]+$'); do
      redis-cli -h "$host" -p "$port" shutdown nosave > /dev/null 2>&1 || true
    done
    ;;
  *) echo "usage: $0 start|stop [DIR] [FIRST_PORT]" >&2; exit 2 ;;
esac
