// coraft/co/detail/waiter.hpp — the parking spot shared by event and channel.
//
// A waiter lives in the frame of the coroutine that waits (no allocation). It is linked into its
// primitive's queue while suspended and leaves it in exactly one of two ways: the primitive wakes it
// with an outcome, or its stop token fires and it wakes itself with `cancelled()`. Either way the
// coroutine is *scheduled*, never resumed inline, and the other way then finds nothing to do.
#pragma once

#include <coroutine>
#include <optional>
#include <stop_token>
#include <system_error>

#include "coraft/co/context.hpp"
#include "coraft/co/result.hpp"

namespace coraft::co::detail {

class waiter;

// An intrusive FIFO of waiters; O(1) push, pop and unlink.
class waiter_queue {
 public:
  waiter_queue() = default;
  waiter_queue(const waiter_queue&) = delete;
  waiter_queue& operator=(const waiter_queue&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  waiter* front() const noexcept { return head_; }
  inline void push_back(waiter& w) noexcept;
  inline waiter* pop_front() noexcept;
  inline void unlink(waiter& w) noexcept;

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

class waiter {
 public:
  waiter() = default;
  // An awaiter may be moved before it is awaited (into when_any, say), never while parked.
  waiter(waiter&& other) noexcept : outcome_(other.outcome_) {}
  waiter& operator=(waiter&&) = delete;
  // A frame destroyed while parked leaves its queue (the stop callback unregisters itself).
  inline ~waiter();

  // Park the coroutine `h` in `queue`, unless its context is already cancelled. Returns whether it
  // parked (the value await_suspend returns).
  template <has_context Promise>
  bool park(waiter_queue& queue, std::coroutine_handle<Promise> h) {
    const context& ctx = h.promise().ctx();
    if (ctx.stop.stop_requested()) {
      outcome_ = cancelled();
      return false;
    }
    handle_ = h;
    sched_ = ctx.sched;
    queue_ = &queue;
    queue.push_back(*this);
    on_stop_.emplace(ctx.stop, cancel_me{this});
    return true;
  }

  // Called by the primitive after taking this waiter off its queue.
  void wake(std::error_code outcome = {}) noexcept {
    queue_ = nullptr;
    outcome_ = outcome;
    sched_->schedule(handle_);
  }

  std::error_code outcome() const noexcept { return outcome_; }

 private:
  friend class waiter_queue;

  struct cancel_me {
    waiter* self;
    void operator()() const noexcept {
      if (self->queue_ == nullptr) return;  // already woken; its outcome stands
      self->queue_->unlink(*self);
      self->wake(cancelled());
    }
  };

  waiter* prev_ = nullptr;
  waiter* next_ = nullptr;
  waiter_queue* queue_ = nullptr;  // non-null exactly while parked in a queue
  std::coroutine_handle<> handle_;
  scheduler* sched_ = nullptr;
  std::error_code outcome_;
  std::optional<std::stop_callback<cancel_me>> on_stop_;
};

waiter::~waiter() {
  if (queue_) queue_->unlink(*this);
}

void waiter_queue::push_back(waiter& w) noexcept {
  w.prev_ = tail_;
  w.next_ = nullptr;
  (tail_ ? tail_->next_ : head_) = &w;
  tail_ = &w;
}

waiter* waiter_queue::pop_front() noexcept {
  waiter* w = head_;
  if (w) unlink(*w);
  return w;
}

void waiter_queue::unlink(waiter& w) noexcept {
  (w.prev_ ? w.prev_->next_ : head_) = w.next_;
  (w.next_ ? w.next_->prev_ : tail_) = w.prev_;
  w.prev_ = w.next_ = nullptr;
}

}  // namespace coraft::co::detail
