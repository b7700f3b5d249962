#!/usr/bin/env bash
# Server RSS with N open connections (SQLite, 1000 bound test devices): idle, peak, and at
# the end while the connections are still open. Loopback only.
#
#   docs/bench/connections.sh none|get|post N
set -euo pipefail
mode=$1; n=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d); server=
trap '{ [ -n "$server" ] && kill "$server" 2>/dev/null; } || true; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"
export DATABASE_URL="sqlite://$work/b.db?mode=rwc" LJWX_LISTEN=127.0.0.1:18002 RUST_LOG=warn
"$root/target/release/ljwx-stress" bindings --devices 1000 > "$work/b.csv"
"$root/target/release/ljwx-bigscreen" --config /nonexistent devices import "$work/b.csv" > /dev/null
"$root/target/release/ljwx-bigscreen" --config /nonexistent serve 2> "$work/log" &
server=$!
sleep 1
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$server/status"; }
idle=$(rss)
python3 "$root/docs/bench/connections.py" "$n" "$mode" 18002 6 &
probe=$!
peak=0
while kill -0 "$probe" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
echo "mode=$mode connections=$n idle=${idle}MiB peak=${peak}MiB end=$(rss)MiB"
