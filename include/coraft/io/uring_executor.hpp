// coraft/io/uring_executor.hpp — the real-world executor: one thread, one io_uring, real time.
//
// uring_executor is a co::scheduler whose step() knows how to wait for the world. One loop turn:
//
//   1. resume the coroutines that are ready and run the functions posted from other threads;
//   2. if any ran, submit what they prepared (one io_uring_enter for the whole batch) and schedule
//      the completions that are already in; the turn ends;
//   3. otherwise submit and block until at least one completion arrives, then schedule every
//      coroutine whose operation completed.
//
// Completions only *schedule* coroutines; they run at the next turn, on the executor's thread.
//
// Threading: everything but post(), stop() and work guards belongs to the thread that drives the
// loop — including stop requests on the stop tokens of coroutines that await these operations (from
// elsewhere, post() the request_stop()).
//
// Destruction: declare the executor before the scopes that run on it, so that they end first. If
// operations are still in flight when it is destroyed, it cancels them all and waits until the
// kernel has given each one back, so no buffer is written after the executor is gone. The
// coroutines that awaited them are not resumed: their frames still belong to whoever owns them.
// Functions posted but not yet run are dropped.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/co/scheduler.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/endpoint.hpp"
#include "coraft/io/file_system.hpp"
#include "coraft/io/uring/files.hpp"
#include "coraft/io/uring/inbox.hpp"
#include "coraft/io/uring/ring.hpp"
#include "coraft/io/uring/sockets.hpp"
#include "coraft/io/uring/timers.hpp"
#include "coraft/io/uring/write_and_sync.hpp"

namespace coraft::io {

class uring_executor final : public co::scheduler {
 public:
  using listener = uring::listener;
  using stream = uring::stream;
  using file = uring::file;

  // `queue_depth` bounds how many requests go to the kernel in one submission, not how many may be
  // in flight. Throws std::system_error if the kernel refuses an io_uring (a broken environment).
  explicit uring_executor(unsigned queue_depth = 256) : ring_(queue_depth) { inbox_.listen(ring_); }

  ~uring_executor() override {
    inbox_.stop_listening();
    ring_.cancel_all_and_drain();
  }

  // ---- Driving the loop -------------------------------------------------------------------------

  // One loop turn (see above). Returns false when nothing is ready, no operation is in flight and
  // no work guard promises a post: nothing could ever happen again.
  bool step() override { return turn(guards_.load(std::memory_order_acquire) > 0); }

  // Run loop turns until stop() is called, waiting for posts whenever there is nothing else to do.
  void run() {
    while (!stop_requested_) turn(/*wait_for_posts=*/true);
    stop_requested_ = false;  // run() may be called again
  }

  // Any thread: make run() return after the functions posted before this one have run.
  void stop() {
    post([this] { stop_requested_ = true; });
  }

  // Any thread: run `fn` on the executor's thread, at a coming loop turn, in posting order.
  void post(std::function<void()> fn) { inbox_.post(std::move(fn)); }

  // While a work guard lives, step() waits for posts instead of reporting that nothing can happen:
  // a coroutine waiting for something another thread will post is not deadlocked.
  class work_guard {
   public:
    explicit work_guard(uring_executor& e) noexcept : owner_(&e) {
      owner_->guards_.fetch_add(1, std::memory_order_release);
    }
    work_guard(work_guard&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    work_guard(const work_guard&) = delete;
    work_guard& operator=(const work_guard&) = delete;
    work_guard& operator=(work_guard&&) = delete;
    // Any thread. The last guard wakes the loop, so that a step() waiting only for posts returns.
    ~work_guard() {
      if (owner_ && owner_->guards_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        owner_->inbox_.wake();
      }
    }

   private:
    uring_executor* owner_;
  };

  // Operations submitted (or about to be) whose completion has not arrived yet.
  std::size_t operations_in_flight() const noexcept {
    return ring_.in_flight() - (inbox_.reading() ? 1 : 0);
  }

  // ---- Timers -----------------------------------------------------------------------------------

