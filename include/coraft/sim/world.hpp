// coraft/sim/world.hpp — the simulated world: a virtual clock and the event loop that drives it.
//
// The world is a co::scheduler, and its step() is the whole simulator: run what is ready; if
// nothing is, jump the clock to the earliest pending timer and fire it. Time therefore
// passes only when every coroutine is waiting, and an hour of simulated time costs only the events
// that happen in it, not an hour.
//
// Determinism is the point, so nothing here depends on more than the seed:
//  * timers are ordered by (deadline, sequence number of their creation), so two timers due at the
//    same instant fire in the order they were set, never in an order chosen by addresses;
//  * ready coroutines run in FIFO order, the world's own first, then each attached machine's
//    (hosts attach their ready queues) in the order they attached;
//  * every random choice comes from one sim::seeded_random seeded by the world's seed;
//  * every event is folded into a trace whose fingerprint two runs can compare.
// (Functions posted from other threads are the one way in that the seed cannot order; a
// deterministic test posts only from the thread that steps the world.)
//
// Timer callbacks run from step(), outside any coroutine. Like every coraft wake-up they only
// schedule a coroutine (or move bytes between buffers and then schedule one); they never resume it.
#pragma once

#include <compare>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

#include "coraft/co/context.hpp"
#include "coraft/co/result.hpp"
#include "coraft/co/scheduler.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/sim/random.hpp"
#include "coraft/sim/trace.hpp"

namespace coraft::sim {

// A scheduled timer: its deadline, and its place among the timers set for that same deadline.
struct timer_key {
  io::time_point deadline;
  std::uint64_t sequence = 0;
  friend auto operator<=>(const timer_key&, const timer_key&) = default;
};

class sleep_awaiter;

class world : public co::scheduler {
 public:
  // The virtual clock starts at zero (io::time_point{}): printed times read as "since the start".
  explicit world(std::uint64_t seed) : seed_(seed), random_(seed) {}

  std::uint64_t seed() const noexcept { return seed_; }
  io::time_point now() const noexcept { return now_; }
  // How long the simulation has run, in virtual time.
  io::duration elapsed() const noexcept { return now_.time_since_epoch(); }

  sim::seeded_random& random() noexcept { return random_; }
  sim::trace& trace() noexcept { return trace_; }
  // Record an event at the current virtual time (see trace.hpp).
  void note(std::string_view who, std::string_view what, std::uint64_t detail = 0) {
    trace_.record(now_, who, what, detail);
  }

  // ---- timers ----------------------------------------------------------------------------------

  // Call `fire` from step() once the clock reaches `when` (a time in the past means now).
  timer_key at(io::time_point when, std::function<void()> fire) {
    timer_key key{when < now_ ? now_ : when, next_sequence_++};
    timers_.emplace(key, std::move(fire));
    return key;
  }
  timer_key after(io::duration delay, std::function<void()> fire) {
    return at(now_ + delay, std::move(fire));
  }
  // Withdraw a timer that has not fired. Returns whether it was still pending.
  bool cancel(const timer_key& key) noexcept { return timers_.erase(key) > 0; }

  std::size_t pending_timers() const noexcept { return timers_.size(); }
  std::optional<io::time_point> next_deadline() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first.deadline;
  }

  // `co_await world.sleep_until(t)` / `sleep_for(d)`: see sleep_awaiter below.
  inline sleep_awaiter sleep_until(io::time_point when);
  inline sleep_awaiter sleep_for(io::duration how_long);

  // ---- the machines' ready queues, posted functions, failures ----------------------------------

  // Drain `member`'s ready queue in step(), after the world's own. A host attaches itself for its
  // lifetime and must detach before the world is destroyed.
  void attach(co::scheduler& member) { members_.push_back(&member); }
  void detach(co::scheduler& member) noexcept {
    std::erase(members_, &member);
  }

  // Run `fn` from a later step(). The one member function that may be called from another thread;
  // `owner` tags the function so that forget_posts(owner) can withdraw it before the owner dies.
  void post(std::function<void()> fn, const void* owner = nullptr) {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back({owner, std::move(fn)});
  }
  void forget_posts(const void* owner) {
    std::lock_guard lock(posted_mutex_);
    std::erase_if(posted_, [owner](const posted_function& p) { return p.owner == owner; });
  }

  // An exception escaped a coroutine that nobody awaits (a host's top-level coroutine): a bug in
  // the code under test. The simulation stops: the current step() rethrows it.
  void fail(std::exception_ptr failure) noexcept {
    if (!failure_) failure_ = std::move(failure);
  }

  // ---- driving the simulation ------------------------------------------------------------------

  // Run posted functions, else every coroutine that is ready, else fire the earliest timer (moving
  // the clock to its deadline). Returns false when there was nothing to do: nothing is ready and no
  // timer is pending, so nothing ever will be (unless another thread posts).
  bool step() override {
    bool progressed = run_posted() > 0;
    if (!progressed) {
      std::size_t ran = run_ready();
      for (std::size_t i = 0; i < members_.size(); ++i) ran += members_[i]->run_ready();
      progressed = ran > 0 || fire_next_timer();
    }
    if (failure_) std::rethrow_exception(std::exchange(failure_, {}));
    return progressed;
  }

