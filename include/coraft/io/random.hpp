// coraft/io/random.hpp — coraft's one source of chance: a seeded, fully specified PRNG.
//
// It lives in io/, beside the timers, because every draw coraft makes is about timing the world:
// the node's randomized election timeouts (§5.2), the TCP transport's reconnect jitter, and every
// fault and delay the simulator injects. io/ sits below both raft/ and sim/, so all three share
// this one generator rather than each hand-rolling its own; it needs nothing but the standard
// library, and includes nothing of the io_uring executor.
//
// A failing simulation is worth something only if its seed replays it exactly, on every compiler
// and standard library, and the node's election timeouts are part of what a seed decides. So every
// bit this generator produces is fixed by the code below:
// xoshiro256** (Blackman and Vigna), its state filled from the seed by splitmix64. The standard
// distributions (std::uniform_int_distribution and friends) are deliberately not used: the standard
// fixes their distribution, not their output, and libstdc++ and libc++ draw different numbers.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace coraft::io {

class seeded_random {
 public:
  explicit seeded_random(std::uint64_t seed) noexcept {
    std::uint64_t mixer = seed;
    for (auto& word : state_) word = splitmix64(mixer);
  }

  // 64 uniformly distributed bits.
  std::uint64_t next() noexcept {
    const std::uint64_t out = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return out;
  }

  // Uniform in [0, bound), without the bias of a plain `next() % bound`: draws that fall in the
  // short last stretch of the 64-bit range are rejected and redrawn.
  std::uint64_t below(std::uint64_t bound) {
    if (bound == 0) throw std::invalid_argument("coraft::io::seeded_random::below: empty range");
    const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    for (;;) {
      const std::uint64_t draw = next();
      if (draw >= threshold) return draw % bound;
    }
  }

  // Uniform in [lo, hi], both ends included.
  template <std::integral T>
  T uniform(T lo, T hi) {
    if (hi < lo) throw std::invalid_argument("coraft::io::seeded_random::uniform: hi < lo");
    const auto span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    const std::uint64_t offset = span == ~std::uint64_t{0} ? next() : below(span + 1);
    return static_cast<T>(static_cast<std::uint64_t>(lo) + offset);
  }

  // A duration uniform in [lo, hi], at the resolution of the duration type.
  template <class Rep, class Period>
  std::chrono::duration<Rep, Period> uniform(std::chrono::duration<Rep, Period> lo,
                                             std::chrono::duration<Rep, Period> hi) {
    return std::chrono::duration<Rep, Period>{uniform(lo.count(), hi.count())};
  }

  // Uniform in [0, 1), from the top 53 bits (every double in the result is equally likely).
  double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // True with probability p (p <= 0: never, p >= 1: always, without consuming a draw).
  bool chance(double p) noexcept {
    if (p <= 0.0) return false;
    if (p >= 1.0) return true;
    return unit() < p;
  }

  // One element of a non-empty indexable range (vector, array, span), each equally likely.
  template <class Range>
  decltype(auto) pick(Range&& items) {
    return items[static_cast<std::size_t>(below(std::size(items)))];
  }

  // Fisher–Yates: every permutation of an indexable range equally likely.
  template <class Range>
  void shuffle(Range&& items) {
    for (std::size_t i = std::size(items); i > 1; --i) {
      using std::swap;
      swap(items[i - 1], items[static_cast<std::size_t>(below(i))]);
    }
  }

  // A new generator seeded from this one: gives a component its own stream of numbers, so that
  // how many numbers one part of the world draws does not shift what another part sees.
  seeded_random fork() noexcept { return seeded_random(next()); }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  static constexpr std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }

  std::uint64_t state_[4];  // never all zero: splitmix64 cannot produce four zero words in a row
};

}  // namespace coraft::io
