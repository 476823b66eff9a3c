// coraft/co/scheduler.hpp — where suspended coroutines are resumed.
//
// One rule keeps every coroutine in coraft easy to reason about: a coroutine is resumed either by
// symmetric transfer from a task it awaited, or by its scheduler's ready queue. It is never resumed
// from inside somebody else's call (an event's set(), a stop callback, a channel's send()). Those only
// *schedule* the waiter, so no caller ever finds its stack re-entered by code it did not expect.
//
// A scheduler is confined to one thread: schedule(), and therefore every wake-up and every
// request_stop() on a token its coroutines hold, happens on that thread (other threads post()).
// Executors (io_uring, the simulator) derive from it and add the one thing they know: how to wait
// for the world when nothing is ready.
#pragma once

#include <coroutine>
#include <cstddef>

#include "coraft/co/ring_buffer.hpp"

namespace coraft::co {

class scheduler {
 public:
  scheduler() = default;
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;
  virtual ~scheduler() = default;

  // Queue `h` to be resumed by a later step(), after everything already queued (FIFO keeps runs
  // deterministic and fair).
  void schedule(std::coroutine_handle<> h) { ready_.push_back(h); }

  // Resume the coroutines that are ready now (not the ones they make ready). Returns how many ran.
  // Re-entrant: a coroutine may drive the scheduler itself (a scope's destructor does), so the queue
  // is re-checked before each pop.
  std::size_t run_ready() {
    std::size_t count = ready_.size();
    std::size_t ran = 0;
    for (; ran < count && !ready_.empty(); ++ran) {
      const std::coroutine_handle<> h = ready_.front();
      ready_.pop_front();
      h.resume();
    }
    return ran;
  }

  bool has_ready() const noexcept { return !ready_.empty(); }

  // Make progress: run what is ready, or else wait for the world (a timer, a completion) to make
  // something ready. Returns false when nothing is ready and nothing ever will be: a deadlock, from
  // the point of view of whoever is waiting.
  virtual bool step() { return run_ready() > 0; }

 private:
  ring_buffer<std::coroutine_handle<>> ready_;
};

// A scheduler with no outside world: only the ready queue. Enough for the pure coroutine vocabulary
// and its tests.
class manual_scheduler final : public scheduler {};

}  // namespace coraft::co
