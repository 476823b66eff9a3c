// coraft/io/backoff.hpp — a pause that doubles after each failure, up to a cap, reset by success.
//
// The TCP transport waits this way between reconnects, the node between retries of a failed disk
// write. The value type only says how long; the caller awaits the pause on its executor's timer
// (for example `co_await co::with_timeout(executor, pause.next(), came_back.wait())`).
//
// The schedule: first, 2·first, 4·first, ... each clamped to cap (so a first pause above the cap
// is the cap). With jitter, each pause p is drawn uniformly from [p/2, p], so that members that
// failed together do not retry in step; the doubling goes on from p, not from the draw.
#pragma once

#include <algorithm>

#include "coraft/io/contract.hpp"
#include "coraft/io/random.hpp"

namespace coraft::io {

class backoff {
 public:
  backoff(duration first, duration cap) noexcept
      : first_(std::min(first, cap)), cap_(cap), current_(first_) {}

  // The pause the next call to next() returns, before any jitter.
  duration current() const noexcept { return current_; }

  // The pause to wait now; the one after is twice as long, up to the cap.
  duration next() noexcept {
    const duration pause = current_;
    current_ = std::min(current_ * 2, cap_);
    return pause;
  }
  // The same, drawn uniformly from [p/2, p] by `random`.
  duration next(seeded_random& random) {
    const duration pause = next();
    return pause / 2 + random.uniform(duration::zero(), pause - pause / 2);
  }

  // Success: the next pause is the first one again.
  void reset() noexcept { current_ = first_; }

 private:
  duration first_;    // never above cap_
  duration cap_;
  duration current_;  // in [first_, cap_]
};

}  // namespace coraft::io
