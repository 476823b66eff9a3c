#!/usr/bin/env bash
# bench/peers/etcd.sh — etcd measured the way raft_bench measures coraft, in the same sitting.
#
#   bash bench/peers/etcd.sh [--clients 64] [--payload 256] [--duration 10] [--warmup 2] [--json]
#
# Installs Debian's etcd-server if it is missing (as root), starts three members on loopback
# (fsync on, etcd's default), drives them with bench/etcd_load through the v3 HTTP/JSON gateway
# (/v3/kv/put, keep-alive connections), prints the figures and stops the members. Arguments go to
# etcd_load. BUILD_DIR (default build/release) is where etcd_load is built.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build/release}

if ! command -v etcd >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "etcd.sh needs etcd; install it as root with: apt-get install -y etcd-server" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null >/dev/null
  apt-get install -y -q --no-install-recommends etcd-server </dev/null >/dev/null
fi
if [ ! -x "$build/bench/etcd_load" ]; then
  [ -d "$build" ] || meson setup "$build" "$root" --buildtype=release >/dev/null
  ninja -C "$build" bench/etcd_load >/dev/null
fi

data=$(mktemp -d "${TMPDIR:-/tmp}/coraft-etcd-XXXXXX")
members=()
cleanup() {
  [ ${#members[@]} -gt 0 ] && kill "${members[@]}" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

# Ports of their own, so that a packaged etcd service on 2379/2380 is left alone.
cluster=e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$data/e$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token coraft-bench \
    >"$data/e$i.log" 2>&1 &
  members+=($!)
done

healthy() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET /health HTTP/1.0\r\n\r\n' >&3
  grep -q '"health":"true"' <&3
  local found=$?
  exec 3>&-
  return $found
}
for attempt in $(seq 100); do
  if healthy 23791 2>/dev/null && healthy 23792 2>/dev/null && healthy 23793 2>/dev/null; then break; fi
  [ "$attempt" -eq 100 ] && { echo "etcd did not become healthy; logs in $data" >&2; cat "$data/e1.log" >&2; exit 1; }
  sleep 0.1
done
echo "etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members on loopback, data in $data"
"$build/bench/etcd_load" --endpoints 127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793 "$@"
