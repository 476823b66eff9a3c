#!/usr/bin/env bash
# The main job: install what is missing, build coraft's examples in release mode, and run the demo.
# For now the demo is echo_race: an echo server and client on loopback, every round trip racing a
# timer on the io_uring executor.
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
ninja -C "$dir" examples/echo_race
exec "$dir/examples/echo_race" "$@"
