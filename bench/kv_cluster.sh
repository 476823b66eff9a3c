# bench/kv_cluster.sh — sourced by the coraft-kv benchmarks: a fresh 3-member coraft-kv cluster
# (Raft ports 7201-7203, clients 6391-6393) and a durable redis-server (port 16379), each started
# and stopped here, with their data and logs under $work: a temporary directory named after $name
# (which the sourcing script sets, with root and build), removed, with everything still running,
# when the script exits. $results is a file there for the runs' figures.

work=$(mktemp -d "${TMPDIR:-/tmp}/coraft-$name-XXXXXX")
results=$work/results
trap 'stop_all; rm -rf "$work"' EXIT

source "$root/bench/peers/need_redis.sh"
[ -d "$build" ] || meson setup "$build" "$root" --buildtype=release >/dev/null
ninja -C "$build" examples/coraft-kv >/dev/null
kv=$build/examples/coraft-kv
pids=()

stop_all() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

wait_for() {  # wait_for PORT PATTERN: until INFO on PORT matches
  for _ in $(seq 300); do
    redis-cli -p "$1" INFO 2>/dev/null | grep -q "$2" && return 0
    sleep 0.05
  done
  echo "$(basename "$0"): port $1 never showed $2" >&2
  exit 1
}

start_cluster() {  # start_cluster FLAGS...: fresh members; sets $leader and $follower (their ids)
  local peers=1=127.0.0.1:7201/127.0.0.1:6391,2=127.0.0.1:7202/127.0.0.1:6392,3=127.0.0.1:7203/127.0.0.1:6393
  rm -rf "$work/data"
  for id in 1 2 3; do
    "$kv" --id "$id" --peers "$peers" --listen "127.0.0.1:639$id" --data "$work/data/$id" "$@" \
      >>"$work/member-$id.log" 2>&1 </dev/null &
    pids+=($!)
  done
  leader=""
  for _ in $(seq 300); do
    for id in 1 2 3; do
      redis-cli -p "639$id" INFO 2>/dev/null | grep -q "role:leader" && leader=$id
    done
    [ -n "$leader" ] && break
    sleep 0.05
  done
  [ -n "$leader" ] || { echo "$(basename "$0"): no leader" >&2; exit 1; }
  follower=$((leader % 3 + 1))
  wait_for "639$follower" "leader_addr:127"
}

start_redis() {  # a redis-server with appendonly yes, appendfsync always, on port 16379
  rm -rf "$work/redis" && mkdir -p "$work/redis"
  redis-server --port 16379 --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
    --appendfsync always --save '' --daemonize no >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_for 16379 "redis_version"
}
