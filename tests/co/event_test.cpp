#include <doctest/doctest.h>

#include <coraft/co/event.hpp>
#include <coraft/co/scope.hpp>

using namespace coraft::co;

namespace {

task<void> wait_on(event* e, std::error_code* outcome, int* ended) {
  auto r = co_await e->wait();
  *outcome = r.error();
  ++*ended;
}

}  // namespace

TEST_CASE("event: waiting on a set event does not suspend") {
  manual_scheduler sched;
  event e(true);
  std::error_code outcome = cancelled();
  int ended = 0;
  scope s(sched);
  s.spawn(wait_on(&e, &outcome, &ended));
  CHECK(ended == 1);  // completed inside spawn, before the scheduler ran anything
  CHECK_FALSE(outcome);
}

TEST_CASE("event: set wakes every waiter through the scheduler, reset re-arms") {
  manual_scheduler sched;
  event e;
  std::error_code o1, o2;
  int ended = 0;
  scope s(sched);
  s.spawn(wait_on(&e, &o1, &ended));
  s.spawn(wait_on(&e, &o2, &ended));
  e.set();
  CHECK(ended == 0);  // scheduled, not resumed inside set()
  CHECK(sched.run_ready() == 2);
  CHECK(ended == 2);
  CHECK(e.is_set());
  e.reset();
  CHECK_FALSE(e.is_set());
  std::error_code o3;
  s.spawn(wait_on(&e, &o3, &ended));
  sched.run_ready();
  CHECK(ended == 2);
  e.set();
  s.run_until_idle();
  CHECK(ended == 3);
}

TEST_CASE("event: cancelling one waiter leaves the others waiting") {
  manual_scheduler sched;
  event e;
  std::error_code kept, dropped;
  int ended = 0;
  scope keep(sched), drop(sched);
  keep.spawn(wait_on(&e, &kept, &ended));
  drop.spawn(wait_on(&e, &dropped, &ended));
  drop.request_stop();
  drop.run_until_idle();
  CHECK(ended == 1);
  CHECK(is_cancelled(dropped));
  e.set();
  keep.run_until_idle();
  CHECK(ended == 2);
  CHECK_FALSE(kept);
}

TEST_CASE("event: completion that wins the race against cancellation stands") {
  manual_scheduler sched;
  event e;
  std::error_code outcome;
  int ended = 0;
  scope s(sched);
  s.spawn(wait_on(&e, &outcome, &ended));
  e.set();            // the waiter is woken (scheduled) ...
  s.request_stop();   // ... and only then cancelled: its outcome is already decided
  s.run_until_idle();
  CHECK(ended == 1);
  CHECK_FALSE(outcome);
}

TEST_CASE("event: cancellation that wins the race against completion stands") {
  manual_scheduler sched;
  event e;
  std::error_code outcome;
  int ended = 0;
  scope s(sched);
  s.spawn(wait_on(&e, &outcome, &ended));
  s.request_stop();
  e.set();
  s.run_until_idle();
  CHECK(ended == 1);
  CHECK(is_cancelled(outcome));
}

TEST_CASE("event: a waiter destroyed while suspended leaves the event usable") {
  manual_scheduler sched;
  event e;
  std::error_code outcome;
  int ended = 0;
  {
    scope s(sched);
    s.spawn(wait_on(&e, &outcome, &ended));
  }  // the destructor cancels and drains: the waiter unlinks itself
  CHECK(ended == 1);
  e.set();  // must not touch the gone waiter (ASan would report it)
  CHECK(e.is_set());
}
