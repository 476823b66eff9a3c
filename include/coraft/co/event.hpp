// coraft/co/event.hpp — a manual-reset event: set() wakes every waiter, reset() re-arms it.
//
// Raft uses it for "heard from the leader" and "new entries to send": signals that carry no data and
// may fire many times before anyone looks.
#pragma once

#include <coroutine>

#include "coraft/co/detail/waiter.hpp"
#include "coraft/co/result.hpp"

namespace coraft::co {

class event {
 public:
  explicit event(bool initially_set = false) noexcept : set_(initially_set) {}
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  bool is_set() const noexcept { return set_; }

  // Mark the event set and schedule every waiter (they resume on their schedulers, not here).
  void set() noexcept {
    set_ = true;
    while (detail::waiter* w = waiters_.pop_front()) w->wake();
  }

  void reset() noexcept { set_ = false; }

  // `co_await wait()`: ok once the event is set (at once if it already is), or cancelled().
  struct awaiter : detail::waiter {
    event* self;
    explicit awaiter(event* e) noexcept : self(e) {}
    bool await_ready() const noexcept { return self->set_; }
    template <has_context Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      return park(self->waiters_, h);
    }
    result<void> await_resume() const noexcept { return outcome(); }
  };
  awaiter wait() noexcept { return awaiter{this}; }

 private:
  bool set_;
  detail::waiter_queue waiters_;
};

}  // namespace coraft::co
