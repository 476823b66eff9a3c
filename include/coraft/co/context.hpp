// coraft/co/context.hpp — what a coroutine inherits from whoever awaits or spawns it.
//
// Every coraft promise carries a context: the stop token that cancels it and the scheduler that
// resumes it. `co_await some_task` hands the awaiting coroutine's context to the task; a scope hands
// its own (its stop token, linked to its parent's) to each child it spawns. Awaitables read the
// context of the coroutine that awaits them in `await_suspend(std::coroutine_handle<Promise>)`; that
// is how every suspending awaitable honours cancellation without a token being passed by hand.
#pragma once

#include <concepts>
#include <coroutine>
#include <stop_token>

#include "coraft/co/scheduler.hpp"

namespace coraft::co {

struct context {
  std::stop_token stop;
  scheduler* sched = nullptr;
};

// A promise type that carries a context (every coraft coroutine type does).
template <class Promise>
concept has_context = requires(Promise& p) {
  { p.ctx() } -> std::same_as<context&>;
};

// `co_await current_context()` yields the awaiting coroutine's context without suspending it.
struct current_context {
  context captured;
  bool await_ready() const noexcept { return false; }
  template <has_context Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    captured = h.promise().ctx();
    return false;  // resume at once
  }
  context await_resume() const noexcept { return captured; }
};

// `co_await yield()` lets every coroutine that is ready run before the awaiting one continues.
struct yield {
  bool await_ready() const noexcept { return false; }
  template <has_context Promise>
  void await_suspend(std::coroutine_handle<Promise> h) const {
    h.promise().ctx().sched->schedule(h);
  }
  void await_resume() const noexcept {}
};

}  // namespace coraft::co
