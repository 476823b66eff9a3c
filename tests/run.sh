#!/usr/bin/env bash
# Builds coraft with g++, with clang++-16 and with clang++-16 + ASan/UBSan (all -Wall -Wextra -Werror),
# runs every test suite in each build, then compiles the g++ release build and runs the fuzzers
# briefly (one item each), and ends with one line: "N passed, N failed".
#   tests/run.sh           all three builds, the release build and the fuzzers
#   tests/run.sh --quick   the g++ build's suites only, for fast iteration
# Exits non-zero if anything failed to build or any test failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
source tests/deps.sh
coraft_install_missing || exit 2

builds=(gcc clang asan)
[ "${1:-}" = "--quick" ] && builds=(gcc)

declare -A compiler=([gcc]=g++ [clang]=clang++-16 [asan]=clang++-16)
# The g++ and clang++ builds leave out debug information, which takes a third of their compile time;
# the ASan build keeps it, for symbolised reports.
declare -A options=([gcc]="-Ddebug=false" [clang]="-Ddebug=false"
                    [asan]="-Db_sanitize=address,undefined -Db_lundef=false")
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

# The release build the READMEs document (g++, -O3), compiled only: its optimiser warns where the
# others do not. One item in the summary.
if [ "${1:-}" != "--quick" ]; then
  echo "=== release: configure and build (build/release), compile only"
  start=$SECONDS
  setup=()
  [ -f build/release/build.ninja ] && setup=(--reconfigure)
  if CXX=g++ meson setup "${setup[@]}" build/release --buildtype=release >build/release.setup.log 2>&1 &&
    ninja -C build/release; then
    echo "=== release: built in $((SECONDS - start)) s"
    passed=$((passed + 1))
  else
    [ -f build/release.setup.log ] && tail -n 20 build/release.setup.log
    echo "=== release: build FAILED"
    failed=$((failed + 1))
  fi
fi

# The frame decoder and storage recovery under libFuzzer, briefly (a long run:
# bash tests/fuzz/run.sh 600). A finding in either fails this item.
if [ "${1:-}" != "--quick" ]; then
  echo "=== fuzz: the frame decoder and storage recovery, 15 s each"
  if bash tests/fuzz/run.sh 15; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
