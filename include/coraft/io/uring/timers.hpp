// coraft/io/uring/timers.hpp — sleep_until as an IORING_OP_TIMEOUT on an absolute deadline.
//
// An absolute deadline (IORING_TIMEOUT_ABS) rather than a relative one, so that the time between
// preparing the request and the kernel reading it is not added to the sleep. io_uring timeouts use
// CLOCK_MONOTONIC, the clock behind std::chrono::steady_clock on Linux.
#pragma once

#include <linux/time_types.h>
#include <liburing.h>

#include <cerrno>
#include <chrono>

#include "coraft/co/result.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/uring/operation.hpp"

namespace coraft::io::uring {

// `co_await sleep_operation{ring, deadline}`: ok at the deadline (at once if it has passed),
// cancelled() if the awaiting coroutine is stopped first.
class sleep_operation final : public operation<sleep_operation> {
 public:
  sleep_operation(ring& r, time_point deadline) noexcept : operation(r) {
    using namespace std::chrono;
    auto since_epoch = deadline.time_since_epoch();
    if (since_epoch < duration::zero()) since_epoch = duration::zero();
    auto whole_seconds = duration_cast<seconds>(since_epoch);
    deadline_.tv_sec = whole_seconds.count();
    deadline_.tv_nsec = duration_cast<nanoseconds>(since_epoch - whole_seconds).count();
  }

  co::result<void> await_resume() const noexcept {
    // A timeout that expires reports -ETIME: for a sleep, that is success.
    if (result() == -ETIME) return {};
    return status();
  }

 private:
  friend class operation<sleep_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_timeout(sqe, &deadline_, 0, IORING_TIMEOUT_ABS);
  }

  __kernel_timespec deadline_{};  // read by the kernel when the request is submitted
};

}  // namespace coraft::io::uring
