# bench/peers/need_redis.sh — sourced by the scripts that run redis-server or redis-benchmark:
# installs Debian's redis-server and redis-tools when either is missing (as root), or says how.
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$(basename "$0") needs redis; install it as root with: apt-get install -y redis-server redis-tools" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null >/dev/null
  apt-get install -y -q --no-install-recommends redis-server redis-tools </dev/null >/dev/null
fi
