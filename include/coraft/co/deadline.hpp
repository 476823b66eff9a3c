// coraft/co/deadline.hpp — an awaitable raced against a timer, as one awaiter.
//
// `co_await with_deadline(executor, when, heard.wait())` (or with_timeout(executor, how_long, ...))
// yields a deadline_result<R>: timed_out() when the timer fired first, otherwise the value R that
// the awaitable yielded. It is the one-awaiter form of `when_any(timer, awaitable)`, which costs a
// task per contender, a racer and its carrier per contender and the race itself: seven frames.
//
// co/ knows nothing of clocks: the executor is anything with `sleep_until(t)` / `sleep_for(d)`
// yielding co::result<void> (the io layer's timers concept, and sim::world), and the timer awaiter
// it returns is built in place inside this awaiter (timers need not be movable).
//
// How it runs. Every coraft awaiter reads the awaiting coroutine's context (stop token, scheduler)
// in await_suspend and later schedules the handle it was given. So each contender is handed the
// handle of a *relay*: a coroutine with an empty body whose promise carries the contender's own
// context (the race's own stop token, the caller's scheduler) and whose final_suspend reports
// the arrival and, once both contenders have arrived, transfers to the awaiting coroutine. The two
// relay frames are built in buffers inside this awaiter (the promise's operator new), so a wait
// allocates no frame; a relay frame that does not fit its buffer would fall back to the heap.
// Counted by bench/frames on the simulator: a timer against an event costs 2.03 allocations (the
// race's stop state, the world's timer node) where when_any over the timer as a task cost 9.05
// (seven frames besides); a sim_transport call went from 17.06 to 10.05 allocations, and a
// heartbeat of an idle 3-node cluster, everything included, from 51.20 to 23.14.
//
// Rules:
//  * the first contender to arrive decides: the timer firing (ok) means timed out; the awaitable
//    arriving means its value. The other is then cancelled through the race's stop source.
//  * the loser is *joined*: the awaiting coroutine resumes only after both have arrived, so nothing
//    the awaitable references (a frame local, an event) may be destroyed while it still runs.
//  * a timer that ends with an error (it was cancelled) cancels the awaitable, and the outcome is
//    then the awaitable's value (its own cancellation); a deadline is never reported as reached
//    unless the timer fired.
//  * outer cancellation (the awaiting coroutine's stop token) cancels both; see the previous rule.
//  * an awaitable already ready (await_ready) yields at once without arming the timer; a deadline
//    already passed yields timed_out at once without starting the awaitable (a task stays unrun).
//  * a contender whose await_suspend hands back a coroutine to run (a task) is run by symmetric
//    transfer from this await_suspend; it ends by transferring to its relay.
//  * an awaitable whose value loses is still resumed (await_resume), so an exception it carries is
//    rethrown rather than swallowed; its value is discarded, as when_any discards a loser's value.
//
// Lifetimes. This awaiter lives in the awaiting coroutine's frame for the whole co_await: it owns
// the timer awaiter, the awaitable (a task's frame too), both stop sources, the relay frames and
// the link from the outer stop token. Contenders refer to the relays and stop sources; they stop
// doing so when they arrive, which happens before the awaiting coroutine resumes. The destructor
// is the safety net of a frame destroyed mid-wait: it cancels both and drives the scheduler until
// both have arrived, as scope's destructor does.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>

#include "coraft/co/context.hpp"
#include "coraft/co/result.hpp"
#include "coraft/co/scheduler.hpp"

namespace coraft::co {

// An executor whose timers this header can race: sleep_until(t) returns an awaiter yielding
// result<void>.
template <class E, class TimePoint>
concept deadline_timers = requires(E& e, TimePoint t) {
  { e.sleep_until(t).await_resume() } -> std::same_as<result<void>>;
};
template <class E, class Duration>
concept timeout_timers = requires(E& e, Duration d) {
  { e.sleep_for(d).await_resume() } -> std::same_as<result<void>>;
};

// What a race against a deadline yields: timed out, or the awaitable's value (std::monostate for
// an awaitable yielding void).
template <class R>
class [[nodiscard]] deadline_result {
 public:
  static deadline_result deadline_passed() { return deadline_result(); }
  explicit deadline_result(R value) : value_(std::move(value)) {}

  bool timed_out() const noexcept { return !value_.has_value(); }

  R& value() & { check(); return *value_; }
  R&& value() && { check(); return std::move(*value_); }
  R& operator*() & { return value(); }
  R&& operator*() && { return std::move(*this).value(); }
  R* operator->() { return &value(); }

 private:
  deadline_result() = default;
  void check() const {
    if (!value_) throw std::logic_error("coraft::co::deadline_result: timed out, no value");
  }
  std::optional<R> value_;
};

namespace detail {

// Storage for one relay frame inside the deadline awaiter.
struct alignas(__STDCPP_DEFAULT_NEW_ALIGNMENT__) relay_buffer {
  static constexpr std::size_t capacity = 128;
  std::byte bytes[capacity];
};

// The arrival counter a relay reports to; implemented by deadline_awaiter.
class relay_target {
 public:
  enum class side { timer, awaitable };
  // A contender has ended; returns the coroutine to transfer to (the awaiting one once both have).
  virtual std::coroutine_handle<> arrived(side s) noexcept = 0;