  time_point now() const noexcept { return clock::now(); }
  uring::sleep_operation sleep_until(time_point deadline) noexcept { return {ring_, deadline}; }
  uring::sleep_operation sleep_for(duration how_long) noexcept {
    time_point start = now();
    // "Forever" (duration::max()) must not overflow into the past.
    bool too_far = how_long > time_point::max() - start;
    return {ring_, too_far ? time_point::max() : start + how_long};
  }

  // ---- Streams ----------------------------------------------------------------------------------

  co::result<listener> listen(const endpoint& local) { return uring::listen(local); }
  uring::accept_operation accept(listener& from) noexcept { return {ring_, from}; }
  uring::connect_operation connect(const endpoint& remote) { return {ring_, remote}; }
  uring::recv_operation recv(stream& from, std::span<std::byte> buffer) noexcept {
    return {ring_, from, buffer};
  }
  uring::send_operation send(stream& to, std::span<const std::byte> bytes) noexcept {
    return {ring_, to, bytes};
  }
  uring::sendv_operation sendv(stream& to, std::span<const iovec> pieces) noexcept {
    return {ring_, to, pieces};
  }

  // ---- Files ------------------------------------------------------------------------------------

  uring::open_operation open(const std::string& path, int flags) { return {ring_, path, flags}; }
  uring::pread_operation pread(file& from, std::span<std::byte> buffer,
                               std::uint64_t offset) noexcept {
    return {ring_, from, buffer, offset};
  }
  uring::pwrite_operation pwrite(file& to, std::span<const std::byte> bytes,
                                 std::uint64_t offset) noexcept {
    return {ring_, to, bytes, offset};
  }
  uring::pwritev_operation pwritev(file& to, std::span<const iovec> pieces,
                                   std::uint64_t offset) noexcept {
    return {ring_, to, pieces, offset};
  }
  uring::fdatasync_operation fdatasync(file& f) noexcept { return {ring_, f}; }
  uring::write_and_sync_operation write_and_sync(file& to, std::span<const iovec> pieces,
                                                 std::uint64_t offset) noexcept {
    return {ring_, to, pieces, offset};
  }
  uring::sync_directory_operation sync_directory(const std::string& path) {
    return {ring_, path};
  }

  co::result<std::uint64_t> file_size(file& f) { return file_system::size(f.native_handle()); }
  co::result<void> truncate(file& f, std::uint64_t length) {
    return file_system::truncate(f.native_handle(), length);
  }
  co::result<void> preallocate(file& f, std::uint64_t length) {
    return file_system::preallocate(f.native_handle(), length);
  }
  co::result<void> rename(const std::string& from, const std::string& to) {
    return file_system::rename(from, to);
  }
  co::result<void> remove(const std::string& path) { return file_system::remove(path); }
  uring::punch_hole_operation punch_hole(file& f, std::uint64_t offset,
                                         std::uint64_t length) noexcept {
    return {ring_, f, offset, length};
  }
  uring::unlink_operation unlink(const std::string& path) { return {ring_, path}; }
  co::result<void> make_directory(const std::string& path) {
    return file_system::make_directory(path);
  }
  co::result<std::vector<std::string>> list_directory(const std::string& path) {
    return file_system::list_directory(path);
  }

 private:
  // One loop turn; `wait_for_posts` says whether to block when only a post could wake us.
  bool turn(bool wait_for_posts) {
    bool ran = run_ready() > 0;
    if (inbox_.run_posted() > 0) ran = true;
    if (ran) {
      ring_.submit();    // what those coroutines prepared goes to the kernel as one batch
      ring_.dispatch();  // completions already in are scheduled for the next turn
      return true;
    }
    if (operations_in_flight() == 0 && !wait_for_posts) return false;
    ring_.submit_and_wait();
    ring_.dispatch();
    inbox_.run_posted();
    return true;
  }

  uring::ring ring_;
  uring::inbox inbox_;                     // posted functions; its eventfd read lives on ring_
  std::atomic<std::size_t> guards_ = 0;    // live work guards (any thread)
  bool stop_requested_ = false;            // set by the function stop() posts; loop thread only
};

static_assert(executor<uring_executor>);

}  // namespace coraft::io