  // Run everything due up to `deadline`, then leave the clock there.
  void run_until(io::time_point deadline) {
    while (busy_now() || due_by(deadline)) step();
    if (now_ < deadline) now_ = deadline;
  }
  void run_for(io::duration how_long) { run_until(now_ + how_long); }

  // Run until `done()` holds (checked before each step) or, failing that, until everything due by
  // `deadline` has run. Returns done(). The clock stops where done() became true.
  template <class Predicate>
  bool run_until(Predicate done, io::time_point deadline) {
    while (!done()) {
      if (!busy_now() && !due_by(deadline)) {
        if (now_ < deadline) now_ = deadline;
        return done();
      }
      step();
    }
    return true;
  }
  template <class Predicate>
  bool run_for(Predicate done, io::duration at_most) {
    return run_until(std::move(done), now_ + at_most);
  }

 private:
  struct posted_function {
    const void* owner;
    std::function<void()> fn;
  };

  std::size_t run_posted() {
    std::vector<posted_function> batch;
    {
      std::lock_guard lock(posted_mutex_);
      batch.swap(posted_);
    }
    for (auto& p : batch) p.fn();
    return batch.size();
  }

  bool busy_now() {
    if (has_ready()) return true;
    for (auto* member : members_) {
      if (member->has_ready()) return true;
    }
    std::lock_guard lock(posted_mutex_);
    return !posted_.empty();
  }
  bool due_by(io::time_point deadline) const {
    return !timers_.empty() && timers_.begin()->first.deadline <= deadline;
  }

  bool fire_next_timer() {
    if (timers_.empty()) return false;
    auto first = timers_.begin();
    now_ = first->first.deadline;
    trace_.mix(first->first.sequence);
    std::function<void()> fire = std::move(first->second);
    timers_.erase(first);
    fire();
    return true;
  }

  std::uint64_t seed_;
  io::time_point now_{};  // virtual; only fire_next_timer() and run_until() move it, never back
  sim::seeded_random random_;
  sim::trace trace_;
  std::map<timer_key, std::function<void()>> timers_;  // ordered: the next to fire is first
  std::uint64_t next_sequence_ = 0;
  std::vector<co::scheduler*> members_;  // attached ready queues, in attach order
  std::mutex posted_mutex_;               // guards posted_ (post() may come from other threads)
  std::vector<posted_function> posted_;
  std::exception_ptr failure_;  // the first uncaught exception, until step() rethrows it
};

// `co_await world.sleep_until(t)` suspends the awaiting coroutine until the virtual clock reaches t
// and yields ok; a deadline already reached yields ok at once. If the awaiting coroutine's stop
// token fires first, the timer is withdrawn (it never fires) and the await yields cancelled().
// The awaiter lives in the coroutine frame; the timer refers to it until it fires or is withdrawn.
class sleep_awaiter {
 public:
  sleep_awaiter(world& w, io::time_point deadline) noexcept : world_(&w), deadline_(deadline) {}
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;
  ~sleep_awaiter() {
    if (timer_) world_->cancel(*timer_);  // a frame destroyed while asleep leaves no timer behind
  }

  bool await_ready() const noexcept { return false; }

  template <co::has_context Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    const co::context& ctx = h.promise().ctx();
    if (ctx.stop.stop_requested()) {
      outcome_ = co::cancelled();
      return false;
    }
    if (deadline_ <= world_->now()) return false;
    handle_ = h;
    sched_ = ctx.sched;
    timer_ = world_->at(deadline_, [this] {
      timer_.reset();
      sched_->schedule(handle_);
    });
    on_stop_.emplace(ctx.stop, withdraw{this});
    return true;
  }

  co::result<void> await_resume() const noexcept { return outcome_; }

 private:
  // Runs inside request_stop(): withdraw the timer and schedule the sleeper, unless it already fired.
  struct withdraw {
    sleep_awaiter* self;
    void operator()() const noexcept {
      if (!self->timer_) return;  // fired first; its outcome (ok) stands
      self->world_->cancel(*self->timer_);
      self->timer_.reset();
      self->outcome_ = co::cancelled();
      self->sched_->schedule(self->handle_);
    }
  };

  world* world_;
  io::time_point deadline_;
  std::optional<timer_key> timer_;  // engaged exactly while the timer is pending
  std::coroutine_handle<> handle_;
  co::scheduler* sched_ = nullptr;
  std::error_code outcome_;
  std::optional<std::stop_callback<withdraw>> on_stop_;
};

sleep_awaiter world::sleep_until(io::time_point when) { return sleep_awaiter(*this, when); }
sleep_awaiter world::sleep_for(io::duration how_long) {
  return sleep_awaiter(*this, now_ + how_long);
}

}  // namespace coraft::sim
