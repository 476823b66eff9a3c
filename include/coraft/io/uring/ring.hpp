// coraft/io/uring/ring.hpp — one io_uring: requests prepared in batches, completions handed back.
//
// Every request carries, as its user_data, the address of the `completion` that wants its result —
// in practice the awaiter in the frame of the coroutine that waits for it — so the ring allocates
// nothing per request. Cancel requests carry user_data zero: their own CQEs only say whether the
// cancel found its target, which the target's CQE tells better, so they are dropped.
//
// A ring is confined to one thread. Requests are only *prepared* as coroutines run; submit() hands
// the whole batch to the kernel once per loop turn (or earlier, when the submission queue is full).
#pragma once

#include <liburing.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "coraft/co/result.hpp"

namespace coraft::io::uring {

// Whatever waits for a CQE. complete() only records the result and schedules a coroutine: it runs
// while the ring is reaping, so it must never resume anything inline.
class completion {
 public:
  // Called exactly once per request, with the CQE's res: a count, a descriptor, 0, or -errno.
  virtual void complete(int result) noexcept = 0;

 protected:
  completion() = default;
  completion(const completion&) = delete;
  completion& operator=(const completion&) = delete;
  ~completion() = default;
};

class ring {
 public:
  // `queue_depth` is the size of the submission queue; more requests than that may be in flight
  // (the queue is submitted whenever it fills, and the kernel never drops a completion).
  explicit ring(unsigned queue_depth) {
    if (int err = io_uring_queue_init(queue_depth < 2 ? 2 : queue_depth, &ring_, 0); err < 0) {
      throw std::system_error(co::errno_code(-err), "io_uring_queue_init");
    }
  }
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;

  // Precondition: nothing in flight (see cancel_all_and_drain). Closing the ring with requests
  // still in the kernel would let them write into memory their owners may have freed.
  ~ring() { io_uring_queue_exit(&ring_); }

  // Prepare one request that reports to `target`. `prepare(sqe)` fills in the operation; the
  // request goes to the kernel with the next submit().
  template <class Prepare>
  void request(completion& target, Prepare&& prepare) {
    io_uring_sqe* sqe = next_sqe();
    prepare(sqe);
    io_uring_sqe_set_data(sqe, &target);
    ++in_flight_;
  }

  // Make sure the next `count` requests land in the same submission. Linked requests need it: a
  // link cut by a submission boundary is silently no link at all.
  void reserve(unsigned count) {
    if (io_uring_sq_space_left(&ring_) < count) submit();
  }

  // Ask the kernel to cancel `target`'s request. Its own CQE then arrives with -ECANCELED, or
  // with its real result if it had already finished: either way exactly once. The cancel names
  // the target by address, and an address is reused by the next awaiter in the same frame; that
  // is safe because the kernel consumes SQEs in order, so this cancel is issued before any request
  // prepared after it can exist.
  void cancel(completion& target) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_cancel(sqe, &target, 0);
    io_uring_sqe_set_data64(sqe, cancel_tag);
  }

  // Requests prepared or submitted whose CQE has not been reaped yet (cancel requests excluded).
  std::size_t in_flight() const noexcept { return in_flight_; }

  // Hand every prepared request to the kernel, without waiting for any of them.
  void submit() {
    while (io_uring_sq_ready(&ring_) > 0) {
      int submitted = io_uring_submit(&ring_);
      if (submitted >= 0 || submitted == -EINTR) continue;
      if (submitted == -EBUSY || submitted == -EAGAIN) {
        // The kernel wants completions reaped before it takes more requests.
        if (dispatch() == 0) wait_for_completion();
        continue;
      }
      throw std::system_error(co::errno_code(-submitted), "io_uring_submit");
    }
  }

  // Submit what is prepared and block until at least one completion is available. A signal may
  // end the wait early; the caller's loop simply comes back.
  void submit_and_wait() {
    int submitted = io_uring_submit_and_wait(&ring_, 1);
    // -EBUSY / -EAGAIN: completions must be reaped first, which is what the caller does next.
    if (submitted >= 0 || submitted == -EINTR || submitted == -EBUSY || submitted == -EAGAIN) {
      return;
    }
    throw std::system_error(co::errno_code(-submitted), "io_uring_submit_and_wait");
  }

  // Reap every completion available now and hand each to its target. Returns how many requests
  // completed. The CQEs are copied out and released first, so a target that prepares a new
  // request (even one that forces a submit and a nested dispatch) finds the ring consistent.
  std::size_t dispatch() {
    std::size_t total = 0;
    constexpr unsigned batch_size = 64;
    io_uring_cqe* cqes[batch_size];
    while (unsigned count = io_uring_peek_batch_cqe(&ring_, cqes, batch_size)) {
      struct finished {
        std::uint64_t target;
        int result;
      } batch[batch_size];
      for (unsigned i = 0; i < count; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res};
      io_uring_cq_advance(&ring_, count);
      for (unsigned i = 0; i < count; ++i) {
        if (batch[i].target == cancel_tag) continue;
        --in_flight_;
        ++total;
        auto* target = static_cast<completion*>(reinterpret_cast<void*>(batch[i].target));
        target->complete(batch[i].result);
      }
    }
    return total;
  }

  // Cancel every request in flight and reap until the kernel has given all of them back: after
  // this, no buffer, timespec or address of any operation is touched by the kernel again. The
  // targets' complete() runs as usual (so they know they are done), but the scheduler they
  // schedule into is expected to be going away too. Needs Linux 5.19 (IORING_ASYNC_CANCEL_ANY).
  void cancel_all_and_drain() {
    if (in_flight_ == 0) return;
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, cancel_tag);
    while (in_flight_ > 0) {
      submit_and_wait();
      dispatch();
    }
  }

 private:
  static constexpr std::uint64_t cancel_tag = 0;

  // A free SQE; when the queue is full, the batch so far is submitted to make room.
  io_uring_sqe* next_sqe() {
    while (true) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
      submit();
    }
  }

  void wait_for_completion() {
    io_uring_cqe* cqe = nullptr;
    if (int err = io_uring_wait_cqe(&ring_, &cqe); err < 0 && err != -EINTR) {
      throw std::system_error(co::errno_code(-err), "io_uring_wait_cqe");
    }
  }

  io_uring ring_{};
  std::size_t in_flight_ = 0;  // requests whose CQE is still to come; changed only on this thread
};

}  // namespace coraft::io::uring
