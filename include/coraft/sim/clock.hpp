// coraft/sim/clock.hpp — a machine's own clock: the world's virtual time, or a clock drifting from
// it at a constant rate, as a real machine's oscillator does.
//
// Each host reads its time through one (host::set_clock_rate). At rate 1 it is the world's clock
// exactly; at rate r, from the moment the rate was set, the host's clock advances r nanoseconds
// per virtual nanosecond. Timers convert back: a host sleeping until its own time t wakes at the
// first virtual instant at which its clock reads t or later, so that a coroutine that checks its
// deadline after waking never finds it still ahead.
#pragma once

#include <cmath>
#include <stdexcept>

#include "coraft/io/contract.hpp"

namespace coraft::sim {

class machine_clock {
 public:
  // From `world_now` on, run at `rate` (> 0): the local time then is kept, only its pace changes.
  void set_rate(io::time_point world_now, double rate) {
    if (!(rate > 0.0)) throw std::invalid_argument("coraft::sim::machine_clock: the rate must be positive");
    local_at_anchor_ = local(world_now);
    world_at_anchor_ = world_now;
    rate_ = rate;
  }
  double rate() const noexcept { return rate_; }

  // The local time when the world's clock reads `world_now` (not before the anchor).
  io::time_point local(io::time_point world_now) const noexcept {
    if (rate_ == 1.0) return local_at_anchor_ + (world_now - world_at_anchor_);
    const auto elapsed = static_cast<long double>((world_now - world_at_anchor_).count());
    return local_at_anchor_ + io::duration(static_cast<io::duration::rep>(std::floor(elapsed * rate_)));
  }
  // The first world time at which the local clock reads `local_time` or later.
  io::time_point world(io::time_point local_time) const noexcept {
    if (local_time <= local_at_anchor_) return world_at_anchor_;
    const auto ahead = static_cast<long double>((local_time - local_at_anchor_).count());
    if (rate_ == 1.0) return world_at_anchor_ + (local_time - local_at_anchor_);
    auto when = world_at_anchor_ + io::duration(static_cast<io::duration::rep>(std::ceil(ahead / rate_)));
    while (local(when) < local_time) when += io::duration(1);  // rounding of the division
    return when;
  }

 private:
  io::time_point world_at_anchor_{};
  io::time_point local_at_anchor_{};
  double rate_ = 1.0;
};

}  // namespace coraft::sim
