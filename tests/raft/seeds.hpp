// tests/raft/seeds.hpp — which stacks and seeds a simulation test runs, and how a failing one is
// reported.
//
//   CORAFT_SEEDS=N          run seeds 1..N on each stack (default: the test's own counts)
//   CORAFT_SEED=S           run only seed S: replays a reported failure exactly
//   CORAFT_STACK=fast       run only on the fast stack (memory storage, simulated transport)
//   CORAFT_STACK=production run only on the production stack (file storage, TCP, sim hosts)
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "stacks.hpp"

namespace coraft::test {

inline std::vector<std::uint64_t> seeds_to_run(std::uint64_t default_count = 20) {
  if (const char* one = std::getenv("CORAFT_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t count = default_count;
  if (const char* many = std::getenv("CORAFT_SEEDS")) count = std::strtoull(many, nullptr, 10);
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t s = 1; s <= count; ++s) seeds.push_back(s);
  return seeds;
}

inline std::vector<stack> stacks_to_run() {
  if (const char* one = std::getenv("CORAFT_STACK")) {
    if (std::string(one) == to_string(stack::fast)) return {stack::fast};
    if (std::string(one) == to_string(stack::production)) return {stack::production};
  }
  return {stack::fast, stack::production};
}

// How many seeds a scenario runs on each stack by default (CORAFT_SEEDS overrides both); 0 means
// the scenario does not run on that stack at all.
struct seed_counts {
  std::uint64_t fast = 20;
  std::uint64_t production = 20;
};

// Run `scenario(simulation)` on every stack for every seed; the first failure on each stack is
// reported with the command replaying it.
template <class Scenario>
void for_each_seed(const char* name, Scenario scenario, seed_counts counts = {}) {
  for (stack on : stacks_to_run()) {
    const std::uint64_t count = on == stack::fast ? counts.fast : counts.production;
    if (count == 0) continue;
    for (std::uint64_t seed : seeds_to_run(count)) {
      const simulation sim{on, seed};
      try {
        scenario(sim);
      } catch (const std::exception& e) {
        // As std::string: doctest prints a plain char pointer as an address.
        const std::string scenario_name(name), why(e.what());
        FAIL_CHECK(scenario_name << " failed on the " << to_string(on) << " stack with seed " << seed
                                 << ": " << why << "\n  replay: CORAFT_STACK=" << to_string(on)
                                 << " CORAFT_SEED=" << seed << " <build>/tests/test_raft --test-case='"
                                 << scenario_name << "*'");
        break;
      }
    }
  }
}

}  // namespace coraft::test
