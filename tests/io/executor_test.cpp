#include <doctest/doctest.h>

#include "co/bare_coroutine.hpp"

#include <coraft/co/event.hpp>
#include <coraft/co/scope.hpp>
#include <coraft/io/contract.hpp>
#include <coraft/io/uring_executor.hpp>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coraft::co::block_on;
using coraft::co::event;
using coraft::co::result;
using coraft::co::scope;
using coraft::co::task;
using io_test::executor;

static_assert(coraft::io::executor<executor>);

namespace {

using coraft::test::bare_coroutine;

// Receives once into a buffer in its own frame; records whether it was ever resumed.
bare_coroutine recv_in_frame(executor& ex, executor::stream& s, bool* resumed) {
  std::array<std::byte, 64> buffer{};
  (void)co_await ex.recv(s, buffer);
  *resumed = true;
}

bare_coroutine sleep_in_frame(executor& ex, bool* resumed) {
  (void)co_await ex.sleep_for(10s);
  *resumed = true;
}

// Waits for `e`; records the outcome.
task<void> wait_into(event* e, result<void>* out) { *out = co_await e->wait(); }

task<void> sleep_into(executor& ex, coraft::io::duration d, result<void>* out) {
  *out = co_await ex.sleep_for(d);
}

}  // namespace

TEST_CASE("step: returns false when nothing is ready, nothing in flight and no post is expected") {
  executor ex;
  CHECK(ex.operations_in_flight() == 0);
  CHECK_FALSE(ex.step());
  // A coroutine waiting for an event nobody can set is reported, not waited for forever.
  event never;
  result<void> outcome;
  auto blocked = [](event* e, result<void>* out) -> task<void> { co_await wait_into(e, out); };
  CHECK_THROWS_AS(block_on(ex, blocked(&never, &outcome)), std::logic_error);
  // block_on's scope cancelled it on the way out.
  CHECK(outcome.error() == coraft::co::cancelled());
}

TEST_CASE("post: a function posted from another thread wakes a loop blocked in run()") {
  executor ex;
  std::atomic<bool> ran_on_loop_thread = false;
  auto loop_thread = std::this_thread::get_id();
  auto start = std::chrono::steady_clock::now();  // before the poster starts its 20 ms
  std::thread poster([&] {
    std::this_thread::sleep_for(20ms);  // long enough for run() to be blocked in the kernel
    ex.post([&] {
      ran_on_loop_thread = std::this_thread::get_id() == loop_thread;
      ex.stop();
    });
  });
  ex.run();  // nothing else to do: blocks until the post arrives
  poster.join();
  CHECK(ran_on_loop_thread);
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("post: wakes a step() blocked on a long timer") {
  executor ex;
  result<void> slept = coraft::co::errc::closed;
  scope sleepers(ex);
  sleepers.spawn(sleep_into(ex, 10s, &slept));
  bool posted_ran = false;
  std::thread poster([&] {
    std::this_thread::sleep_for(20ms);
    ex.post([&] { posted_ran = true; });
  });
  auto start = std::chrono::steady_clock::now();
  while (!posted_ran) REQUIRE(ex.step());
  poster.join();
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(ex.operations_in_flight() == 1);  // the timer is still there, untouched
  sleepers.request_stop();
  sleepers.run_until_idle();
  CHECK(slept.error() == coraft::co::cancelled());
}

TEST_CASE("post: functions from many threads all run, each thread's in its posting order") {
  executor ex;
  constexpr int threads = 4, posts_each = 2'000;
  std::array<int, threads> last_seen{};
  int out_of_order = 0, total = 0;
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 1; i <= posts_each; ++i) {
        ex.post([&, t, i] {
          if (i != last_seen[t] + 1) ++out_of_order;
          last_seen[t] = i;
          if (++total == threads * posts_each) ex.stop();
        });
      }
    });
  }
  ex.run();
  for (auto& p : posters) p.join();
  CHECK(total == threads * posts_each);
  CHECK(out_of_order == 0);
}

TEST_CASE("stop: called from another thread ends run() while coroutines still wait on timers") {
  executor ex;
  result<void> slept = coraft::co::errc::closed;
  scope sleepers(ex);
  sleepers.spawn(sleep_into(ex, 10s, &slept));
  std::thread stopper([&] {
    std::this_thread::sleep_for(10ms);
    ex.stop();
  });
  ex.run();
  stopper.join();
  CHECK(ex.operations_in_flight() == 1);
  sleepers.request_stop();
  sleepers.run_until_idle();
  CHECK(slept.error() == coraft::co::cancelled());
}

