#include <doctest/doctest.h>

#include <coraft/co/event.hpp>
#include <coraft/co/scope.hpp>
#include <coraft/co/when_any.hpp>
#include <coraft/io/uring_executor.hpp>

#include <chrono>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coraft::co::block_on;
using coraft::co::event;
using coraft::co::result;
using coraft::co::scope;
using coraft::co::task;
using coraft::io::time_point;
using io_test::executor;

namespace {

// What one sleeper saw: how it ended, when, and how many times it was resumed after the sleep.
struct sleep_record {
  result<void> outcome;
  time_point woke_at{};
  int resumptions = 0;
};

// Sleeps until `deadline` and records the outcome; ends after that one await.
task<void> sleep_and_record(executor& ex, time_point deadline, sleep_record* record) {
  record->outcome = co_await ex.sleep_until(deadline);
  record->woke_at = ex.now();
  ++record->resumptions;
}

task<result<void>> sleep_for(executor& ex, coraft::io::duration how_long) {
  co_return co_await ex.sleep_for(how_long);
}

task<result<void>> wait_for(event* e) { co_return co_await e->wait(); }

// Sleeps `delay`, then sets `e`.
task<void> set_after(executor& ex, coraft::io::duration delay, event* e) {
  (void)co_await ex.sleep_for(delay);
  e->set();
}

}  // namespace

