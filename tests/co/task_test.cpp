#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

using namespace coraft::co;

namespace {

task<int> forty_two() { co_return 42; }
task<std::string> greet(std::string name) { co_return "hello " + name; }
task<void> fail() {
  throw std::runtime_error("boom");
  co_return;
}

task<int> add_one(int x) { co_return x + 1; }

// Records the stack address it runs at; symmetric transfer keeps it constant across iterations.
task<int> where_am_i(std::uintptr_t* address) {
  // The frame address, not a local's: sanitizers may move locals to a separate fake stack.
  *address = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  co_return 1;
}

}  // namespace

TEST_CASE("task: yields its value to the awaiter") {
  manual_scheduler sched;
  CHECK(block_on(sched, forty_two()) == 42);
  CHECK(block_on(sched, greet("raft")) == "hello raft");
}

TEST_CASE("task: is lazy and runs only when awaited") {
  manual_scheduler sched;
  bool ran = false;
  auto make = [](bool* flag) -> task<void> {
    *flag = true;
    co_return;
  };
  {
    task<void> t = make(&ran);
    CHECK_FALSE(ran);
  }  // destroyed without running: no leak (checked under ASan)
  CHECK_FALSE(ran);
  block_on(sched, make(&ran));
  CHECK(ran);
}

TEST_CASE("task: an exception reaches the awaiter") {
  manual_scheduler sched;
  auto outer = []() -> task<std::string> {
    try {
      co_await fail();
    } catch (const std::runtime_error& e) {
      co_return std::string("caught ") + e.what();
    }
    co_return "not thrown";
  };
  CHECK(block_on(sched, outer()) == "caught boom");
  CHECK_THROWS_AS(block_on(sched, fail()), std::runtime_error);
}

TEST_CASE("task: move-only, and a moved-from task is empty") {
  static_assert(!std::is_copy_constructible_v<task<int>>);
  static_assert(std::is_nothrow_move_constructible_v<task<int>>);
  task<int> a = forty_two();
  task<int> b = std::move(a);
  CHECK_FALSE(a.valid());
  CHECK(b.valid());
  manual_scheduler sched;
  CHECK(block_on(sched, std::move(b)) == 42);
}

TEST_CASE("task: move-only results pass through") {
  manual_scheduler sched;
  auto make = []() -> task<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
  CHECK(*block_on(sched, make()) == 7);
}

TEST_CASE("task: a million synchronously completing tasks awaited in a loop keep the stack flat") {
  manual_scheduler sched;
  auto loop = []() -> task<std::uintptr_t> {
    std::uintptr_t first = 0, last = 0;
    long sum = 0;
    for (int i = 0; i < 1'000'000; ++i) {
      sum += co_await where_am_i(i == 0 ? &first : &last);
      sum += co_await add_one(-1);
    }
    CHECK(sum == 1'000'000);
    co_return first > last ? first - last : last - first;
  };
  // Without symmetric transfer each await would nest a resume() frame and overflow the stack long
  // before a million; with it, the child runs at the same depth every time.
  CHECK(block_on(sched, loop()) < 256);
}

TEST_CASE("task: the awaiter's context is handed to the task") {
  manual_scheduler sched;
  auto inner = []() -> task<context> { co_return co_await current_context(); };
  auto outer = [&]() -> task<bool> {
    context mine = co_await current_context();
    context theirs = co_await inner();
    co_return mine.sched == theirs.sched && mine.stop == theirs.stop && mine.sched == &sched;
  };
  CHECK(block_on(sched, outer()));
}
