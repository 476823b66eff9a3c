#include <doctest/doctest.h>

#include <coraft/co/event.hpp>
#include <coraft/co/when_all.hpp>
#include <coraft/co/when_any.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using namespace coraft::co;

namespace {

// Finishes with `value` once `gate` is set; `*ended` counts how it ended: +1 normal, +100 cancelled.
task<int> value_when(event* gate, int value, int* ended) {
  auto r = co_await gate->wait();
  *ended += r ? 1 : 100;
  co_return r ? value : -1;
}

task<void> after_yields(int n) {
  for (int i = 0; i < n; ++i) co_await yield();
}

}  // namespace

TEST_CASE("when_any: the first to finish wins; the others are cancelled and joined before it returns") {
  manual_scheduler sched;
  event a, b, c;
  int ended = 0;
  auto body = [&]() -> task<void> {
    auto signal = [](event* e) -> task<void> {
      co_await yield();
      e->set();
    };
    scope helpers(co_await current_context());
    helpers.spawn(signal(&b));
    auto winner = co_await when_any(value_when(&a, 1, &ended), value_when(&b, 2, &ended),
                                    value_when(&c, 3, &ended));
    CHECK(winner.index() == 1);
    CHECK(std::get<1>(winner) == 2);
    // Both losers have already ended, cancelled, by the time when_any returned.
    CHECK(ended == 1 + 100 + 100);
    co_await helpers.join();
  };
  block_on(sched, body());
}

TEST_CASE("when_any: a task that completes at once wins and later ones start cancelled") {
  manual_scheduler sched;
  event never;
  int ended = 0;
  auto body = [&]() -> task<void> {
    auto now = []() -> task<std::string> { co_return "now"; };
    auto winner = co_await when_any(now(), value_when(&never, 2, &ended));
    CHECK(winner.index() == 0);
    CHECK(std::get<0>(winner) == "now");
    CHECK(ended == 100);
  };
  block_on(sched, body());
}

TEST_CASE("when_any: mixes void and valued tasks") {
  manual_scheduler sched;
  event never;
  int ended = 0;
  auto body = [&]() -> task<std::size_t> {
    auto w = co_await when_any(value_when(&never, 5, &ended), after_yields(3));
    co_return w.index();
  };
  CHECK(block_on(sched, body()) == 1);
  CHECK(ended == 100);
}

TEST_CASE("when_any: cancelling the awaiter cancels every contender") {
  manual_scheduler sched;
  event never;
  int ended = 0;
  scope s(sched);
  s.spawn([](event* n, int* e) -> task<void> {
    (void)co_await when_any(value_when(n, 1, e), value_when(n, 2, e));
  }(&never, &ended));
  sched.run_ready();
  CHECK(ended == 0);
  s.request_stop();
  s.run_until_idle();
  CHECK(ended == 200);
}

TEST_CASE("when_all: waits for every task and returns their values in order") {
  manual_scheduler sched;
  event a, b;
  int ended = 0;
  auto body = [&]() -> task<void> {
    auto setter = [](event* x, event* y) -> task<void> {
      co_await yield();
      y->set();
      co_await yield();
      x->set();
    };
    scope helpers(co_await current_context());
    helpers.spawn(setter(&a, &b));
    auto [x, nothing, y] =
        co_await when_all(value_when(&a, 10, &ended), after_yields(1), value_when(&b, 20, &ended));
    CHECK(x == 10);
    CHECK(y == 20);
    (void)nothing;
    co_await helpers.join();
  };
  block_on(sched, body());
  CHECK(ended == 2);
}

TEST_CASE("when_all: a vector of tasks") {
  manual_scheduler sched;
  auto square = [](int v) -> task<int> {
    co_await yield();
    co_return v * v;
  };
  auto body = [&]() -> task<std::vector<int>> {
    std::vector<task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(square(i));
    co_return co_await when_all(std::move(tasks));
  };
  CHECK(block_on(sched, body()) == std::vector<int>{0, 1, 4, 9, 16});
}

TEST_CASE("when_all: one failure cancels the rest and is rethrown after they end") {
  manual_scheduler sched;
  event never;
  int ended = 0;
  auto body = [&]() -> task<void> {
    auto failing = []() -> task<int> {
      co_await yield();
      throw std::logic_error("bad");
    };
    (void)co_await when_all(value_when(&never, 1, &ended), failing());
  };
  CHECK_THROWS_WITH_AS(block_on(sched, body()), "bad", std::logic_error);
  CHECK(ended == 100);
}

TEST_CASE("when_any and when_all: accept awaiters beside tasks") {
  manual_scheduler sched;
  event never, ready(true);
  auto body = [&]() -> task<void> {
    auto first = co_await when_any(never.wait(), ready.wait());
    CHECK(first.index() == 1);
    CHECK(std::get<1>(first).has_value());
    auto [a, b] = co_await when_all(ready.wait(), after_yields(2));
    CHECK(a.has_value());
    (void)b;
  };
  block_on(sched, body());
}
