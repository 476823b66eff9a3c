#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/sim/world.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "helpers.hpp"

using namespace sim_test;

namespace {

// Sleeps for `how_long`, then records `id` in `*order` (or the error in `*outcome`).
co::task<void> sleep_then_record(sim::world* w, io::duration how_long, int id,
                                 std::vector<int>* order, std::error_code* outcome = nullptr) {
  auto r = co_await w->sleep_for(how_long);
  if (outcome) *outcome = r.error();
  if (r) order->push_back(id);
}

// Ticks every `period` until cancelled, counting the ticks.
co::task<void> ticker(sim::world* w, io::duration period, long* ticks) {
  for (;;) {
    auto slept = co_await w->sleep_for(period);
    if (!slept) co_return;
    ++*ticks;
  }
}

}  // namespace

TEST_CASE("world: timers fire in deadline order, and in the order they were set for one deadline") {
  sim::world world(1);
  std::vector<int> order;
  co::scope s(world);
  s.spawn(sleep_then_record(&world, 30ms, 30, &order));
  s.spawn(sleep_then_record(&world, 10ms, 10, &order));
  s.spawn(sleep_then_record(&world, 20ms, 21, &order));
  s.spawn(sleep_then_record(&world, 20ms, 22, &order));
  s.spawn(sleep_then_record(&world, 0ms, 0, &order));  // due already: no wait at all
  CHECK(order == std::vector<int>{0});
  CHECK(world.pending_timers() == 4);
  s.run_until_idle();
  CHECK(order == std::vector<int>{0, 10, 21, 22, 30});
  CHECK(world.now() == at(30ms));
  CHECK_FALSE(world.step());  // nothing left: the world reports it instead of waiting forever
}

TEST_CASE("world: a cancelled sleep yields cancelled() and its timer never fires") {
  sim::world world(1);
  std::vector<int> order;
  std::error_code outcome;
  co::scope s(world);
  s.spawn(sleep_then_record(&world, 100ms, 1, &order, &outcome));
  world.run_for(5ms);
  CHECK(world.pending_timers() == 1);
  s.request_stop();
  CHECK(world.pending_timers() == 0);  // withdrawn at once, not when it would have fired
  s.run_until_idle();
  CHECK(co::is_cancelled(outcome));
  CHECK(order.empty());
  CHECK(world.now() == at(5ms));
  world.run_for(1s);
  CHECK(order.empty());

  // A coroutine that is already cancelled does not even start the timer.
  s.spawn(sleep_then_record(&world, 1ms, 2, &order, &outcome));
  CHECK(world.pending_timers() == 0);
  s.run_until_idle();
  CHECK(co::is_cancelled(outcome));
}

TEST_CASE("world: an hour of simulated time with timers every few ms takes little real time") {
  sim::world world(1);
  long fast = 0, slow = 0;
  co::scope s(world);
  s.spawn(ticker(&world, 5ms, &fast));
  s.spawn(ticker(&world, 7ms, &slow));
  const auto real_start = std::chrono::steady_clock::now();
  world.run_for(1h);
  const auto real = std::chrono::steady_clock::now() - real_start;
  CHECK(world.elapsed() == 1h);
  CHECK(fast == 3'600'000 / 5);
  CHECK(slow == 3'600'000 / 7);
  MESSAGE("one simulated hour (", fast + slow, " timer events) took ",
          std::chrono::duration<double, std::milli>(real).count(), " ms of real time");
  s.request_stop();
  s.run_until_idle();
}

TEST_CASE("world: run_until stops where the predicate holds, or at the deadline") {
  sim::world world(1);
  long ticks = 0;
  co::scope s(world);
  s.spawn(ticker(&world, 10ms, &ticks));
  CHECK(world.run_until([&] { return ticks == 3; }, at(1s)));
  CHECK(world.now() == at(30ms));
  CHECK_FALSE(world.run_for([&] { return ticks == 1000; }, 100ms));
  CHECK(world.now() == at(130ms));
  CHECK(ticks == 13);
  s.request_stop();
  s.run_until_idle();
}

TEST_CASE("world: run_for moves the clock even when nothing happens") {
  sim::world world(1);
  world.run_for(250ms);
  CHECK(world.now() == at(250ms));
  bool fired = false;
  world.after(10ms, [&] { fired = true; });
  world.run_for(9ms);
  CHECK_FALSE(fired);
  world.run_for(1ms);
  CHECK(fired);
  CHECK(world.now() == at(260ms));
}

TEST_CASE("world: a function posted from another thread runs from a later step") {
  sim::world world(1);
  bool ran = false;
  std::thread poster([&] { world.post([&] { ran = true; }); });
  poster.join();
  CHECK_FALSE(ran);
  CHECK(world.step());
  CHECK(ran);
}

TEST_CASE("world: timers are withdrawn by key; the trace fingerprint follows the events") {
  sim::world a(9), b(9);
  int fired = 0;
  auto key = a.after(5ms, [&] { ++fired; });
  CHECK(a.cancel(key));
  CHECK_FALSE(a.cancel(key));
  a.run_for(10ms);
  CHECK(fired == 0);
  a.note("x", "event", 1);
  b.note("x", "event", 1);
  CHECK(a.trace().fingerprint() != b.trace().fingerprint());  // a fired no timer, but moved time
  sim::world c(9), d(9);
  c.trace().keep_lines(true);
  c.run_for(1ms);
  d.run_for(1ms);
  c.note("x", "event", 1);
  d.note("x", "event", 1);
  CHECK(c.trace().fingerprint() == d.trace().fingerprint());
  CHECK(c.trace().lines() == std::vector<std::string>{"1000000ns x event 1"});
}
