#!/usr/bin/env bash
# Deploys a new ljwx-bigscreen binary to the instances of this host, as the seed's deploy
# script (seed §6): back up the database, migrate once, restart the instances one at a time,
# each only after the one before answers /api/health, and roll back to the previous binary
# when an instance does not come up healthy.
#
#   deploy/deploy.sh NEW_BINARY [PORT ...]            default ports: 8001 8002 8003
#
# Environment (defaults for the systemd layout of deploy/systemd/):
#   ENV_FILE      /etc/ljwx-bigscreen/env (DATABASE_URL and the rest; sourced here too)
#   PREFIX        /opt/ljwx-bigscreen (the binary is PREFIX/bin/ljwx-bigscreen)
#   BACKUP_DIR    /var/backups/ljwx-bigscreen
#   RESTART       command restarting one instance, {port} replaced by its port:
#                 "systemctl restart ljwx-bigscreen@{port}"
#   HEALTH_WAIT   seconds an instance has to answer /api/health with 200 (60)
#   SETTLE        seconds to wait after an instance is healthy before stopping the next: the
#                 nginx upstream's fail_timeout (3), so nginx takes it back into rotation
#   CONFIG_FILE   /etc/ljwx-bigscreen/bigscreen.toml (may be absent: env only)
#
# nginx (deploy/nginx/) sends uploads to the other instances while one restarts; an instance
# given SIGTERM answers what it has read before it exits, so nothing acknowledged is lost.
set -euo pipefail
new=${1:?usage: deploy.sh NEW_BINARY [PORT ...]}; shift
ports=("$@"); [ ${#ports[@]} -gt 0 ] || ports=(8001 8002 8003)
env_file=${ENV_FILE:-/etc/ljwx-bigscreen/env}
prefix=${PREFIX:-/opt/ljwx-bigscreen}
backups=${BACKUP_DIR:-/var/backups/ljwx-bigscreen}
restart=${RESTART:-systemctl restart ljwx-bigscreen@\{port\}}
health_wait=${HEALTH_WAIT:-60}
settle=${SETTLE:-3}
bin=$prefix/bin/ljwx-bigscreen
stamp=$(date +%Y%m%d_%H%M%S)

log() { echo "[$(date +%H:%M:%S)] $*"; }
set -a; [ -f "$env_file" ] && source "$env_file"; set +a
: "${DATABASE_URL:?DATABASE_URL is not set (in $env_file or the environment)}"
"$new" --version > /dev/null || { echo "$new does not run" >&2; exit 1; }

# 1. Back up the database.
mkdir -p "$backups"
backup() {
  local url=$1 re='^([a-z+]+)://([^:@/]*)(:([^@/]*))?@([^:/]+)(:([0-9]+))?/([^?]+)'
  case $url in
    mysql://*|mariadb://*)
      [[ $url =~ $re ]] || { echo "cannot read $url" >&2; return 1; }
      MYSQL_PWD=${BASH_REMATCH[4]} mysqldump --single-transaction --quick --routines \
        -h "${BASH_REMATCH[5]}" -P "${BASH_REMATCH[7]:-3306}" -u "${BASH_REMATCH[2]}" \
        "${BASH_REMATCH[8]}" | gzip > "$backups/$stamp.sql.gz" ;;
    postgres://*|postgresql://*)
      pg_dump --format=custom --file="$backups/$stamp.pgdump" "$url" ;;
    sqlite:*)
      local file=${url#sqlite://}; file=${file#sqlite:}; file=${file%%\?*}
      [ -f "$file" ] || { log "no SQLite file yet: nothing to back up"; return 0; }
      sqlite3 "$file" ".backup '$backups/$stamp.db'" ;;
    *) echo "unknown database URL scheme: $url" >&2; return 1 ;;
  esac
}
log "1. backing up the database to $backups ($stamp)"
backup "$DATABASE_URL"

# 2. Install the new binary beside the previous one, kept for a rollback.
log "2. installing $new"
mkdir -p "$prefix/bin"
[ -f "$bin" ] && cp -p "$bin" "$bin.previous"
install -m 0755 "$new" "$bin.new" && mv -f "$bin.new" "$bin"

# 3. Migrate once (instances starting later find the schema current; a concurrent start
#    would wait on the migration lock).
log "3. migrating"
"$bin" --config "${CONFIG_FILE:-/etc/ljwx-bigscreen/bigscreen.toml}" migrate

# 4. Restart one instance at a time.
healthy() {
  local port=$1 deadline=$((SECONDS + health_wait))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health")" = 200 ] && return 0
    sleep 0.5
  done
  return 1
}
restarted=()
for port in "${ports[@]}"; do
  log "4. restarting the instance on $port"
  sh -c "${restart//\{port\}/$port}"
  restarted+=("$port")
  if ! healthy "$port"; then
    log "the instance on $port is not healthy after ${health_wait} s: rolling back"
    if [ -f "$bin.previous" ]; then
      cp -p "$bin.previous" "$bin.new" && mv -f "$bin.new" "$bin"
      for back in "${restarted[@]}"; do
        sh -c "${restart//\{port\}/$back}"
        healthy "$back" && log "  $back runs the previous binary" || log "  $back is still unhealthy"
      done
    fi
    log "rolled back; the database backup of this run is $backups/$stamp.*"
    exit 1
  fi
  sleep "$settle"
done
log "deployed to ${ports[*]}"
