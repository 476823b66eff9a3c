// coraft/io/uring/write_and_sync.hpp — a gathered write and an fdatasync as one linked pair.
//
// This is how a Raft log append becomes durable. The two requests are submitted together, the write
// carrying IOSQE_IO_LINK: the kernel starts the fdatasync only after the write has completed *in
// full*, and cancels it (-ECANCELED) if the write failed or was short. One submission, no round
// trip to user space between the two, and the coroutine wakes up once, when both CQEs are in.
//
// Each request reports to its own `step` (its own user_data), because nothing promises in which
// order the two CQEs are reaped; the coroutine is scheduled when the second one arrives.
#pragma once

#include <liburing.h>
#include <sys/uio.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <stop_token>

#include "coraft/co/context.hpp"
#include "coraft/co/result.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/io/uring/files.hpp"
#include "coraft/io/uring/operation.hpp"
#include "coraft/io/uring/ring.hpp"

namespace coraft::io::uring {

// `co_await write_and_sync_operation{ring, file, pieces, offset}`: ok once every byte of `pieces`
// is written at `offset` and synced. A short write is errc::short_write, never a silent success.
// The iovec array must outlive the await.
class write_and_sync_operation {
 public:
  write_and_sync_operation(ring& r, const file& to, std::span<const iovec> pieces,
                           std::uint64_t offset) noexcept
      : ring_(&r), descriptor_(to.native_handle()), pieces_(pieces), offset_(offset) {
    for (const iovec& piece : pieces) expected_ += piece.iov_len;
  }
  // Movable before it is awaited, like every awaiter here; the steps point at their new owner.
  write_and_sync_operation(write_and_sync_operation&& other) noexcept
      : ring_(other.ring_),
        descriptor_(other.descriptor_),
        pieces_(other.pieces_),
        offset_(other.offset_),
        expected_(other.expected_) {
    if (other.write_.pending || other.sync_.pending) std::terminate();
  }
  write_and_sync_operation& operator=(write_and_sync_operation&&) = delete;
  ~write_and_sync_operation() {
    if (write_.pending || sync_.pending) std::terminate();  // see ~operation: memory still lent out
  }

  bool await_ready() const noexcept { return false; }

  template <co::has_context Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    const co::context& ctx = awaiting.promise().ctx();
    if (ctx.stop.stop_requested()) {
      write_.result = -ECANCELED;
      return false;
    }
    waiting_ = awaiting;
    sched_ = ctx.sched;
    ring_->reserve(2);  // both halves in one submission, or the link would be cut
    ring_->request(write_, [this](io_uring_sqe* sqe) {
      io_uring_prep_writev(sqe, descriptor_, pieces_.data(), static_cast<unsigned>(pieces_.size()),
                           offset_);
      io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
    });
    ring_->request(sync_, [this](io_uring_sqe* sqe) {
      io_uring_prep_fsync(sqe, descriptor_, IORING_FSYNC_DATASYNC);
    });
    write_.pending = sync_.pending = true;
    on_stop_.emplace(ctx.stop, cancel_in_kernel{this});
    return true;
  }

  co::result<void> await_resume() const noexcept {
    if (write_.result < 0) return error_from_errno(-write_.result);
    if (static_cast<std::size_t>(write_.result) != expected_) {
      return make_error_code(errc::short_write);  // the sync was cancelled by the broken link
    }
    if (sync_.result < 0) return error_from_errno(-sync_.result);
    return {};
  }

 private:
  // One half of the pair: records its result and tells the operation.
  struct step final : completion {
    explicit step(write_and_sync_operation* o) noexcept : owner(o) {}
    void complete(int r) noexcept override {
      pending = false;
      result = r;
      owner->step_done();
    }
    write_and_sync_operation* owner;
    int result = 0;
    bool pending = false;
  };

  void step_done() noexcept {
    if (!write_.pending && !sync_.pending) sched_->schedule(waiting_);
  }

  // Cancel whichever half is still in the kernel. Cancelling the write also cancels the sync,
  // through the link; cancelling a sync already running may not stop it, and then its real result
  // stands.
  struct cancel_in_kernel {
    write_and_sync_operation* self;
    void operator()() const noexcept {
      if (self->write_.pending) self->ring_->cancel(self->write_);
      if (self->sync_.pending) self->ring_->cancel(self->sync_);
    }
  };

  ring* ring_;
  int descriptor_;
  std::span<const iovec> pieces_;  // read by the kernel while the write is in flight
  std::uint64_t offset_;
  std::size_t expected_ = 0;  // the bytes a complete write reports
  step write_{this};
  step sync_{this};
  std::coroutine_handle<> waiting_;
  co::scheduler* sched_ = nullptr;
  std::optional<std::stop_callback<cancel_in_kernel>> on_stop_;
};

}  // namespace coraft::io::uring
