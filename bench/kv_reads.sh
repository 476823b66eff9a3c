#!/usr/bin/env bash
# bench/kv_reads.sh — coraft-kv's reads under redis-benchmark, for each --reads mode (log, index,
# lease), beside the cluster's PING (what a request costs with no Raft at all) and a durable
# redis-server's GET, in one sitting; each figure the median of RUNS runs.
#
#   bash bench/kv_reads.sh [REQUESTS] [CLIENTS]      (200000 50; RUNS=3, BUILD_DIR=build/release)
#
# Each run starts a fresh 3-member cluster per mode (kv_cluster.sh: Raft ports 7201-7203, clients
# 6391-6393, data in a temporary directory), loads 10,000 keys of 256 bytes, and runs
# `redis-benchmark -t get -r 10000 -P 1` on the leader and on a follower, and `-t ping_mbulk` on
# the leader. redis-server runs with appendonly yes and appendfsync always on port 16379. Needs
# redis-server, redis-tools and python3 (installed with apt-get when missing, as root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/release}
runs=${RUNS:-3}
requests=${1:-200000}
clients=${2:-50}

name=kv-reads
source "$root/bench/kv_cluster.sh"

bench() {  # bench NAME PORT TEST: one redis-benchmark run, its requests/s and p50 recorded
  local line
  line=$(redis-benchmark -p "$2" -t "$3" -r 10000 -d 256 -c "$clients" -n "$requests" -P 1 --csv | tail -1)
  echo "$1 $line" >>"$results"
  echo "  $1: $line" >&2
}

for run in $(seq "$runs"); do
  for mode in log index lease; do
    echo "== run $run, --reads $mode" >&2
    start_cluster --reads "$mode"
    redis-benchmark -p "639$leader" -t set -r 10000 -d 256 -c "$clients" -n 20000 -q >/dev/null
    wait_for "639$follower" "reads:$mode"
    bench "coraft-$mode-leader" "639$leader" get
    bench "coraft-$mode-follower" "639$follower" get
    [ "$mode" = index ] && bench coraft-ping-leader "639$leader" ping_mbulk
    stop_all
  done
  echo "== run $run, redis-server" >&2
  start_redis
  redis-benchmark -p 16379 -t set -r 10000 -d 256 -c "$clients" -n 20000 -q >/dev/null
  bench redis-get 16379 get
  bench redis-ping 16379 ping_mbulk
  stop_all
done

python3 - "$results" "$requests" "$clients" <<'PY'
import csv, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, _, data = line.strip().partition(" ")
    fields = next(csv.reader([data]))
    rows.setdefault(name, []).append((float(fields[1]), float(fields[4]) * 1000))
def rps(name):
    return statistics.median(r[0] for r in rows[name])
def p50(name):
    return statistics.median(r[1] for r in rows[name])
print(f"redis-benchmark -t get -P 1 -c {sys.argv[3]} -n {sys.argv[2]}, medians of {len(rows['redis-get'])} runs")
print()
print("| run | requests/s | p50 us |")
print("|---|---:|---:|")
names = [("coraft-log-leader", "coraft-kv GET, --reads log, on the leader"),
         ("coraft-log-follower", "coraft-kv GET, --reads log, on a follower"),
         ("coraft-index-leader", "coraft-kv GET, --reads index, on the leader"),
         ("coraft-index-follower", "coraft-kv GET, --reads index, on a follower"),
         ("coraft-lease-leader", "coraft-kv GET, --reads lease, on the leader"),
         ("coraft-lease-follower", "coraft-kv GET, --reads lease, on a follower"),
         ("coraft-ping-leader", "coraft-kv PING, on the leader"),
         ("redis-get", "redis-server GET, appendfsync always"),
         ("redis-ping", "redis-server PING")]
for name, label in names:
    print(f"| {label} | {rps(name):,.0f} | {p50(name):,.0f} |")
print()
print(f"index / log on the leader: {rps('coraft-index-leader') / rps('coraft-log-leader'):.2f}x (target >= 2)")
print(f"index on the leader / redis-server GET: {rps('coraft-index-leader') / rps('redis-get'):.2f}x (target >= 1)")
print(f"PING / lease on the leader: {rps('coraft-ping-leader') / rps('coraft-lease-leader'):.2f}x (target <= 1.2)")
PY
