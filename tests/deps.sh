# Sourced by tests/run.sh and examples/demo.sh: makes sure the Debian 12 packages coraft builds with
# are installed. As root it installs what is missing; otherwise it prints the exact command and fails.

coraft_packages=(
  g++ clang-16 libclang-rt-16-dev   # compilers, and clang's sanitizer runtimes
  meson ninja-build pkg-config      # the build
  cmake                             # builds a CMake project that uses coraft (tests/embedding)
  liburing-dev                      # io_uring
  libboost1.81-dev                  # Boost.Describe (Boost >= 1.77)
  libboost-program-options1.81-dev  # coraft-kv's command line (the library does not use it)
  doctest-dev                       # the test framework
  python3                           # summarises test logs, runs the process tests
  redis-server redis-tools python3-redis  # real Redis clients (and a Redis to compare replies with)
)

coraft_install_missing() {
  local missing=() p
  for p in "${coraft_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "coraft needs these packages; install them as root with:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}
