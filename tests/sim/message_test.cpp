#include <doctest/doctest.h>

#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "helpers.hpp"

using namespace sim_test;

namespace {

// Sends `count` numbered messages from a to b at once and returns the numbers that arrived, in
// the order they arrived.
std::vector<int> send_numbered(sim::world& world, sim::network& net, int count) {
  std::vector<int> arrived;
  for (int i = 0; i < count; ++i) net.deliver("a", "b", [&arrived, i] { arrived.push_back(i); });
  world.run_for(10s);
  return arrived;
}

std::vector<int> lossy_run(std::uint64_t seed, int count) {
  sim::world world(seed);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  net.set_faults(sim::link_faults{.drop = 0.1});
  auto arrived = send_numbered(world, net, count);
  CHECK(net.counts().sent == static_cast<std::uint64_t>(count));
  CHECK(net.counts().delivered + net.counts().dropped == net.counts().sent);
  CHECK(net.counts().delivered == arrived.size());
  return arrived;
}

}  // namespace

TEST_CASE("message hook: a drop probability of 0.1 loses about a tenth, the same tenth per seed") {
  const std::uint64_t seed = 2024;
  CAPTURE(seed);
  const int count = 20000;
  auto first = lossy_run(seed, count);
  const double lost = 1.0 - static_cast<double>(first.size()) / count;
  MESSAGE("lost ", lost * 100, "% of ", count, " messages");
  CHECK(lost > 0.09);
  CHECK(lost < 0.11);
  CHECK(lossy_run(seed, count) == first);
  CHECK(lossy_run(seed + 1, count) != first);
}

TEST_CASE("message hook: a partition drops every message across it; heal lets them through") {
  sim::world world(5);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b"), c(world, net, "c");
  net.partition({{"a", "c"}, {"b"}});
  CHECK(send_numbered(world, net, 100).empty());
  int a_to_c = 0;
  for (int i = 0; i < 100; ++i) net.deliver("a", "c", [&] { ++a_to_c; });
  world.run_for(1s);
  CHECK(a_to_c == 100);  // inside one group nothing is lost

  // A message already on its way when the partition begins is lost too.
  net.heal();
  int in_flight = 0;
  net.deliver("a", "b", [&] { ++in_flight; });
  net.partition({{"a"}, {"b", "c"}});
  world.run_for(1s);
  CHECK(in_flight == 0);

  net.heal();
  CHECK(send_numbered(world, net, 100).size() == 100);

  // A disconnected host is cut off from everyone until it reconnects.
  net.disconnect("b");
  CHECK(send_numbered(world, net, 10).empty());
  net.reconnect("b");
  CHECK(send_numbered(world, net, 10).size() == 10);
}

TEST_CASE("message hook: random delays reorder messages; long delays hold some back for longer") {
  sim::world world(17);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  net.set_faults(sim::link_faults{.min_delay = 1ms, .max_delay = 20ms});
  auto arrived = send_numbered(world, net, 200);
  REQUIRE(arrived.size() == 200);
  CHECK_FALSE(std::is_sorted(arrived.begin(), arrived.end()));
  std::sort(arrived.begin(), arrived.end());
  for (int i = 0; i < 200; ++i) REQUIRE(arrived[i] == i);  // each exactly once

  net.set_faults(sim::link_faults{.min_delay = 1ms, .max_delay = 2ms, .long_delay = 0.2,
                                  .long_delay_min = 100ms, .long_delay_max = 200ms});
  const io::time_point start = world.now();
  std::vector<io::duration> latencies;
  for (int i = 0; i < 500; ++i) {
    net.deliver("a", "b", [&] { latencies.push_back(world.now() - start); });
  }
  world.run_for(1s);
  REQUIRE(latencies.size() == 500);
  auto late = std::count_if(latencies.begin(), latencies.end(),
                            [](io::duration d) { return d >= 100ms; });
  CHECK(late > 70);
  CHECK(late < 130);
  for (io::duration d : latencies) CHECK((d <= 2ms || (d >= 100ms && d <= 200ms)));
}

TEST_CASE("message hook: per-link faults override the global policy for one direction") {
  sim::world world(23);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  net.set_faults("a", "b", sim::link_faults{.drop = 1.0});
  CHECK(send_numbered(world, net, 50).empty());
  int back = 0;
  for (int i = 0; i < 50; ++i) net.deliver("b", "a", [&] { ++back; });
  world.run_for(1s);
  CHECK(back == 50);
  net.clear_link_faults();
  CHECK(send_numbered(world, net, 50).size() == 50);
}

TEST_CASE("message hook: a message to a host that crashes on the way is lost, even after restart") {
  sim::world world(29);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  int arrived = 0;
  net.deliver("a", "b", [&] { ++arrived; });
  b.crash();
  b.restart();
  world.run_for(1s);
  CHECK(arrived == 0);
  b.crash();
  net.deliver("a", "b", [&] { ++arrived; });  // to a host that is down
  world.run_for(1s);
  CHECK(arrived == 0);
  b.restart();
  net.deliver("a", "b", [&] { ++arrived; });
  world.run_for(1s);
  CHECK(arrived == 1);
}
