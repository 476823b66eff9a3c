// coraft/io/uring/operation.hpp — the awaiter *is* the operation.
//
// `co_await executor.recv(s, buffer)` creates a recv_operation in the awaiting coroutine's frame.
// Its address is the request's user_data, and everything the kernel reads while the request is in
// flight (a timespec, a sockaddr, an iovec array, a msghdr) is one of its members. Because the
// coroutine stays suspended until the CQE arrives, that memory outlives the request by
// construction: no allocation, no reference counting, no registry of pending requests.
//
// Life of one operation:
//   await_suspend  the awaiting coroutine's stop token is already stopped: finish at once with
//                  cancelled(), nothing submitted. Otherwise prepare the SQE (it is submitted with
//                  the next batch) and register a stop callback.
//   stop request   the callback asks the kernel to cancel the request. It resumes nobody: the
//                  CQE still arrives, with -ECANCELED or with the real result if that came first.
//   CQE            complete() records the result and schedules the coroutine on its scheduler.
//   await_resume   the derived class turns the result into a co::result.
#pragma once

#include <liburing.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stop_token>

#include "coraft/co/context.hpp"
#include "coraft/co/result.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/io/uring/ring.hpp"

namespace coraft::io::uring {

// The base of every awaiter that is one io_uring request. `Derived` provides await_resume() and
// `void prepare(io_uring_sqe*)` (which may be private, with this class as a friend).
template <class Derived>
class operation : private completion {
 public:
  // An awaiter may be moved before it is awaited (into when_any, say), never once in flight: the
  // kernel knows it by its address.
  operation(operation&& other) noexcept : ring_(other.ring_), result_(other.result_) {
    if (other.in_flight_) std::terminate();
  }
  operation& operator=(operation&&) = delete;

  bool await_ready() const noexcept { return false; }

  template <co::has_context Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    const co::context& ctx = awaiting.promise().ctx();
    if (ctx.stop.stop_requested()) {
      result_ = -ECANCELED;
      return false;  // resume at once: cancelled before anything reached the kernel
    }
    waiting_ = awaiting;
    sched_ = ctx.sched;
    ring_->request(*this, [this](io_uring_sqe* sqe) { static_cast<Derived*>(this)->prepare(sqe); });
    in_flight_ = true;
    on_stop_.emplace(ctx.stop, cancel_in_kernel{this});
    return true;
  }

 protected:
  explicit operation(ring& r) noexcept : ring_(&r) {}

  // The kernel still owns this memory while the request is in flight; a frame destroyed in that
  // state (only possible if its owner destroys it without resuming it) would let the kernel write
  // into freed memory later. That is a broken invariant, not an outcome to handle.
  ~operation() {
    if (in_flight_) std::terminate();
  }

  // The CQE's res, or -ECANCELED if the operation was cancelled before submission.
  int result() const noexcept { return result_; }

  // The usual readings of a result.
  co::result<void> status() const noexcept {
    if (result_ < 0) return error_from_errno(-result_);
    return {};
  }
  co::result<std::size_t> byte_count() const noexcept {
    if (result_ < 0) return error_from_errno(-result_);
    return static_cast<std::size_t>(result_);
  }

 private:
  void complete(int result) noexcept final {
    in_flight_ = false;
    result_ = result;
    sched_->schedule(waiting_);
  }

  // Runs inside request_stop(), on the executor's thread (stop requests, like everything else
  // here, happen on the thread that owns the ring). Once the CQE has arrived there is nothing to
  // cancel, and the ring may even be gone.
  struct cancel_in_kernel {
    operation* self;
    void operator()() const noexcept {
      if (self->in_flight_) self->ring_->cancel(*self);
    }
  };

  ring* ring_;
  std::coroutine_handle<> waiting_;      // the coroutine that resumes when the CQE arrives
  co::scheduler* sched_ = nullptr;       // where it resumes: the scheduler of its context
  int result_ = 0;                       // valid once in_flight_ is false again
  bool in_flight_ = false;               // true from prepare to CQE
  std::optional<std::stop_callback<cancel_in_kernel>> on_stop_;
};

// Byte counts travel in 32-bit SQE fields. A larger buffer is transferred in part, which every
// read and write result already allows for (the caller sees a short count and continues).
inline unsigned clamp_length(std::size_t size) noexcept {
  constexpr std::size_t largest = 1u << 30;
  return static_cast<unsigned>(size < largest ? size : largest);
}

}  // namespace coraft::io::uring