 protected:
  ~relay_target() = default;
};

// A coroutine with an empty body, started by the contender that was handed its handle.
struct relay {
  struct promise_type {
    relay_target* target;
    relay_target::side side;
    context context_;

    promise_type(relay_buffer&, relay_target& t, relay_target::side s) noexcept
        : target(&t), side(s) {}
    context& ctx() noexcept { return context_; }

    // The frame goes into the buffer when it fits (the size is the same on deletion, so it tells
    // where the frame lives).
    static void* operator new(std::size_t size, relay_buffer& buffer, relay_target&,
                              relay_target::side) {
      if (size <= relay_buffer::capacity) return buffer.bytes;
      return ::operator new(size);
    }
    static void operator delete(void* frame, std::size_t size) noexcept {
      if (size > relay_buffer::capacity) ::operator delete(frame);
    }

    relay get_return_object() noexcept {
      return relay{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    struct report_arrival {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
        return h.promise().target->arrived(h.promise().side);
      }
      void await_resume() const noexcept {}
    };
    report_arrival final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }  // the body cannot throw
  };

  relay() = default;
  explicit relay(std::coroutine_handle<promise_type> h) noexcept : handle(h) {}
  relay(relay&& other) noexcept : handle(std::exchange(other.handle, {})) {}
  relay& operator=(relay&& other) noexcept {
    std::swap(handle, other.handle);
    return *this;
  }
  ~relay() {
    if (handle) handle.destroy();
  }

  std::coroutine_handle<promise_type> handle;
};

// Ends at once when resumed: the arrival is all it reports.
inline relay make_relay(relay_buffer&, relay_target&, relay_target::side) { co_return; }

// The awaiter of an awaitable: its operator co_await() && if it has one (a task), else itself.
template <class A>
decltype(auto) awaiter_of(A& awaitable) {
  if constexpr (requires { std::move(awaitable).operator co_await(); }) {
    return std::move(awaitable).operator co_await();
  } else {
    return (awaitable);
  }
}

// Holds the awaitable and, for one with operator co_await, the awaiter it gave (a task's awaiter
// refers to the task's frame, which the task object keeps).
template <class A>
class awaitable_slot {
 public:
  explicit awaitable_slot(A a) : awaitable_(std::move(a)) {}
  auto& awaiter() {
    if constexpr (std::is_reference_v<decltype(awaiter_of(awaitable_))>) {
      return awaitable_;
    } else {
      if (!awaiter_) awaiter_.emplace(awaiter_of(awaitable_));
      return *awaiter_;
    }
  }

 private:
  using awaiter_type = std::remove_cvref_t<decltype(awaiter_of(std::declval<A&>()))>;
  A awaitable_;
  std::conditional_t<std::is_same_v<awaiter_type, A>, std::monostate, std::optional<awaiter_type>>
      awaiter_;
};

// How a contender's await_suspend went: it suspended, it finished at once, or it handed back a
// coroutine to run first.
struct suspension {
  bool finished = false;
  std::coroutine_handle<> run_next;  // null unless the awaiter returned a handle
};

template <class Awaiter, class Promise>
suspension suspend_on(Awaiter& a, std::coroutine_handle<Promise> h) {
  using returned = decltype(a.await_suspend(h));
  if constexpr (std::is_void_v<returned>) {
    a.await_suspend(h);
    return {};
  } else if constexpr (std::is_same_v<returned, bool>) {
    return {!a.await_suspend(h), {}};
  } else {
    return {false, a.await_suspend(h)};
  }
}

template <class Timer, class Awaitable>
class deadline_awaiter final : relay_target {
  using awaiter_type = std::remove_cvref_t<decltype(std::declval<awaitable_slot<Awaitable>&>().awaiter())>;
  using raw_value = decltype(std::declval<awaiter_type&>().await_resume());
  using value_type = std::conditional_t<std::is_void_v<raw_value>, std::monostate, raw_value>;

 public:
  template <class MakeTimer>
  deadline_awaiter(MakeTimer&& make_timer, Awaitable awaitable)
      : timer_(std::forward<MakeTimer>(make_timer)()), awaitable_(std::move(awaitable)) {}
  deadline_awaiter(const deadline_awaiter&) = delete;
  deadline_awaiter& operator=(const deadline_awaiter&) = delete;

  ~deadline_awaiter() {
    if (running_ == 0) return;
    // The awaiting coroutine is being destroyed mid-wait (this awaiter lives in its frame): it
    // must never be resumed, so the last arrival transfers nowhere.
    awaiting_ = std::noop_coroutine();
    outer_link_.reset();
    race_stop_.request_stop();
    while (running_ > 0) {
      if (!sched_->step()) std::terminate();  // contenders that can never end
    }
  }

  bool await_ready() { return awaitable_.awaiter().await_ready(); }

