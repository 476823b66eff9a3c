// tests/co/bare_coroutine.hpp — a coroutine owned by the test alone: it carries a context, starts
// when told and is destroyed by hand. Tests use it where no scope would allow what they check (an
// operation left in flight while its executor goes, a racer destroyed mid-wait).
#pragma once

#include <coroutine>
#include <exception>

#include <coraft/co/context.hpp>

namespace coraft::test {

struct bare_coroutine {
  struct promise_type {
    co::context context_;
    co::context& ctx() noexcept { return context_; }
    bare_coroutine get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

}  // namespace coraft::test
