#include <doctest/doctest.h>

#include <coraft/co/event.hpp>
#include <coraft/co/task.hpp>
#include <coraft/io/contract.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>

#include <stdexcept>
#include <system_error>

#include "helpers.hpp"

using namespace sim_test;

static_assert(io::executor<sim::host>, "a simulated host implements the executor contract");

namespace {

// Ticks every 10 ms until cancelled; records how it ended.
co::task<void> heartbeat(sim::host* h, int* beats, std::error_code* ended) {
  for (;;) {
    auto r = co_await h->sleep_for(10ms);
    if (!r) {
      *ended = r.error();
      co_return;
    }
    ++*beats;
  }
}

}  // namespace

TEST_CASE("host: crash cancels every coroutine of the host; restart runs new ones") {
  int beats_a = 0, beats_b = 0;  // outlive the hosts, whose destructors end the heartbeats
  std::error_code ended_a, ended_b;
  sim::world world(1);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  a.spawn(heartbeat(&a, &beats_a, &ended_a));
  b.spawn(heartbeat(&b, &beats_b, &ended_b));
  world.run_for(105ms);
  CHECK(beats_a == 10);
  CHECK(a.running() == 1);

  a.crash();
  CHECK_FALSE(a.is_up());
  CHECK(a.running() == 0);
  world.run_for(100ms);
  CHECK(co::is_cancelled(ended_a));
  CHECK(beats_a == 10);
  CHECK(beats_b == 20);  // the other host is untouched
  CHECK_THROWS_AS(a.spawn(heartbeat(&a, &beats_a, &ended_a)), std::logic_error);

  a.restart();
  CHECK(a.is_up());
  ended_a = {};
  a.spawn(heartbeat(&a, &beats_a, &ended_a));
  world.run_for(100ms);
  CHECK(beats_a == 20);
  CHECK_FALSE(ended_a);
}

TEST_CASE("host: an exception escaping a host's coroutine stops the simulation") {
  sim::world world(1);
  sim::network net(world);
  sim::host a(world, net, "a");
  a.spawn([](sim::host* h) -> co::task<void> {
    auto slept = co_await h->sleep_for(50ms);
    REQUIRE(slept);
    throw std::runtime_error("broken invariant");
  }(&a));
  CHECK_THROWS_WITH_AS(world.run_for(1s), "broken invariant", std::runtime_error);
  CHECK(world.now() == at(50ms));
}

TEST_CASE("host: post runs on the host from the world's step; dropped while the host is down") {
  sim::world world(1);
  sim::network net(world);
  sim::host a(world, net, "a");
  int ran = 0;
  a.post([&] { ++ran; });
  CHECK(ran == 0);
  world.run_for(1ms);
  CHECK(ran == 1);
  a.crash();
  a.post([&] { ++ran; });
  world.run_for(1ms);
  CHECK(ran == 1);
}

TEST_CASE("host: block_on a host runs a task to completion in virtual time") {
  sim::world world(1);
  sim::network net(world);
  sim::host a(world, net, "a");
  auto slept = co::block_on(a, [](sim::host* h) -> co::task<io::duration> {
    const io::time_point start = h->now();
    auto slept = co_await h->sleep_until(start + 3s);
    REQUIRE(slept);
    co_return h->now() - start;
  }(&a));
  CHECK(slept == 3s);
}

TEST_CASE("host: a destroyed host cancels its coroutines and leaves the world consistent") {
  int beats = 0;
  std::error_code ended;
  sim::world world(1);
  sim::network net(world);
  {
    sim::host temporary(world, net, "t");
    temporary.spawn(heartbeat(&temporary, &beats, &ended));
    world.run_for(35ms);
  }
  CHECK(beats == 3);
  CHECK(co::is_cancelled(ended));
  CHECK(world.pending_timers() == 0);
  sim::host again(world, net, "t");  // the name is free again
  CHECK(again.is_up());
}

TEST_CASE("host: a drifting clock runs at its rate from when it was set, and its timers keep to it") {
  sim::world world(1);
  sim::network net(world);
  sim::host fast(world, net, "fast"), slow(world, net, "slow");
  world.run_until(io::time_point{} + 100ms);
  fast.set_clock_rate(1.5);
  slow.set_clock_rate(0.25);
  // The local time at the change is kept; only the pace changes.
  CHECK(fast.now() == io::time_point{} + 100ms);
  CHECK(slow.now() == io::time_point{} + 100ms);
  world.run_until(io::time_point{} + 200ms);
  CHECK(fast.now() == io::time_point{} + 250ms);
  CHECK(slow.now() == io::time_point{} + 125ms);
  // A sleep of 30 ms of the host's own time lasts 30 / rate of the world's, and wakes with the
  // host's clock at its deadline or later, never before.
  io::time_point fast_woke{}, slow_woke{}, fast_local{}, slow_local{};
  auto nap = [](sim::host* h, sim::world* w, io::time_point* woke, io::time_point* local) -> co::task<void> {
    const io::time_point deadline = h->now() + 30ms;
    (void)co_await h->sleep_until(deadline);
    *woke = w->now();
    *local = h->now();
    CHECK(*local >= deadline);
  };
  fast.spawn(nap(&fast, &world, &fast_woke, &fast_local));
  slow.spawn(nap(&slow, &world, &slow_woke, &slow_local));
  world.run_until(io::time_point{} + 1s);
  CHECK(fast_woke == io::time_point{} + 220ms);
  CHECK(slow_woke == io::time_point{} + 320ms);
  CHECK(fast_local == io::time_point{} + 280ms);
  CHECK(slow_local == io::time_point{} + 155ms);
  // The rate outlives a crash: it is the machine's.
  fast.crash();
  fast.restart();
  world.run_until(io::time_point{} + 1200ms);
  CHECK(fast.now() == io::time_point{} + 250ms + 1500ms);
  CHECK_THROWS_AS(fast.set_clock_rate(0.0), std::invalid_argument);
}
