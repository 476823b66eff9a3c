// with_deadline / with_timeout, on the simulator's world for deterministic time.
#include <doctest/doctest.h>

#include "bare_coroutine.hpp"

#include <coraft/co/deadline.hpp>
#include <coraft/co/event.hpp>
#include <coraft/co/scope.hpp>
#include <coraft/sim/world.hpp>

#include <chrono>

using namespace coraft::co;
using namespace std::chrono_literals;
using coraft::sim::world;

namespace {

// How a race ended, as the racing coroutine saw it.
struct seen {
  bool ended = false;
  bool timed_out = false;
  std::error_code value_error;  // the awaitable's error when it won
  std::chrono::nanoseconds at{};
};

// Races `e->wait()` against `how_long`; records the outcome. Ends after the race.
task<void> wait_or_time_out(world* w, event* e, std::chrono::nanoseconds how_long, seen* out) {
  auto r = co_await with_timeout(*w, how_long, e->wait());
  out->ended = true;
  out->timed_out = r.timed_out();
  if (!r.timed_out()) out->value_error = r->error();
  out->at = w->elapsed();
}

// Awaits `gate`; once cancelled, winds down over several scheduler turns before it records that it
// ended. Its frame refers to `*finished`, a local of the coroutine that races it.
task<int> slow_to_stop(event* gate, bool* finished) {
  auto r = co_await gate->wait();
  if (!r) {
    for (int i = 0; i < 3; ++i) co_await yield();
  }
  *finished = true;
  co_return r ? 7 : -1;
}

task<int> ready_value() { co_return 42; }

}  // namespace

TEST_CASE("TimerWins: an event never set times out at the deadline, and the wait is withdrawn") {
  world w(1);
  event e;
  seen s;
  scope root(w);
  root.spawn(wait_or_time_out(&w, &e, 10ms, &s));
  root.run_until_idle();
  CHECK(s.ended);
  CHECK(s.timed_out);
  CHECK(s.at == 10ms);
  e.set();  // the withdrawn waiter is no longer in the event's queue: nothing is scheduled
  CHECK_FALSE(w.has_ready());
}

TEST_CASE("EventWins: an event set before the deadline yields ok then, and withdraws the timer") {
  world w(1);
  event e;
  seen s;
  scope root(w);
  root.spawn(wait_or_time_out(&w, &e, 10ms, &s));
  w.at(w.now() + 3ms, [&] { e.set(); });
  root.run_until_idle();
  CHECK(s.ended);
  CHECK_FALSE(s.timed_out);
  CHECK_FALSE(s.value_error);
  CHECK(s.at == 3ms);
  CHECK(w.pending_timers() == 0);  // the 10 ms timer never fires
}

TEST_CASE("BothReadyAtOnce: event and timer due at the same instant; the first to arrive wins") {
  SUBCASE("the event is set by a timer set before the race's: the event arrives first") {
    world w(1);
    event e;
    seen s;
    w.at(w.now() + 5ms, [&] { e.set(); });
    scope root(w);
    root.spawn(wait_or_time_out(&w, &e, 5ms, &s));
    root.run_until_idle();
    CHECK(s.ended);
    CHECK_FALSE(s.timed_out);
    CHECK_FALSE(s.value_error);
    CHECK(s.at == 5ms);
  }
  SUBCASE("the event is set by a timer set after the race's: the timer arrives first") {
    world w(1);
    event e;
    seen s;
    scope root(w);
    root.spawn(wait_or_time_out(&w, &e, 5ms, &s));
    w.at(w.now() + 5ms, [&] { e.set(); });
    root.run_until_idle();
    CHECK(s.ended);
    CHECK(s.timed_out);  // the event's ok wake-up came second and is discarded
    CHECK(s.at == 5ms);
  }
}

TEST_CASE("OuterCancel: stopping the racing coroutine cancels both; the outcome is the awaitable's") {
  world w(1);
  event e;
  seen s;
  scope root(w);
  root.spawn(wait_or_time_out(&w, &e, 10ms, &s));
  w.at(w.now() + 2ms, [&] { root.request_stop(); });
  root.run_until_idle();
  CHECK(s.ended);
  CHECK_FALSE(s.timed_out);
  CHECK(is_cancelled(s.value_error));
  CHECK(s.at == 2ms);
  CHECK(w.pending_timers() == 0);
}

TEST_CASE("OuterCancelBeforeStart: a racer already cancelled neither sleeps nor waits") {
  world w(1);
  event e;
  seen s;
  scope root(w);
  root.request_stop();
  root.spawn(wait_or_time_out(&w, &e, 10ms, &s));
  root.run_until_idle();
  CHECK(s.ended);
  CHECK_FALSE(s.timed_out);
  CHECK(is_cancelled(s.value_error));
  CHECK(s.at == 0ms);
}

