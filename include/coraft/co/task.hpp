// coraft/co/task.hpp — task<T>: a lazy, move-only coroutine that yields a T or throws.
//
// A task does nothing until it is awaited. `co_await t` hands the awaiting coroutine's context (stop
// token and scheduler) to `t`, then transfers control to it; when `t` finishes, its final_suspend
// transfers straight back to the awaiter (symmetric transfer). Neither step grows the stack, so a loop
// awaiting a million tasks that complete at once runs in constant stack space.
#pragma once

#include "coraft/requirements.hpp"

#include <coroutine>
#include <exception>
#include <utility>
#include <variant>

#include "coraft/co/context.hpp"
#include "coraft/co/frame_pool.hpp"

namespace coraft::co {

template <class T = void>
class task;

namespace detail {

struct task_promise_base : pooled_frame {
  context context_;
  std::coroutine_handle<> continuation_;

  context& ctx() noexcept { return context_; }

  std::suspend_always initial_suspend() const noexcept { return {}; }

  // Hand control back to whoever awaited this task.
  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
      return h.promise().continuation_;
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() const noexcept { return {}; }
};

template <class T>
struct task_promise final : task_promise_base {
  std::variant<std::monostate, T, std::exception_ptr> outcome_;

  task<T> get_return_object() noexcept;
  template <class U>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) {
    outcome_.template emplace<1>(std::forward<U>(value));
  }
  void unhandled_exception() noexcept { outcome_.template emplace<2>(std::current_exception()); }

  T take() {
    if (outcome_.index() == 2) std::rethrow_exception(std::get<2>(outcome_));
    return std::get<1>(std::move(outcome_));
  }
};

template <>
struct task_promise<void> final : task_promise_base {
  std::exception_ptr exception_;

  task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() noexcept = default;
  explicit task(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }

  // Awaiting a task starts it with the awaiter's context and resumes the awaiter when it ends.
  // The awaiter must hold a context (every coraft coroutine does); the task may be awaited once.
  struct awaiter {
    std::coroutine_handle<promise_type> handle;

    bool await_ready() const noexcept { return false; }
    template <has_context Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> parent) noexcept {
      handle.promise().context_ = parent.promise().ctx();
      handle.promise().continuation_ = parent;
      return handle;
    }
    T await_resume() { return handle.promise().take(); }
  };
  awaiter operator co_await() && noexcept { return awaiter{handle_}; }

 private:
  void reset() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace coraft::co
