#!/usr/bin/env bash
# The main job: a local 3-member coraft-kv cluster, used with redis-cli, surviving its leader's loss.
#
# Installs what is missing, builds coraft-kv in release mode, starts the cluster (data under
# build/release/demo-cluster, removed first), writes and reads with redis-cli through different
# members, kills the leader with SIGKILL, shows a new leader serving and every acknowledged write
# still there, restarts the killed member, and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/deps.sh
coraft_install_missing
dir=build/release
setup=()
[ -f "$dir/build.ninja" ] && setup=(--reconfigure)
mkdir -p build
CXX=g++ meson setup "${setup[@]}" "$dir" --buildtype=release >build/release.setup.log 2>&1 \
  || { cat build/release.setup.log; exit 1; }
ninja -C "$dir" examples/coraft-kv

export BUILD_DIR=$dir
data=$dir/demo-cluster
cluster=examples/kv/cluster
rm -rf "$data"
trap '$cluster stop "$data" >/dev/null' EXIT

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
cli() {  # cli PORT COMMAND...: echo and run one redis-cli command
  echo "\$ redis-cli -p $*"
  redis-cli -p "$@"
}
leader_port() {
  for id in 1 2 3; do
    if redis-cli -p "638$id" INFO raft 2>/dev/null | tr -d '\r' | grep -qx 'role:leader'; then
      echo "638$id"
      return
    fi
  done
  return 1
}

say "Starting three members (clients on 127.0.0.1:6381-6383)"
$cluster start "$data"
$cluster status "$data"

say "Writing through one member, reading through the others"
cli 6381 SET greeting "hello, raft"
cli 6382 GET greeting
cli 6383 INCR visits
cli 6381 INCR visits
cli 6382 APPEND log "first;"
for i in $(seq 1 20); do redis-cli -p 638$((i % 3 + 1)) SET "key:$i" "value $i" >/dev/null; done
echo "(20 more SETs, spread over the three members)"
cli 6383 DBSIZE

leader=$(leader_port)
say "Killing the leader (port $leader) with SIGKILL"
$cluster kill "$((leader - 6380))" "$data"
for attempt in $(seq 100); do
  new=$(leader_port || true)
  [ -n "$new" ] && [ "$new" != "$leader" ] && break
  sleep 0.1
done
[ -n "$new" ] && [ "$new" != "$leader" ] || { echo "no new leader" >&2; exit 1; }
$cluster status "$data"

say "The new leader (port $new) serves; every acknowledged write is still there"
cli "$new" GET greeting
cli "$new" GET visits
cli "$new" INCR visits
missing=0
for i in $(seq 1 20); do
  [ "$(redis-cli -p "$new" GET "key:$i")" = "value $i" ] || missing=$((missing + 1))
done
echo "key:1 .. key:20 read back through port $new: $((20 - missing)) of 20 present"
cli "$new" INFO raft | grep -E 'role|term|leader_id|commit_index' || true

say "Restarting the killed member; it catches up from its log"
$cluster restart "$((leader - 6380))" "$data"
sleep 1
cli "$leader" GET visits
$cluster status "$data"
[ "$missing" -eq 0 ] || { echo "acknowledged writes were lost" >&2; exit 1; }
say "Done: stopping the cluster"