TEST_CASE("LoserJoined: a task that lost to the timer has ended before the racer resumes") {
  world w(1);
  event gate;
  bool finished = false;
  bool finished_when_resumed = false;
  bool timed_out = false;
  auto racer = [](world* w, event* gate, bool* finished, bool* seen_finished,
                  bool* timed_out) -> task<void> {
    auto r = co_await with_timeout(*w, 4ms, slow_to_stop(gate, finished));
    *seen_finished = *finished;  // the loser's three extra turns are already behind us
    *timed_out = r.timed_out();
  };
  scope root(w);
  root.spawn(racer(&w, &gate, &finished, &finished_when_resumed, &timed_out));
  root.run_until_idle();
  CHECK(timed_out);
  CHECK(finished_when_resumed);
}

TEST_CASE("TaskWins: a task finishing at once runs by symmetric transfer and its value is yielded") {
  world w(1);
  int value = 0;
  auto racer = [](world* w, int* out) -> task<void> {
    auto r = co_await with_timeout(*w, 4ms, ready_value());
    *out = r.timed_out() ? -1 : *r;
  };
  scope root(w);
  root.spawn(racer(&w, &value));
  root.run_until_idle();
  CHECK(value == 42);
  CHECK(w.elapsed() == 0ms);
  CHECK(w.pending_timers() == 0);
}

TEST_CASE("TaskWinsLater: a task woken before the deadline yields its value and the timer is gone") {
  world w(1);
  event gate;
  bool finished = false;
  int value = 0;
  auto racer = [](world* w, event* gate, bool* finished, int* out) -> task<void> {
    auto r = co_await with_deadline(*w, w->now() + 8ms, slow_to_stop(gate, finished));
    *out = r.timed_out() ? -1 : *r;
  };
  scope root(w);
  root.spawn(racer(&w, &gate, &finished, &value));
  w.at(w.now() + 1ms, [&] { gate.set(); });
  root.run_until_idle();
  CHECK(value == 7);
  CHECK(w.elapsed() == 1ms);
}

TEST_CASE("DeadlinePassed: a deadline already reached times out at once, the task never starts") {
  world w(1);
  event gate;
  bool finished = false;
  bool timed_out = false;
  w.run_for(5ms);
  auto racer = [](world* w, event* gate, bool* finished, bool* timed_out) -> task<void> {
    auto r = co_await with_deadline(*w, w->now() - 1ms, slow_to_stop(gate, finished));
    *timed_out = r.timed_out();
  };
  scope root(w);
  root.spawn(racer(&w, &gate, &finished, &timed_out));
  root.run_until_idle();
  CHECK(timed_out);
  CHECK_FALSE(finished);
}

TEST_CASE("AlreadySet: an event already set yields at once, with no timer armed") {
  world w(1);
  event e(true);
  seen s;
  scope root(w);
  root.spawn(wait_or_time_out(&w, &e, 10ms, &s));
  CHECK(s.ended);  // inside spawn: nothing suspended
  CHECK_FALSE(s.timed_out);
  CHECK(w.pending_timers() == 0);
  root.run_until_idle();
}

TEST_CASE("ManyRaces: a million races decided at once run in constant stack space") {
  world w(1);
  event e(true);
  auto racer = [](world* w, event* e, int* won) -> task<void> {
    for (int i = 0; i < 1'000'000; ++i) {
      auto r = co_await with_timeout(*w, 1s, e->wait());
      if (!r.timed_out() && *r) ++*won;
      auto t = co_await with_timeout(*w, 1s, ready_value());
      if (!t.timed_out()) ++*won;
    }
  };
  int won = 0;
  scope root(w);
  root.spawn(racer(&w, &e, &won));
  root.run_until_idle();
  CHECK(won == 2'000'000);
}

namespace {

// A parent to start a racer under by hand, so that the racer can be destroyed while suspended.
coraft::test::bare_coroutine park() { co_return; }

}  // namespace

TEST_CASE("DestroyedMidWait: a racer destroyed while suspended is never resumed; both sides end") {
  world w(1);
  event e;
  seen s;
  auto parent = park();
  parent.handle.promise().context_ = context{{}, &w};
  {
    task<void> racer = wait_or_time_out(&w, &e, 10ms, &s);
    auto awaiter = std::move(racer).operator co_await();
    awaiter.await_suspend(parent.handle).resume();  // runs the racer into the race
    CHECK_FALSE(s.ended);
    CHECK(w.next_deadline().has_value());  // the timer is armed
    racer = task<void>();  // destroys the racer's frame mid-wait
  }
  CHECK_FALSE(s.ended);  // the dying frame was not resumed past its co_await
  CHECK_FALSE(w.next_deadline().has_value());  // the timer was withdrawn
  e.set();
  CHECK_FALSE(w.has_ready());  // and the wait too
  parent.handle.destroy();
}
