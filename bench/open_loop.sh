#!/usr/bin/env bash
# bench/open_loop.sh — commit latency against offered load: raft_bench in a closed loop finds the
# cluster's saturation throughput, then runs as an open loop (--rate) at fractions of it, each
# proposal's latency counted from the time it was due. Prints a Markdown table of the medians.
#
#   bash bench/open_loop.sh    (RUNS=3 DURATION=5 CLIENTS=1024 PAYLOAD=256 FSYNC=on
#                               LOADS="0.1 0.25 0.5 0.75 0.9 1.0" BUILD_DIR=build/release)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/release}
runs=${RUNS:-3}
duration=${DURATION:-5}
clients=${CLIENTS:-1024}
payload=${PAYLOAD:-256}
fsync=${FSYNC:-on}
loads=${LOADS:-0.1 0.25 0.5 0.75 0.9 1.0}

[ -d "$build" ] || meson setup "$build" "$root" --buildtype=release >/dev/null
ninja -C "$build" bench/raft_bench >/dev/null

results=$(mktemp)
trap 'rm -f "$results"' EXIT
bench() {  # bench NAME ARGS...: one raft_bench run, its JSON line kept under NAME
  local name=$1
  shift
  echo "== $name: raft_bench $*" >&2
  echo "$name $("$build/bench/raft_bench" --clients "$clients" --payload "$payload" --fsync "$fsync" \
      --duration "$duration" --json "$@" | tee -a /dev/stderr | tail -1)" >>"$results"
}
median_of() {  # median_of NAME FIELD
  python3 - "$results" "$1" "$2" <<'PY'
import json, statistics, sys
values = [json.loads(line.split(" ", 1)[1])[sys.argv[3]] for line in open(sys.argv[1])
          if line.split(" ", 1)[0] == sys.argv[2]]
print(f"{statistics.median(values):.0f}")
PY
}

for run in $(seq "$runs"); do bench closed; done
saturation=$(median_of closed entries_per_sec)
for load in $loads; do
  rate=$(python3 -c "print(round($load * $saturation))")
  for run in $(seq "$runs"); do bench "open-$load" --rate "$rate"; done
done

python3 - "$results" "$saturation" "$loads" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, _, data = line.partition(" ")
    rows.setdefault(name, []).append(json.loads(data))
def median(name, field):
    return statistics.median(r[field] for r in rows[name])
first = rows["closed"][0]
print(f"{first['nodes']} members, TCP, fsync {first['fsync']}, {first['payload']} B entries, "
      f"{first['clients']} clients; closed-loop saturation {float(sys.argv[2]):,.0f} entries/s "
      f"(median of {len(rows['closed'])}).")
print()
print("| offered load | offered entries/s | committed entries/s | p50 us | p99 us | p999 us | behind at the end, ms |")
print("|---|---:|---:|---:|---:|---:|---:|")
for load in sys.argv[3].split():
    name = f"open-{load}"
    print(f"| {float(load):.0%} | {median(name, 'rate'):,.0f} | {median(name, 'entries_per_sec'):,.0f} | "
          f"{median(name, 'p50_us'):,.0f} | {median(name, 'p99_us'):,.0f} | {median(name, 'p999_us'):,.0f} | "
          f"{median(name, 'schedule_lag_ms'):.1f} |")
print(f"| closed loop | | {median('closed', 'entries_per_sec'):,.0f} | {median('closed', 'p50_us'):,.0f} | "
      f"{median('closed', 'p99_us'):,.0f} | {median('closed', 'p999_us'):,.0f} | |")
PY
