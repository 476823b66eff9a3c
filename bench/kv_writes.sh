#!/usr/bin/env bash
# bench/kv_writes.sh — coraft-kv's SETs under redis-benchmark, one at a time per client (-P 1) and
# pipelined (-P 16), on the leader and through a follower, beside a durable redis-server, in one
# sitting; each figure the median of RUNS runs.
#
#   bash bench/kv_writes.sh [REQUESTS] [CLIENTS]     (200000 50; RUNS=3, BUILD_DIR=build/release)
#
# Each run starts a fresh 3-member cluster (kv_cluster.sh) and runs `redis-benchmark -t set -d 256
# -r 100000` with each pipeline depth against the leader and against a follower, then the same
# against a redis-server with appendonly yes and appendfsync always. INFO's commands_logged over
# entries_proposed on the leader says how many commands a log entry held. Needs redis-server,
# redis-tools and python3 (installed with apt-get when missing, as root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/release}
runs=${RUNS:-3}
requests=${1:-200000}
clients=${2:-50}

name=kv-writes
source "$root/bench/kv_cluster.sh"

bench() {  # bench NAME PORT DEPTH: one redis-benchmark run, its requests/s and p50 recorded
  local line
  # redis-benchmark stops at the first error reply (a TRYAGAIN when leadership changes mid-run):
  # that run is left out of the medians, and said so.
  if ! line=$(redis-benchmark -p "$2" -t set -r 100000 -d 256 -c "$clients" -n "$requests" -P "$3" --csv 2>&1 | tail -1) ||
     [[ "$line" != '"SET"'* ]]; then
    echo "  $1: failed: $line" >&2
    return 0
  fi
  echo "$1 $line" >>"$results"
  echo "  $1: $line" >&2
}

logged() {  # the leader's INFO counters: "COMMANDS_LOGGED ENTRIES_PROPOSED"
  redis-cli -p "639$leader" INFO | tr -d '\r' | awk -F: '/^commands_logged:/ {c=$2} /^entries_proposed:/ {e=$2} END {print c, e}'
}

for run in $(seq "$runs"); do
  echo "== run $run, coraft-kv" >&2
  start_cluster
  for depth in 1 16; do
    read -r commands_before entries_before <<<"$(logged)"
    bench "coraft-P$depth-leader" "639$leader" "$depth"
    read -r commands_after entries_after <<<"$(logged)"
    if [ "$entries_after" -gt "$entries_before" ]; then
      echo "per-entry-P$depth $(( (commands_after - commands_before) * 10 / (entries_after - entries_before) ))" >>"$results"
    fi
    bench "coraft-P$depth-follower" "639$follower" "$depth"
  done
  stop_all
  echo "== run $run, redis-server" >&2
  start_redis
  for depth in 1 16; do bench "redis-P$depth" 16379 "$depth"; done
  stop_all
done

python3 - "$results" "$requests" "$clients" <<'PY'
import csv, statistics, sys
rows, per_entry = {}, {}
for line in open(sys.argv[1]):
    name, _, data = line.strip().partition(" ")
    if name.startswith("per-entry-"):  # commands per entry during the leader's run, times ten
        per_entry.setdefault(name[len("per-entry-"):], []).append(int(data) / 10)
        continue
    fields = next(csv.reader([data]))
    rows.setdefault(name, []).append((float(fields[1]), float(fields[4]) * 1000))
def rps(name):
    return statistics.median(r[0] for r in rows.get(name, [(0, 0)]))
def p50(name):
    return statistics.median(r[1] for r in rows.get(name, [(0, 0)]))
counts = sorted({len(v) for v in rows.values()})
print(f"redis-benchmark -t set -d 256 -c {sys.argv[3]} -n {sys.argv[2]}, medians of {'/'.join(map(str, counts))} runs")
print()
print("| run | -P 1 requests/s | -P 1 p50 us | -P 16 requests/s | -P 16 p50 us |")
print("|---|---:|---:|---:|---:|")
for name, label in [("coraft-{}-leader", "coraft-kv SET on the leader"),
                    ("coraft-{}-follower", "coraft-kv SET through a follower"),
                    ("redis-{}", "redis-server SET, appendfsync always")]:
    one, sixteen = name.format("P1"), name.format("P16")
    print(f"| {label} | {rps(one):,.0f} | {p50(one):,.0f} | {rps(sixteen):,.0f} | {p50(sixteen):,.0f} |")
print()
print("commands per log entry on the leader: " +
      ", ".join(f"-P {d[1:]} {statistics.median(v):.1f}" for d, v in sorted(per_entry.items())))
print(f"-P 1 on the leader / redis-server: {rps('coraft-P1-leader') / rps('redis-P1'):.2f}x (target >= 1)")
print(f"-P 16 on the leader: {rps('coraft-P16-leader'):,.0f}/s (target >= 300,000)")
PY
