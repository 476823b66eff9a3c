#!/usr/bin/env bash
# bench/peers/redis.sh — a durable single-node ceiling: one redis-server with appendonly yes and
# appendfsync always (every write fsync'd before its reply), driven by redis-benchmark.
#
#   bash bench/peers/redis.sh [CLIENTS] [PAYLOAD] [REQUESTS] [PIPELINE]     (64 256 200000 1)
#
# Installs Debian's redis-server and redis-tools if missing (as root). Prints requests/s and the
# latency percentiles redis-benchmark reports, then stops the server.
set -euo pipefail
clients=${1:-64}
payload=${2:-256}
requests=${3:-200000}
pipeline=${4:-1}

source "$(dirname "$0")/need_redis.sh"

data=$(mktemp -d "${TMPDIR:-/tmp}/coraft-redis-XXXXXX")
port=16379
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
redis-server --port "$port" --bind 127.0.0.1 --dir "$data" --appendonly yes --appendfsync always \
  --save '' --daemonize no >"$data/redis.log" 2>&1 &
server=$!
for attempt in $(seq 100); do
  redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
  [ "$attempt" -eq 100 ] && { echo "redis-server did not start" >&2; cat "$data/redis.log" >&2; exit 1; }
  sleep 0.1
done

echo "redis $(redis-server --version | awk '{print $3}' | cut -d= -f2): appendonly yes, appendfsync always"
echo "redis-benchmark -t set -d $payload -c $clients -n $requests -P $pipeline"
redis-benchmark -p "$port" -t set -d "$payload" -c "$clients" -n "$requests" -P "$pipeline" --csv |
  awk -F, -v payload="$payload" -v clients="$clients" -v pipeline="$pipeline" 'NR > 1 {
    for (i = 1; i <= NF; i++) gsub(/"/, "", $i);
    printf "  committed SETs/s      %12.0f\n", $2;
    printf "  MB/s                  %12.1f\n", $2 * payload / 1e6;
    printf "  latency p50           %12.0f us\n", $5 * 1000;
    printf "  latency p99           %12.0f us\n", $7 * 1000;
    printf "{\"entries_per_sec\": %.0f, \"mb_per_sec\": %.2f, \"p50_us\": %.0f, \"p99_us\": %.0f, \"p999_us\": 0, \"clients\": %d, \"payload\": %d, \"pipeline\": %d, \"system\": \"redis\"}\n", $2, $2 * payload / 1e6, $5 * 1000, $7 * 1000, clients, payload, pipeline;
  }'