TEST_CASE("work_guard: step() waits for a post another thread promised instead of giving up") {
  executor ex;
  event delivered;
  std::thread poster;
  {
    executor::work_guard guard(ex);
    poster = std::thread([&ex, &delivered, g = std::move(guard)] {
      std::this_thread::sleep_for(20ms);
      ex.post([&] { delivered.set(); });
    });  // the guard dies with the thread's function, after the post
  }
  result<void> outcome = coraft::co::errc::closed;
  block_on(ex, wait_into(&delivered, &outcome));
  poster.join();
  CHECK(outcome.has_value());
  CHECK_FALSE(ex.step());  // no guard left: nothing can happen any more
}

TEST_CASE("timers: 2,000 sleeps at once on an executor with a submission queue of 4") {
  executor ex(4);
  constexpr int sleepers = 2'000;
  std::vector<result<void>> outcomes(sleepers, coraft::co::errc::closed);
  scope all(ex);
  for (int i = 0; i < sleepers; ++i) {
    all.spawn(sleep_into(ex, std::chrono::microseconds(100 * (i % 50)), &outcomes[i]));
  }
  CHECK(ex.operations_in_flight() == sleepers);
  all.run_until_idle();
  int ok = 0;
  for (auto& o : outcomes) ok += o.has_value();
  CHECK(ok == sleepers);
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("timers: cancelling 1,000 sleeps at once with a submission queue of 4") {
  executor ex(4);
  constexpr int sleepers = 1'000;
  std::vector<result<void>> outcomes(sleepers, coraft::co::errc::closed);
  scope all(ex);
  for (int i = 0; i < sleepers; ++i) all.spawn(sleep_into(ex, 10s, &outcomes[i]));
  auto cancel_soon = [](executor& ex, scope* target) -> task<void> {
    (void)co_await ex.sleep_for(2ms);
    target->request_stop();
  };
  block_on(ex, cancel_soon(ex, &all));
  all.run_until_idle();
  int cancelled = 0;
  for (auto& o : outcomes) cancelled += o.error() == coraft::co::cancelled();
  CHECK(cancelled == sleepers);
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("destruction: operations in flight are cancelled and drained; their coroutines never "
          "resume") {
  auto ex = std::make_unique<executor>();
  auto pair = io_test::connect_pair(*ex);
  bool recv_resumed = false, sleep_resumed = false;
  std::stop_source stop;

  auto receiver = recv_in_frame(*ex, pair.client, &recv_resumed);
  receiver.handle.promise().context_ = {stop.get_token(), ex.get()};
  receiver.handle.resume();
  auto sleeper = sleep_in_frame(*ex, &sleep_resumed);
  sleeper.handle.promise().context_ = {stop.get_token(), ex.get()};
  sleeper.handle.resume();
  CHECK(ex->operations_in_flight() == 2);

  ex.reset();  // both requests are taken back from the kernel before the ring closes
  CHECK_FALSE(recv_resumed);
  CHECK_FALSE(sleep_resumed);

  // The cancelled recv consumed nothing: bytes sent now are still there for a plain recv.
  const char hello[] = "hello";
  REQUIRE(::send(pair.server.native_handle(), hello, 5, MSG_NOSIGNAL) == 5);
  char got[5] = {};
  REQUIRE(::recv(pair.client.native_handle(), got, 5, MSG_WAITALL) == 5);
  CHECK(std::memcmp(got, hello, 5) == 0);

  // A stop request after the executor is gone must not reach for its ring.
  stop.request_stop();
  receiver.handle.destroy();
  sleeper.handle.destroy();
  CHECK_FALSE(recv_resumed);
  CHECK_FALSE(sleep_resumed);
}

TEST_CASE("post: a posted function may drive the loop itself, and every function runs once, in order") {
  // A scope's destructor waits for its children by stepping the executor: from inside a posted
  // function, that is a turn of posted functions within a turn.
  executor ex;
  std::vector<int> order;
  ex.post([&] {
    order.push_back(1);
    ex.post([&] { order.push_back(3); });
    while (order.size() < 2 || order.back() != 3) ex.step();  // the nested turn runs what came since
    order.push_back(4);
  });
  ex.post([&] { order.push_back(2); });
  while (order.size() < 4) ex.step();
  CHECK(order == std::vector<int>{1, 3, 4, 2});
}
