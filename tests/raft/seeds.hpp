// tests/raft/seeds.hpp — which seeds a simulation test runs, and how a failing one is reported.
//
//   CORAFT_SEEDS=N   run seeds 1..N (default 20)
//   CORAFT_SEED=S    run only seed S: replays a reported failure exactly
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

namespace coraft::test {

inline std::vector<std::uint64_t> seeds_to_run(std::uint64_t default_count = 20) {
  if (const char* one = std::getenv("CORAFT_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t count = default_count;
  if (const char* many = std::getenv("CORAFT_SEEDS")) count = std::strtoull(many, nullptr, 10);
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t s = 1; s <= count; ++s) seeds.push_back(s);
  return seeds;
}

// Run `scenario(seed)` for every seed; the first failure is reported with the command replaying it.
template <class Scenario>
void for_each_seed(const char* name, Scenario scenario, std::uint64_t default_count = 20) {
  for (std::uint64_t seed : seeds_to_run(default_count)) {
    try {
      scenario(seed);
    } catch (const std::exception& e) {
      // As std::string: doctest prints a plain char pointer as an address.
      const std::string scenario_name(name), why(e.what());
      FAIL_CHECK(scenario_name << " failed with seed " << seed << ": " << why
                               << "\n  replay: CORAFT_SEED=" << seed << " <build>/tests/test_raft --test-case='"
                               << scenario_name << "*'");
      return;
    }
  }
}

}  // namespace coraft::test
