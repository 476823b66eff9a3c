#include <doctest/doctest.h>

#include <coraft/sim/random.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

using coraft::sim::seeded_random;

TEST_CASE("random: the sequence is fixed by the seed alone (xoshiro256** seeded by splitmix64)") {
  seeded_random from_42(42);
  CHECK(from_42.next() == 0x15780b2e0c2ec716);
  CHECK(from_42.next() == 0x6104d9866d113a7e);
  CHECK(from_42.next() == 0xae17533239e499a1);
  CHECK(from_42.next() == 0xecb8ad4703b360a1);
  seeded_random from_0(0);
  CHECK(from_0.next() == 0x99ec5f36cb75f2b4);
  CHECK(from_0.next() == 0xbf6e1f784956452a);
}

TEST_CASE("random: uniform stays within its bounds and reaches both ends") {
  seeded_random rng(7);
  bool saw_lo = false, saw_hi = false;
  for (int i = 0; i < 10000; ++i) {
    int v = rng.uniform(-3, 3);
    REQUIRE(v >= -3);
    REQUIRE(v <= 3);
    saw_lo = saw_lo || v == -3;
    saw_hi = saw_hi || v == 3;
  }
  CHECK(saw_lo);
  CHECK(saw_hi);
  CHECK(rng.uniform(5, 5) == 5);
  const std::uint64_t anything = rng.uniform(std::uint64_t{0}, ~std::uint64_t{0});  // no hang
  CHECK(anything != rng.uniform(std::uint64_t{0}, ~std::uint64_t{0}));

  using std::chrono::milliseconds;
  for (int i = 0; i < 1000; ++i) {
    auto d = rng.uniform(milliseconds(150), milliseconds(300));
    REQUIRE(d >= milliseconds(150));
    REQUIRE(d <= milliseconds(300));
  }
}

TEST_CASE("random: below is unbiased enough that every bucket gets its share") {
  seeded_random rng(11);
  std::array<int, 6> buckets{};
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) ++buckets[rng.below(6)];
  for (int count : buckets) {
    CHECK(count > draws / 6 * 0.95);
    CHECK(count < draws / 6 * 1.05);
  }
}

TEST_CASE("random: chance(p) comes true about p of the time; 0 and 1 are exact") {
  seeded_random rng(3);
  int hits = 0;
  for (int i = 0; i < 100000; ++i) hits += rng.chance(0.1);
  CHECK(hits > 9500);
  CHECK(hits < 10500);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(rng.chance(0.0));
    REQUIRE(rng.chance(1.0));
  }
  double u = rng.unit();
  CHECK(u >= 0.0);
  CHECK(u < 1.0);
}

TEST_CASE("random: pick, shuffle and fork are deterministic for a seed") {
  auto run = [](std::uint64_t seed) {
    seeded_random rng(seed);
    std::vector<int> items{1, 2, 3, 4, 5, 6, 7, 8};
    rng.shuffle(items);
    items.push_back(rng.pick(items));
    seeded_random child = rng.fork();
    items.push_back(static_cast<int>(child.below(1000)));
    return items;
  };
  CHECK(run(5) == run(5));
  CHECK(run(5) != run(6));
  std::vector<int> shuffled = run(5);
  shuffled.resize(8);
  std::sort(shuffled.begin(), shuffled.end());
  CHECK(shuffled == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
}
