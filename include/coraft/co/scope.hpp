// coraft/co/scope.hpp — a scope owns the coroutines it spawns: no coroutine in coraft is detached.
//
// Rules (structured concurrency):
//  * spawn() starts a child at once, with the scope's context: the scope's stop token, which is
//    linked to the parent context's token when the scope was made from one.
//  * request_stop() cancels every child: each suspending awaitable a child waits on returns
//    `cancelled()`, and the child is expected to wind down.
//  * `co_await join()` waits until no child is left. If the coroutine awaiting join() is itself
//    cancelled, the scope is cancelled too and join() keeps waiting: a join never returns while a
//    child (which may reference the joiner's frame) is still running.
//  * A child's exception is never swallowed. The first one cancels its siblings (the scope failed)
//    and is rethrown by join() or run_until_idle(); later ones are counted in failures(). A scope
//    destroyed with a failure nobody observed calls std::terminate.
//  * The destructor cancels the children and drives the scheduler until they have ended. Prefer
//    `request_stop(); co_await join();` inside coroutines; the destructor is the safety net.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <utility>

#include "coraft/co/context.hpp"
#include "coraft/co/frame_pool.hpp"
#include "coraft/co/task.hpp"

namespace coraft::co {

class scope;

namespace detail {

// The coroutine that carries one spawned task. It destroys its own frame when the task ends, then
// tells its scope.
struct spawned_child {
  struct promise_type : pooled_frame {
    scope* owner = nullptr;
    context context_;
    std::exception_ptr failure;

    context& ctx() noexcept { return context_; }
    spawned_child get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<promise_type> h) const noexcept;
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { failure = std::current_exception(); }
  };
  std::coroutine_handle<promise_type> handle;
};

// Awaits one spawned task; ends when the task ends.
inline spawned_child carry(task<void> t) { co_await std::move(t); }

}  // namespace detail

class scope {
 public:
  // A root scope: cancelled only by request_stop() or destruction.
  explicit scope(scheduler& sched) : sched_(&sched) {}

  // A scope whose children are cancelled when `parent.stop` is.
  explicit scope(const context& parent) : sched_(parent.sched) {
    if (parent.stop.stop_possible()) parent_link_.emplace(parent.stop, forward_stop{&stop_});
  }

  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

  ~scope() {
    request_stop();
    while (live_ > 0) {
      if (!sched_->step()) std::terminate();  // children that can never end: nothing sane to do
    }
    if (failure_) std::terminate();  // a child's exception that nobody observed
  }

  // Start `child` now, owned by this scope. On a stopped scope the child still starts, already
  // cancelled, so that it can clean up in its own way.
  void spawn(task<void> child) {
    auto carrier = detail::carry(std::move(child)).handle;
    carrier.promise().owner = this;
    carrier.promise().context_ = context{stop_.get_token(), sched_};
    ++live_;
    carrier.resume();
  }

  void request_stop() noexcept { stop_.request_stop(); }
  bool stop_requested() const noexcept { return stop_.stop_requested(); }

  // The context a child of this scope runs with.
  context ctx() const noexcept { return {stop_.get_token(), sched_}; }
  scheduler& sched() const noexcept { return *sched_; }

  std::size_t size() const noexcept { return live_; }
  std::size_t failures() const noexcept { return failures_; }

  // `co_await join()`: resumes once no child is left; rethrows the first child failure.
  struct join_awaiter {
    scope* self;
    struct forward_to_scope {
      scope* self;
      void operator()() const noexcept { self->request_stop(); }
    };
    std::optional<std::stop_callback<forward_to_scope>> on_cancel;

    bool await_ready() const noexcept { return self->live_ == 0; }
    template <has_context Promise>
    void await_suspend(std::coroutine_handle<Promise> h) {
      self->joiner_ = h;
      self->joiner_sched_ = h.promise().ctx().sched;
      on_cancel.emplace(h.promise().ctx().stop, forward_to_scope{self});
    }
    void await_resume() { self->rethrow_failure(); }
  };
  join_awaiter join() noexcept { return {this, {}}; }

  // Drive the scheduler until no child is left, from outside any coroutine (main, tests).
  void run_until_idle() {
    while (live_ > 0) {
      if (!sched_->step()) throw std::logic_error("coraft::co::scope: children blocked forever");
    }
    rethrow_failure();
  }

 private:
  friend struct detail::spawned_child::promise_type::final_awaiter;

  struct forward_stop {
    std::stop_source* target;
    void operator()() const noexcept { target->request_stop(); }
  };

  void child_ended(std::exception_ptr failure) noexcept {
    --live_;
    if (failure) {
      ++failures_;
      if (!failure_) {
        failure_ = std::move(failure);
        request_stop();
      }
    }
    if (live_ == 0 && joiner_) joiner_sched_->schedule(std::exchange(joiner_, {}));
  }

  void rethrow_failure() {
    if (failure_) std::rethrow_exception(std::exchange(failure_, {}));
  }

  scheduler* sched_;
  std::stop_source stop_;
  std::optional<std::stop_callback<forward_stop>> parent_link_;
  std::size_t live_ = 0;      // children spawned and not yet ended
  std::size_t failures_ = 0;  // children that ended with an exception
  std::exception_ptr failure_;  // the first failure, until join() rethrows it
  std::coroutine_handle<> joiner_;  // the coroutine waiting in join(), if any
  scheduler* joiner_sched_ = nullptr;
};

namespace detail {
inline void spawned_child::promise_type::final_awaiter::await_suspend(
    std::coroutine_handle<promise_type> h) const noexcept {
  scope* parent = h.promise().owner;
  std::exception_ptr thrown = std::move(h.promise().failure);
  h.destroy();  // the child's locals are gone before anyone learns it has ended
  parent->child_ended(std::move(thrown));
}
}  // namespace detail

// Run `t` to completion on `sched` from outside any coroutine and return its value (or rethrow).
// Throws std::logic_error if the task blocks with nothing left that could wake it.
template <class T>
T block_on(scheduler& sched, task<T> t) {
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> out;
  auto run = [](task<T> inner, decltype(out)* sink) -> task<void> {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(inner);
      sink->emplace(true);
    } else {
      sink->emplace(co_await std::move(inner));
    }
  };
  scope root(sched);
  root.spawn(run(std::move(t), &out));
  root.run_until_idle();
  if constexpr (!std::is_void_v<T>) return std::move(*out);
}

}  // namespace coraft::co
