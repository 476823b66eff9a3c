#include <doctest/doctest.h>

#include <coraft/co/event.hpp>
#include <coraft/co/scope.hpp>

#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace coraft::co;

namespace {

// Waits on `gate`; records what the wait returned in `*outcome` and that it ended in `*ended`.
task<void> wait_on(event* gate, std::error_code* outcome, int* ended) {
  auto r = co_await gate->wait();
  *outcome = r.error();
  ++*ended;
}

task<void> throw_after(event* gate, const char* what) {
  (void)co_await gate->wait();
  throw std::runtime_error(what);
}

}  // namespace

TEST_CASE("scope: join waits for every child") {
  manual_scheduler sched;
  event gate;
  std::error_code a, b;
  int ended = 0;
  auto body = [&]() -> task<void> {
    scope s(co_await current_context());
    s.spawn(wait_on(&gate, &a, &ended));
    s.spawn(wait_on(&gate, &b, &ended));
    CHECK(s.size() == 2);
    s.spawn([](event* g) -> task<void> {
      co_await yield();
      g->set();
    }(&gate));
    co_await s.join();
    CHECK(s.size() == 0);
  };
  block_on(sched, body());
  CHECK(ended == 2);
  CHECK_FALSE(a);
  CHECK_FALSE(b);
}

TEST_CASE("scope: request_stop cancels every suspended child") {
  manual_scheduler sched;
  event never;
  std::vector<std::error_code> outcomes(3);
  int ended = 0;
  scope s(sched);
  for (auto& o : outcomes) s.spawn(wait_on(&never, &o, &ended));
  CHECK(s.size() == 3);
  sched.run_ready();
  CHECK(ended == 0);
  s.request_stop();
  s.run_until_idle();
  CHECK(ended == 3);
  for (auto& o : outcomes) CHECK(is_cancelled(o));
}

TEST_CASE("scope: a child spawned into a stopped scope starts already cancelled") {
  manual_scheduler sched;
  event never;
  std::error_code outcome;
  int ended = 0;
  scope s(sched);
  s.request_stop();
  s.spawn(wait_on(&never, &outcome, &ended));
  s.run_until_idle();
  CHECK(ended == 1);
  CHECK(is_cancelled(outcome));
}

TEST_CASE("scope: destroying a scope cancels its suspended children and waits for them") {
  manual_scheduler sched;
  event never;
  std::error_code outcome;
  int ended = 0;
  {
    scope s(sched);
    s.spawn(wait_on(&never, &outcome, &ended));
    sched.run_ready();
    CHECK(ended == 0);
  }
  CHECK(ended == 1);
  CHECK(is_cancelled(outcome));
}

TEST_CASE("scope: a child's exception cancels its siblings and is rethrown by join") {
  manual_scheduler sched;
  event gate, never;
  std::error_code sibling;
  int ended = 0;
  auto body = [&]() -> task<void> {
    scope s(co_await current_context());
    s.spawn(wait_on(&never, &sibling, &ended));
    s.spawn(throw_after(&gate, "first"));
    s.spawn(throw_after(&gate, "second"));
    gate.set();
    try {
      co_await s.join();
      FAIL("join did not rethrow");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "first");
    }
    CHECK(s.failures() == 2);
    CHECK(s.stop_requested());
  };
  block_on(sched, body());
  CHECK(ended == 1);
  CHECK(is_cancelled(sibling));
}

TEST_CASE("scope: run_until_idle rethrows a child's exception") {
  manual_scheduler sched;
  event gate(true);
  scope s(sched);
  s.spawn(throw_after(&gate, "boom"));
  CHECK_THROWS_WITH_AS(s.run_until_idle(), "boom", std::runtime_error);
}

TEST_CASE("scope: a child exception nobody observes terminates the process") {
  // Swallowing it would hide a bug; the only loud answer a destructor has is std::terminate.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // the test framework's crash handler must not report it
    std::freopen("/dev/null", "w", stderr);
    manual_scheduler sched;
    event gate(true);
    {
      scope s(sched);
      s.spawn(throw_after(&gate, "unobserved"));
    }
    _exit(0);  // not reached
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("scope: cancelling the parent context cancels a linked scope's children") {
  manual_scheduler sched;
  event never;
  std::error_code outcome;
  int ended = 0;
  scope outer(sched);
  outer.spawn([](event* n, std::error_code* o, int* e) -> task<void> {
    scope inner(co_await current_context());
    inner.spawn(wait_on(n, o, e));
    co_await inner.join();
  }(&never, &outcome, &ended));
  sched.run_ready();
  CHECK(ended == 0);
  outer.request_stop();
  outer.run_until_idle();
  CHECK(ended == 1);
  CHECK(is_cancelled(outcome));
}

TEST_CASE("scope: a cancelled joiner cancels the scope and still waits for its children") {
  manual_scheduler sched;
  event never;
  std::error_code outcome;
  int ended = 0;
  bool join_returned_before_child_ended = false;
  scope outer(sched);
  // The inner scope is a root scope, not linked: only the joiner's cancellation can reach it.
  outer.spawn([](event* n, std::error_code* o, int* e, bool* early,
                 scheduler* s) -> task<void> {
    scope inner(*s);
    inner.spawn(wait_on(n, o, e));
    co_await inner.join();
    *early = (*e == 0);
  }(&never, &outcome, &ended, &join_returned_before_child_ended, &sched));
  sched.run_ready();
  outer.request_stop();
  outer.run_until_idle();
  CHECK(ended == 1);
  CHECK(is_cancelled(outcome));
  CHECK_FALSE(join_returned_before_child_ended);
}

TEST_CASE("scope: destroyed inside a running coroutine, it drives the scheduler re-entrantly") {
  manual_scheduler sched;
  event never;
  std::error_code outcome;
  int ended = 0, yields = 0;
  auto yielder = [](int* count) -> task<void> {
    for (int i = 0; i < 3; ++i) {
      co_await yield();
      ++*count;
    }
  };
  auto owner = [](scheduler* s, event* n, std::error_code* o, int* e) -> task<void> {
    co_await yield();
    scope inner(*s);
    inner.spawn(wait_on(n, o, e));
  };  // inner's destructor runs here, while the outer run_ready() is resuming this coroutine
  scope outer(sched);
  outer.spawn(owner(&sched, &never, &outcome, &ended));
  outer.spawn(yielder(&yields));
  outer.spawn(yielder(&yields));
  outer.run_until_idle();
  CHECK(ended == 1);
  CHECK(is_cancelled(outcome));
  CHECK(yields == 6);
}
