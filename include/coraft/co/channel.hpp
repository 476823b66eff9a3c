// coraft/co/channel.hpp — a bounded FIFO between coroutines, with back-pressure and close.
//
// send() suspends while the buffer is full, so a fast producer is slowed to its consumer's pace
// instead of growing a queue without bound. close() refuses new items and wakes every waiter; items
// already buffered are still delivered (drain), after which recv() reports `errc::closed`.
// A send or receive that can complete at once does so without suspending.
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "coraft/co/detail/waiter.hpp"
#include "coraft/co/result.hpp"

namespace coraft::co {

template <class T>
class channel {
 public:
  explicit channel(std::size_t capacity) : ring_(capacity) {
    if (capacity == 0) throw std::invalid_argument("coraft::co::channel: capacity must be > 0");
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  std::size_t capacity() const noexcept { return ring_.size(); }
  std::size_t size() const noexcept { return count_; }
  bool closed() const noexcept { return closed_; }

  // Put `value` in without waiting; false (value untouched) if the channel is full or closed.
  bool try_send(T& value) {
    if (closed_) return false;
    if (auto* r = static_cast<recv_awaiter*>(receivers_.pop_front())) {
      r->slot.emplace(std::move(value));
      r->wake();
      return true;
    }
    if (count_ == ring_.size()) return false;
    push(std::move(value));
    return true;
  }

  // Take the oldest item without waiting, if there is one.
  std::optional<T> try_recv() {
    if (count_ == 0) return std::nullopt;
    std::optional<T> item = pop();
    if (auto* s = static_cast<send_awaiter*>(senders_.pop_front())) {
      push(std::move(*s->value));
      s->wake();
    }
    return item;
  }

  // Refuse new items and wake every waiter: senders get `errc::closed` (their item is dropped),
  // receivers too once the buffer is empty.
  void close() noexcept {
    closed_ = true;
    while (detail::waiter* w = senders_.pop_front()) w->wake(errc::closed);
    while (detail::waiter* w = receivers_.pop_front()) w->wake(errc::closed);
  }

  // `co_await send(v)`: ok once v is in the channel; `errc::closed` or cancelled() otherwise.
  struct send_awaiter : detail::waiter {
    channel* self;
    std::optional<T> value;
    send_awaiter(channel* c, T&& v) : self(c), value(std::move(v)) {}
    bool await_ready() {
      if (self->closed_) {
        refused = true;
        return true;
      }
      return self->try_send(*value);
    }
    template <has_context Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      return park(self->senders_, h);
    }
    result<void> await_resume() const noexcept {
      if (refused) return errc::closed;
      return outcome();
    }
    bool refused = false;
  };
  send_awaiter send(T value) { return send_awaiter{this, std::move(value)}; }

  // `co_await recv()`: the oldest item; `errc::closed` once closed and drained; or cancelled().
  struct recv_awaiter : detail::waiter {
    channel* self;
    std::optional<T> slot;
    explicit recv_awaiter(channel* c) noexcept : self(c) {}
    bool await_ready() {
      slot = self->try_recv();
      return slot.has_value() || self->closed_;
    }
    template <has_context Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      return park(self->receivers_, h);
    }
    result<T> await_resume() {
      if (slot) return std::move(*slot);
      if (outcome()) return outcome();
      return errc::closed;
    }
  };
  recv_awaiter recv() noexcept { return recv_awaiter{this}; }

 private:
  void push(T&& value) {
    ring_[(head_ + count_) % ring_.size()].emplace(std::move(value));
    ++count_;
  }
  std::optional<T> pop() {
    std::optional<T> item = std::move(ring_[head_]);
    ring_[head_].reset();
    head_ = (head_ + 1) % ring_.size();
    --count_;
    return item;
  }

  std::vector<std::optional<T>> ring_;  // fixed size: the capacity
  std::size_t head_ = 0;                // index of the oldest item
  std::size_t count_ = 0;               // items buffered
  bool closed_ = false;
  detail::waiter_queue senders_;    // parked only while the buffer is full
  detail::waiter_queue receivers_;  // parked only while the buffer is empty
};

}  // namespace coraft::co
