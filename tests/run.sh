#!/usr/bin/env bash
# Builds coraft with g++ and with clang++-16 in the release build type (the project's default, what
# applications and benchmarks build), and with clang++-16 + ASan/UBSan (all -Wall -Wextra -Werror);
# runs every test suite in each build, then runs the fuzzers briefly (one item), and ends with one
# line: "N passed, N failed".
#   tests/run.sh           the three builds and the fuzzers
#   tests/run.sh --quick   the g++ build's suites only, for fast iteration
# Exits non-zero if anything failed to build or any test failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
source tests/deps.sh
coraft_install_missing || exit 2

builds=(gcc clang asan)
[ "${1:-}" = "--quick" ] && builds=(gcc)

declare -A compiler=([gcc]=g++ [clang]=clang++-16 [asan]=clang++-16)
# Test builds define CORAFT_CHECK_INVARIANTS (tests/meson.build), so the release builds check the
# library's invariants too. The sanitizer build is built at -O1 with line tables only (enough for
# symbolised reports, a fraction of full debug information's compile time), without the benchmarks
# and the header-alone units, which run nothing there that the other builds do not compile.
declare -A options=([gcc]="--buildtype=release" [clang]="--buildtype=release"
                    [asan]="-Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1 -Ddebug=false -Dcpp_args=-gline-tables-only -Dbench=false -Dheader_checks=false")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

passed=0
failed=0
for build in "${builds[@]}"; do
  dir="build/$build"
  echo "=== $build: configure and build ($dir)"
  mkdir -p build
  start=$SECONDS
  # A fresh configure the first time; afterwards --reconfigure picks up new headers and options.
  setup=()
  [ -f "$dir/build.ninja" ] && setup=(--reconfigure)
  # shellcheck disable=SC2086
  if ! CXX=${compiler[$build]} meson setup "${setup[@]}" "$dir" ${options[$build]} >"$dir.setup.log" 2>&1; then
    cat "$dir.setup.log"
    echo "=== $build: configure FAILED"
    failed=$((failed + 1))
    continue
  fi
  if ! ninja -C "$dir"; then
    echo "=== $build: build FAILED"
    failed=$((failed + 1))
    continue
  fi
  echo "=== $build: built in $((SECONDS - start)) s; running the suites"
  start=$SECONDS
  meson test -C "$dir" --print-errorlogs --num-processes 2 </dev/null
  echo "=== $build: suites ran in $((SECONDS - start)) s"
  counts=$(/usr/bin/python3 tests/summarise.py "$dir/meson-logs/testlog.json") || counts="0 1"
  read -r p f <<<"$counts"
  echo "=== $build: $p passed, $f failed"
  passed=$((passed + p))
  failed=$((failed + f))
done

# The frame decoder and storage recovery under libFuzzer, briefly (a long run:
# bash tests/fuzz/run.sh 600). A finding in either fails this item.
if [ "${1:-}" != "--quick" ]; then
  echo "=== fuzz: the frame decoder and storage recovery, 15 s each"
  if bash tests/fuzz/run.sh 15; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
