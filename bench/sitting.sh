#!/usr/bin/env bash
# bench/sitting.sh — one benchmark sitting: the machine's limits, coraft, etcd and redis, measured
# one after the other, each benchmark run RUNS times (default 3); prints a Markdown table of the
# medians with their ratios to the limits and to etcd, and one of reads (ReadIndex and leases,
# alone and beside 64 writers).
#
#   bash bench/sitting.sh            (DURATION=10 RUNS=3 BUILD_DIR=build/release)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build/release}
runs=${RUNS:-3}
duration=${DURATION:-10}
export BUILD_DIR=$build

[ -d "$build" ] || meson setup "$build" "$root" --buildtype=release >/dev/null
ninja -C "$build" bench/raft_bench bench/limits bench/etcd_load >/dev/null

results=$(mktemp)
trap 'rm -f "$results"' EXIT
record() {  # record NAME COMMAND...: runs the command, keeps its last (JSON) line under NAME
  local name=$1
  shift
  echo "== $name: $*" >&2
  local line
  line=$("$@" | tee -a /dev/stderr | tail -1)
  echo "$name $line" >>"$results"
}

record limits "$build/bench/limits" --json
for run in $(seq "$runs"); do
  record coraft-64 "$build/bench/raft_bench" --clients 64 --payload 256 --duration "$duration" --json
  record coraft-1 "$build/bench/raft_bench" --clients 1 --payload 256 --duration "$duration" --json
  record coraft-1024 "$build/bench/raft_bench" --clients 1024 --payload 256 --duration "$duration" --json
  record coraft-nofsync "$build/bench/raft_bench" --fsync off --clients 256 --payload 64 --duration "$duration" --json
  record coraft-sim "$build/bench/raft_bench" --transport sim --clients 64 --payload 256 --duration "$duration" --json
  record etcd-64 bash "$root/bench/peers/etcd.sh" --clients 64 --payload 256 --duration "$duration" --json
  record etcd-1 bash "$root/bench/peers/etcd.sh" --clients 1 --payload 256 --duration "$duration" --json
  record redis-64 bash "$root/bench/peers/redis.sh" 64 256 200000 1
  record reads-index "$build/bench/raft_bench" --clients 0 --readers 64 --duration "$duration" --json
  record reads-lease "$build/bench/raft_bench" --clients 0 --readers 64 --reads lease --duration "$duration" --json
  record mixed-index "$build/bench/raft_bench" --clients 64 --payload 256 --readers 64 --duration "$duration" --json
  record mixed-lease "$build/bench/raft_bench" --clients 64 --payload 256 --readers 64 --reads lease --duration "$duration" --json
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, _, data = line.partition(" ")
    rows.setdefault(name, []).append(json.loads(data))
def median(name, field):
    return statistics.median(r[field] for r in rows[name])
limits = rows["limits"][0]
floor = limits["commit_floor_us"]  # the faster of the two fdatasync p50s, plus the round trip
print(f"Limits: 4 KiB append + fdatasync p50 {limits['fsync_p50_us']:.0f} us, p99 {limits['fsync_p99_us']:.0f} us; "
      f"into reserved blocks p50 {limits['reserved_fsync_p50_us']:.0f} us, p99 {limits['reserved_fsync_p99_us']:.0f} us; "
      f"sequential write with fdatasync per MiB {limits['write_mb_per_sec']:.0f} MB/s; "
      f"loopback 64 B round trip p50 {limits['rtt_p50_us']:.1f} us; commit floor {floor:.0f} us.")
print()
print("| run | entries/s | MB/s | p50 us | p99 us | p999 us | fsyncs/s/node | entries/fsync |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name in ["coraft-64", "coraft-1", "coraft-1024", "coraft-nofsync", "coraft-sim", "etcd-64", "etcd-1", "redis-64"]:
    if name not in rows:
        continue
    cells = [f"{median(name, 'entries_per_sec'):.0f}", f"{median(name, 'mb_per_sec'):.1f}",
             f"{median(name, 'p50_us'):.0f}", f"{median(name, 'p99_us'):.0f}",
             f"{median(name, 'p999_us'):.0f}" if median(name, 'p999_us') else ""]
    if "fsyncs_per_sec" in rows[name][0]:
        cells += [f"{median(name, 'fsyncs_per_sec'):.0f}", f"{median(name, 'entries_per_fsync'):.1f}"]
    else:
        cells += ["", ""]
    print(f"| {name} (median of {len(rows[name])}) | " + " | ".join(cells) + " |")
print()
print("| coraft run | CPU s per M entries: process | leader thread | follower thread | allocations/entry: leader | follower |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["coraft-64", "coraft-1", "coraft-1024", "coraft-nofsync", "coraft-sim"]:
    if name not in rows or "leader_allocations_per_entry" not in rows[name][0]:
        continue
    sim = rows[name][0]["transport"] == "sim"
    cells = [f"{median(name, 'cpu_sec_per_million'):.2f}",
             "" if sim else f"{median(name, 'leader_cpu_sec_per_million'):.2f}",
             "" if sim else f"{median(name, 'follower_cpu_sec_per_million'):.2f}",
             f"{median(name, 'leader_allocations_per_entry'):.2f}" + (" (all members)" if sim else ""),
             "" if sim else f"{median(name, 'follower_allocations_per_entry'):.2f}"]
    print(f"| {name} | " + " | ".join(cells) + " |")
print()
print(f"coraft 64 clients / etcd 64 clients: {median('coraft-64', 'entries_per_sec') / median('etcd-64', 'entries_per_sec'):.1f}x")
print(f"coraft 1 client p50 / floor: {median('coraft-1', 'p50_us') / floor:.2f}; p99 / floor: {median('coraft-1', 'p99_us') / floor:.2f}")
print(f"etcd 1 client p50 / floor: {median('etcd-1', 'p50_us') / floor:.2f}")
print(f"coraft 64 clients p50 / floor: {median('coraft-64', 'p50_us') / floor:.2f} (target <= 2)")
print(f"coraft 1,024 clients: {median('coraft-1024', 'entries_per_sec'):,.0f} entries/s (target >= 1,000,000)")
print()
print("| reads (64 readers on the leader) | reads/s | read p50 us | read p99 us | writes/s beside | write p50 us |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["reads-index", "reads-lease", "mixed-index", "mixed-lease"]:
    if name not in rows:
        continue
    writes = (f"{median(name, 'entries_per_sec'):.0f} | {median(name, 'p50_us'):.0f}"
              if rows[name][0]["clients"] else "– | –")
    print(f"| {name} (median of {len(rows[name])}) | {median(name, 'reads_per_sec'):.0f} | "
          f"{median(name, 'read_p50_us'):.0f} | {median(name, 'read_p99_us'):.0f} | {writes} |")
print(f"ReadIndex read p50 / loopback round trip: {median('reads-index', 'read_p50_us') / limits['rtt_p50_us']:.2f}")
PY