TEST_CASE("sleep: a 1 ms timer fires, and never before its deadline") {
  executor ex;
  auto body = [](executor& ex) -> task<void> {
    for (int i = 0; i < 50; ++i) {
      auto deadline = ex.now() + 1ms;
      auto slept = co_await ex.sleep_until(deadline);
      CHECK(slept.has_value());
      CHECK(ex.now() >= deadline);
    }
    auto before = ex.now();
    CHECK((co_await ex.sleep_for(1ms)).has_value());
    CHECK(ex.now() - before >= 1ms);
  };
  block_on(ex, body(ex));
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("sleep: a deadline in the past completes at once with ok") {
  executor ex;
  auto body = [](executor& ex) -> task<void> {
    CHECK((co_await ex.sleep_until(ex.now() - 1s)).has_value());
    CHECK((co_await ex.sleep_until(time_point{})).has_value());
    CHECK((co_await ex.sleep_for(0s)).has_value());
  };
  block_on(ex, body(ex));
}

TEST_CASE("sleep: timers fire in deadline order, not in the order they were started") {
  executor ex;
  auto start = ex.now();
  sleep_record late, early, middle;
  scope sleepers(ex);
  sleepers.spawn(sleep_and_record(ex, start + 30ms, &late));
  sleepers.spawn(sleep_and_record(ex, start + 10ms, &early));
  sleepers.spawn(sleep_and_record(ex, start + 20ms, &middle));
  CHECK(ex.operations_in_flight() == 3);
  sleepers.run_until_idle();
  CHECK(early.woke_at >= start + 10ms);
  CHECK(early.woke_at <= middle.woke_at);
  CHECK(middle.woke_at <= late.woke_at);
  CHECK(late.woke_at >= start + 30ms);
}

TEST_CASE("sleep: a cancelled timer never fires; its coroutine sees cancelled() and resumes once") {
  executor ex;
  auto deadline = ex.now() + 200ms;
  sleep_record record;
  scope sleepers(ex);
  sleepers.spawn(sleep_and_record(ex, deadline, &record));
  CHECK(ex.operations_in_flight() == 1);

  // Let the timer reach the kernel, then cancel it from a coroutine, as a role change would.
  auto cancel_soon = [](executor& ex, scope* target) -> task<void> {
    (void)co_await ex.sleep_for(2ms);
    target->request_stop();
  };
  block_on(ex, cancel_soon(ex, &sleepers));
  sleepers.run_until_idle();
  CHECK(coraft::co::is_cancelled(record.outcome.error()));
  CHECK(record.outcome.error() == coraft::co::cancelled());
  CHECK(record.woke_at < deadline);
  CHECK(record.resumptions == 1);
  CHECK(ex.operations_in_flight() == 0);

  // Keep the loop turning well past the old deadline: nothing wakes the sleeper a second time.
  (void)block_on(ex, sleep_for(ex, 250ms));
  CHECK(record.resumptions == 1);
  CHECK(ex.operations_in_flight() == 0);
  CHECK_FALSE(ex.step());
}

TEST_CASE("sleep: a coroutine already stopped does not submit anything and sees cancelled()") {
  executor ex;
  sleep_record record;
  scope stopped(ex);
  stopped.request_stop();
  stopped.spawn(sleep_and_record(ex, ex.now() + 10s, &record));
  // The child ran to its end inside spawn(): no request was ever prepared.
  CHECK(stopped.size() == 0);
  CHECK(ex.operations_in_flight() == 0);
  CHECK(record.resumptions == 1);
  CHECK(record.outcome.error() == coraft::co::cancelled());
}

TEST_CASE("sleep: cancelling before the first submission cancels a request still in the queue") {
  executor ex;
  sleep_record record;
  scope sleepers(ex);
  sleepers.spawn(sleep_and_record(ex, ex.now() + 10s, &record));
  // The SQE is prepared but not submitted yet; the cancel request is queued behind it.
  sleepers.request_stop();
  auto start = ex.now();
  sleepers.run_until_idle();
  CHECK(record.outcome.error() == coraft::co::cancelled());
  CHECK(ex.now() - start < 5s);
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("when_any(sleep, event): the event wins when it is set before the deadline") {
  executor ex;
  auto body = [](executor& ex) -> task<void> {
    event heard;
    scope helpers(co_await coraft::co::current_context());
    helpers.spawn(set_after(ex, 2ms, &heard));
    auto start = ex.now();
    auto winner = co_await coraft::co::when_any(sleep_for(ex, 10s), wait_for(&heard));
    CHECK(winner.index() == 1);
    CHECK(std::get<1>(winner).has_value());
    CHECK(ex.now() - start < 5s);
    // The losing timer was cancelled and joined by when_any: nothing of it is left in the kernel.
    CHECK(ex.operations_in_flight() == 0);
    co_await helpers.join();
  };
  block_on(ex, body(ex));
}

TEST_CASE("when_any(sleep, event): the timer wins when the event never comes") {
  executor ex;
  auto body = [](executor& ex) -> task<void> {
    event never;
    auto start = ex.now();
    auto winner = co_await coraft::co::when_any(sleep_for(ex, 3ms), wait_for(&never));
    CHECK(winner.index() == 0);
    CHECK(std::get<0>(winner).has_value());
    CHECK(ex.now() - start >= 3ms);
  };
  block_on(ex, body(ex));
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("when_any(sleep, sleep): the earlier deadline wins, many times over") {
  executor ex;
  auto body = [](executor& ex) -> task<void> {
    for (int i = 0; i < 200; ++i) {
      auto winner = co_await coraft::co::when_any(sleep_for(ex, 50ms), sleep_for(ex, 100us));
      CHECK(winner.index() == 1);
    }
    CHECK(ex.operations_in_flight() == 0);
  };
  block_on(ex, body(ex));
}

TEST_CASE("when_any takes the executor's awaiters directly: a timer against an event's wait()") {
  executor ex;
  auto body = [](executor& ex) -> task<void> {
    event heard, never;
    scope helpers(co_await coraft::co::current_context());
    helpers.spawn(set_after(ex, 2ms, &heard));
    // The awaiters are moved into when_any before they are awaited; the losing timer is then
    // withdrawn from the kernel.
    auto first = co_await coraft::co::when_any(ex.sleep_for(10s), heard.wait());
    CHECK(first.index() == 1);
    CHECK(ex.operations_in_flight() == 0);
    auto second = co_await coraft::co::when_any(never.wait(), ex.sleep_for(1ms));
    CHECK(second.index() == 1);
    CHECK(std::get<1>(second).has_value());
    co_await helpers.join();
  };
  block_on(ex, body(ex));
}

TEST_CASE("sleep_for(duration::max()) waits forever rather than overflowing into the past") {
  executor ex;
  result<void> slept = coraft::co::errc::closed;
  scope sleepers(ex);
  auto forever = [](executor& ex, result<void>* out) -> task<void> {
    *out = co_await ex.sleep_for(coraft::io::duration::max());
  };
  sleepers.spawn(forever(ex, &slept));
  block_on(ex, sleep_for(ex, 5ms)).value();
  CHECK(ex.operations_in_flight() == 1);  // still asleep
  sleepers.request_stop();
  sleepers.run_until_idle();
  CHECK(slept.error() == coraft::co::cancelled());
}
