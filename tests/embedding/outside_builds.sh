#!/usr/bin/env bash
# tests/embedding/outside_builds.sh — coraft used as a new user would, from outside its tree: a
# meson project with coraft as a subproject, a program built against an installed coraft through
# pkg-config, and a CMake project with find_package(coraft). Each builds consumer.cpp and runs it.
# The installed builds ask for C++23 (C++2b) and check the program kept it.
#
#   bash tests/embedding/outside_builds.sh SOURCE_ROOT CXX
set -euo pipefail
source_root=$(cd "$1" && pwd)
cxx=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec </dev/null

# expect_standard NAME LEAST PROGRAM: runs the program; its standard must be LEAST or later.
expect_standard() {
  local output standard
  output=$("$3")
  echo "$1: $output"
  standard=$(sed -n 's/.*__cplusplus \([0-9]*\),.*/\1/p' <<<"$output")
  if [ -z "$standard" ] || [ "$standard" -lt "$2" ]; then
    echo "$1: built in C++ $standard, wanted $2 or later" >&2
    exit 1
  fi
}

echo "== a meson project with coraft as a subproject"
mkdir -p "$work/subproject/subprojects"
ln -s "$source_root" "$work/subproject/subprojects/coraft"
cp "$here/consumer.cpp" "$work/subproject/"
cat >"$work/subproject/meson.build" <<'MESON'
project('consumer', 'cpp', default_options: ['cpp_std=c++20'])
subproject('coraft')
executable('consumer', 'consumer.cpp', dependencies: dependency('coraft'))
MESON
CXX=$cxx meson setup "$work/subproject/build" "$work/subproject" --wrap-mode=nodownload >/dev/null
ninja -C "$work/subproject/build" >/dev/null
expect_standard subproject 202002 "$work/subproject/build/consumer"

echo "== coraft installed, headers only: nothing to build, no doctest needed"
CXX=$cxx meson setup "$work/coraft-build" "$source_root" --prefix="$work/prefix" \
  -Dtests=false -Dexamples=false -Dbench=false >/dev/null
targets=$(ninja -C "$work/coraft-build" -t targets all | grep -c -E ': cpp_(COMPILER|LINKER)$' || true)
if [ "$targets" -ne 0 ]; then
  echo "installing the headers builds $targets targets" >&2
  exit 1
fi
meson install -C "$work/coraft-build" --quiet >/dev/null

echo "== a program built through pkg-config, in C++2b"
pc=$(find "$work/prefix" -name coraft.pc)
export PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$(pkg-config --cflags coraft)
echo "pkg-config --cflags coraft: $cflags"
if grep -q -- '-std=' <<<"$cflags"; then
  echo "the pkg-config file chooses a language standard" >&2
  exit 1
fi
# shellcheck disable=SC2046  # pkg-config's words are separate arguments
"$cxx" -std=c++2b "$here/consumer.cpp" -o "$work/consumer-pkg-config" $(pkg-config --cflags --libs coraft)
expect_standard pkg-config 202100 "$work/consumer-pkg-config"

echo "== a CMake project with find_package(coraft), in C++23"
mkdir -p "$work/cmake"
cp "$here/consumer.cpp" "$work/cmake/"
cat >"$work/cmake/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.20)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 23)
find_package(coraft 0.1 REQUIRED)
add_executable(consumer consumer.cpp)
target_link_libraries(consumer PRIVATE coraft::coraft)
CMAKE
cmake -S "$work/cmake" -B "$work/cmake/build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake/build" >/dev/null
expect_standard cmake 202100 "$work/cmake/build/consumer"
echo "outside builds: all ran"
