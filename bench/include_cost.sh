#!/usr/bin/env bash
# bench/include_cost.sh — what including a header costs a user's translation unit that uses
# nothing of it: compile time (user CPU seconds, which other load on the machine disturbs less than
# wall time) and the compiler's peak memory, for the umbrella header beside node.hpp and the layer
# headers. Medians of RUNS compiles each; nothing is asserted.
#
#   bash bench/include_cost.sh          (CXX=g++ RUNS=3; CXXFLAGS="-std=c++20 -O2")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
compiler=${CXX:-g++}
runs=${RUNS:-3}
read -r -a flags <<<"${CXXFLAGS:--std=c++20 -O2}"
headers=(coraft/coraft.hpp coraft/raft/node.hpp coraft/raft/raft.hpp coraft/raft/server/server.hpp
         coraft/io/io.hpp coraft/sim/sim.hpp coraft/co/co.hpp coraft/wire/wire.hpp)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '| header | user CPU s | peak memory MB |\n|---|---|---|\n'
for header in "${headers[@]}"; do
  printf '#include <%s>\n' "$header" >"$work/unit.cpp"
  : >"$work/seconds"
  : >"$work/kilobytes"
  for ((run = 0; run < runs; ++run)); do
    /usr/bin/time -f '%U %M' -o "$work/time" \
      "$compiler" "${flags[@]}" -I"$root/include" -c "$work/unit.cpp" -o "$work/unit.o"
    read -r seconds kilobytes <"$work/time"
    echo "$seconds" >>"$work/seconds"
    echo "$kilobytes" >>"$work/kilobytes"
  done
  printf '| `%s` | %s | %s |\n' "$header" "$(median <"$work/seconds")" \
    "$(( $(median <"$work/kilobytes") / 1024 ))"
done