  template <has_context Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) {
    const context& outer = awaiting.promise().ctx();
    awaiting_ = awaiting;
    sched_ = outer.sched;
    if (outer.stop.stop_possible()) outer_link_.emplace(outer.stop, stop_both{this});

    // The timer first, so that a task racing it can be run by symmetric transfer below.
    // A contender counts as running once its await_suspend has returned: one that throws never
    // started, and nothing will arrive for it. (A contender only schedules its relay, never
    // resumes it from inside await_suspend, so counting afterwards misses no arrival.)
    timer_relay_ = start_relay(timer_buffer_, side::timer);
    suspension timer = suspend_on(timer_, timer_relay_.handle);
    ++running_;
    if (timer.run_next) sched_->schedule(timer.run_next);
    if (timer.finished) {
      --running_;
      if (settle_timer()) return awaiting;  // deadline passed: the awaitable never starts
    }

    awaitable_relay_ = start_relay(awaitable_buffer_, side::awaitable);
    awaitable_started_ = true;
    suspension awaited = suspend_on(awaitable_.awaiter(), awaitable_relay_.handle);
    ++running_;
    if (awaited.run_next) return awaited.run_next;
    if (awaited.finished) {
      --running_;
      settle_awaitable();
      if (running_ == 0) return awaiting;
    }
    return std::noop_coroutine();
  }

  deadline_result<value_type> await_resume() {
    outer_link_.reset();
    if (timed_out_ && !awaitable_started_) return deadline_result<value_type>::deadline_passed();
    std::optional<value_type> value = take_value();
    if (timed_out_) return deadline_result<value_type>::deadline_passed();
    return deadline_result<value_type>(std::move(*value));
  }

 private:
  struct stop_both {
    deadline_awaiter* self;
    void operator()() const noexcept { self->race_stop_.request_stop(); }
  };

  relay start_relay(relay_buffer& buffer, side s) {
    relay r = make_relay(buffer, *this, s);
    r.handle.promise().context_ = context{race_stop_.get_token(), sched_};
    return r;
  }

  // The timer has ended. Returns whether that decided the race as timed out.
  bool settle_timer() noexcept {
    if (decided_) return false;
    decided_ = true;
    timed_out_ = timer_.await_resume().has_value();
    race_stop_.request_stop();  // fired: the awaitable lost; failed: it must not run without one
    return timed_out_;
  }

  void settle_awaitable() noexcept {
    if (decided_) return;
    decided_ = true;
    race_stop_.request_stop();
  }

  std::coroutine_handle<> arrived(side s) noexcept override {
    --running_;
    if (s == side::timer) settle_timer();
    else settle_awaitable();
    return running_ == 0 ? awaiting_ : std::noop_coroutine();
  }

  std::optional<value_type> take_value() {
    if constexpr (std::is_void_v<raw_value>) {
      awaitable_.awaiter().await_resume();
      return value_type{};
    } else {
      return awaitable_.awaiter().await_resume();
    }
  }

  // Declared in this order so that destruction runs backwards: the outer link goes first, the
  // contenders next, the relays they referred to and the stop source last.
  //
  // One stop source serves both contenders: it is triggered only once the race is decided (or from
  // outside), when the winner has already ended, and every coraft awaiter ignores a stop request
  // that comes after it completed. (A std::stop_source allocates its shared state: the one heap
  // allocation of a wait.)
  std::stop_source race_stop_;
  relay_buffer timer_buffer_;
  relay_buffer awaitable_buffer_;
  relay timer_relay_;
  relay awaitable_relay_;
  Timer timer_;
  awaitable_slot<Awaitable> awaitable_;
  std::optional<std::stop_callback<stop_both>> outer_link_;
  std::coroutine_handle<> awaiting_;
  scheduler* sched_ = nullptr;
  int running_ = 0;                 // contenders started and not yet arrived
  bool decided_ = false;            // the first arrival has been settled
  bool timed_out_ = false;          // the timer fired first
  bool awaitable_started_ = false;  // false only when the deadline had passed at once
};

}  // namespace detail

// `co_await with_deadline(executor, when, awaitable)`: the awaitable, or timed_out() once `when`
// has come. The awaitable is moved in (a task, an event's wait(), a movable awaiter).
template <class Executor, class TimePoint, class Awaitable>
  requires deadline_timers<Executor, TimePoint>
auto with_deadline(Executor& executor, TimePoint when, Awaitable awaitable) {
  using timer = decltype(executor.sleep_until(when));
  return detail::deadline_awaiter<timer, Awaitable>(
      [&executor, when] { return executor.sleep_until(when); }, std::move(awaitable));
}

// `co_await with_timeout(executor, how_long, awaitable)`: the same, `how_long` from now.
template <class Executor, class Duration, class Awaitable>
  requires timeout_timers<Executor, Duration>
auto with_timeout(Executor& executor, Duration how_long, Awaitable awaitable) {
  using timer = decltype(executor.sleep_for(how_long));
  return detail::deadline_awaiter<timer, Awaitable>(
      [&executor, how_long] { return executor.sleep_for(how_long); }, std::move(awaitable));
}

}  // namespace coraft::co
