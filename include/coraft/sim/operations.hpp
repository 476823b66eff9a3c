// coraft/sim/operations.hpp — the two shapes of a simulated I/O operation.
//
// An io_uring executor completes every operation later, from the kernel. The simulator decides:
//  * immediate: an operation whose effect is instant in the model (a read or a write of the page
//    cache, an open). It runs when awaited, then the coroutine goes on without suspending.
//  * disk_sync: an operation that takes a simulated latency (fdatasync, write_and_sync,
//    sync_directory). Its first part runs when awaited (the write, the snapshot of what the sync
//    will cover); it completes from a world timer, which makes the data durable and schedules the
//    coroutine.
// Both take the awaiting coroutine's context in await_suspend, so that an operation awaited by an
// already cancelled coroutine has no effect and yields cancelled().
#pragma once

#include <coroutine>
#include <optional>
#include <stop_token>
#include <utility>

#include "coraft/co/context.hpp"
#include "coraft/co/result.hpp"
#include "coraft/sim/disk.hpp"
#include "coraft/sim/world.hpp"

namespace coraft::sim {

// `co_await immediate<R, Op>{op}` yields op(), run at the moment of the co_await.
template <class R, class Operation>
class immediate {
 public:
  explicit immediate(Operation op) : operation_(std::move(op)) {}

  bool await_ready() const noexcept { return false; }
  template <co::has_context Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    if (h.promise().ctx().stop.stop_requested()) {
      outcome_.emplace(co::cancelled());
    } else {
      outcome_.emplace(operation_());
    }
    return false;  // done: continue the awaiting coroutine at once
  }
  R await_resume() { return std::move(*outcome_); }

 private:
  Operation operation_;
  std::optional<R> outcome_;
};

template <class R, class Operation>
immediate<R, Operation> make_immediate(Operation op) {
  return immediate<R, Operation>(std::move(op));
}

// `co_await disk_sync{...}`: ok once the sync has completed, EIO if it failed, or an error from its
// first part; cancelled() if the awaiting coroutine is stopped first — the sync then never happens.
// Waits on a world timer; ends when it fires or the stop token does. `begin` runs when awaited and
// returns the disk's ticket for the sync (or an error: nothing to wait for).
template <class Begin>
class disk_sync {
 public:
  disk_sync(world& w, disk& d, Begin begin) : world_(&w), disk_(&d), begin_(std::move(begin)) {}
  disk_sync(const disk_sync&) = delete;
  disk_sync& operator=(const disk_sync&) = delete;
  ~disk_sync() {
    if (timer_) world_->cancel(*timer_);
  }

  bool await_ready() const noexcept { return false; }
  template <co::has_context Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    const co::context& ctx = h.promise().ctx();
    if (ctx.stop.stop_requested()) {
      outcome_ = co::cancelled();
      return false;
    }
    co::result<disk::sync_ticket> ticket = begin_();
    if (!ticket) {
      outcome_ = ticket.error();
      return false;
    }
    ticket_ = std::move(*ticket);
    handle_ = h;
    sched_ = ctx.sched;
    timer_ = world_->after(disk_->sync_latency(), [this] {
      timer_.reset();
      outcome_ = disk_->finish_sync(ticket_);
      sched_->schedule(handle_);
    });
    on_stop_.emplace(ctx.stop, withdraw{this});
    return true;
  }
  co::result<void> await_resume() const noexcept { return outcome_; }

 private:
  struct withdraw {
    disk_sync* self;
    void operator()() const noexcept {
      if (!self->timer_) return;  // completed first; its outcome stands
      self->world_->cancel(*self->timer_);
      self->timer_.reset();
      self->outcome_ = co::cancelled();
      self->sched_->schedule(self->handle_);
    }
  };

  world* world_;
  disk* disk_;
  Begin begin_;
  disk::sync_ticket ticket_;
  std::optional<timer_key> timer_;  // engaged exactly while the sync is in progress
  std::coroutine_handle<> handle_;
  co::scheduler* sched_ = nullptr;
  co::result<void> outcome_;
  std::optional<std::stop_callback<withdraw>> on_stop_;
};

}  // namespace coraft::sim
