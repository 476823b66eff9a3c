// coraft/io/uring/inbox.hpp — functions posted from other threads, and the eventfd that wakes us.
//
// post() is the executor's only thread-safe entry point. A poster appends to a mutex-protected
// queue and, if the queue was empty, writes to an eventfd. The executor's thread always keeps one
// read of that eventfd in flight on its ring, so a loop blocked in io_uring_enter wakes up as soon
// as work arrives; it then runs the queued functions itself, on its own thread.
//
// Why "only if the queue was empty" is enough: the executor takes the queue whole (swap under the
// lock) after every wake-up, so a non-empty queue always has a wake-up on its way.
#pragma once

#include <sys/eventfd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/io/fd.hpp"
#include "coraft/io/uring/ring.hpp"

namespace coraft::io::uring {

class inbox {
 public:
  inbox() : wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!wake_fd_) throw std::system_error(co::errno_code(errno), "eventfd");
  }
  inbox(const inbox&) = delete;
  inbox& operator=(const inbox&) = delete;

  // Any thread: queue `fn` to run on the executor's thread.
  void post(std::function<void()> fn) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      was_empty = queue_.empty();
      queue_.push_back(std::move(fn));
    }
    if (was_empty) wake();
  }

  // Any thread: make a blocked loop come around once, with or without work.
  void wake() noexcept {
    // Cannot fail in a way that matters: EAGAIN means the counter is already non-zero, which
    // is a pending wake-up too.
    ::eventfd_write(wake_fd_.get(), 1);
  }

  // Executor thread: keep a read of the eventfd in flight on `r`, re-armed after each wake-up.
  void listen(ring& r) {
    ring_ = &r;
    listening_ = true;
    arm();
  }

  // Executor thread: stop re-arming. The read in flight still has to come back (cancel it).
  void stop_listening() noexcept { listening_ = false; }

  // Executor thread: whether the eventfd read is in flight (it is not an operation anyone awaits).
  bool reading() const noexcept { return reading_; }

  // Executor thread: run everything posted so far, in order. Returns how many ran. Functions posted
  // while these run wait for the next turn, so a function that posts itself cannot starve the loop.
  // If one throws, the ones after it stay queued and the exception goes to whoever drives the loop.
  std::size_t run_posted() {
    // The two queues trade places, so that both keep their capacity: no allocation per turn. A
    // posted function may drive the loop itself (a scope's destructor waits for its children so):
    // that nested turn takes the queue into a vector of its own.
    std::vector<std::function<void()>> nested;
    std::vector<std::function<void()>>& batch = running_.empty() ? running_ : nested;
    {
      std::lock_guard lock(mutex_);
      batch.swap(queue_);
    }
    std::size_t ran = 0;
    struct requeue_rest {
      inbox* self;
      std::vector<std::function<void()>>* batch;
      std::size_t* ran;
      ~requeue_rest() {
        if (*ran < batch->size()) {
          std::lock_guard lock(self->mutex_);
          self->queue_.insert(
              self->queue_.begin(),
              std::make_move_iterator(batch->begin() + static_cast<std::ptrdiff_t>(*ran)),
              std::make_move_iterator(batch->end()));
          self->wake();
        }
        batch->clear();
      }
    } on_exit{this, &batch, &ran};
    while (ran < batch.size()) {
      auto fn = std::move(batch[ran]);
      ++ran;
      fn();
    }
    return ran;
  }

 private:
  // The eventfd read reports here. Its value (how many wake-ups) does not matter: the queue says
  // what to do.
  struct reader final : completion {
    explicit reader(inbox* i) noexcept : owner(i) {}
    void complete(int) noexcept override {
      owner->reading_ = false;
      if (owner->listening_) owner->arm();
    }
    inbox* owner;
  };

  void arm() noexcept {
    // Preparing a read cannot fail short of a broken ring; losing wake-ups silently would be worse
    // than stopping here, so an exception (noexcept) ends the program.
    ring_->request(reader_, [this](io_uring_sqe* sqe) {
      io_uring_prep_read(sqe, wake_fd_.get(), &wake_count_, sizeof wake_count_, 0);
    });
    reading_ = true;
  }

  unique_fd wake_fd_;
  std::mutex mutex_;
  std::vector<std::function<void()>> queue_;  // guarded by mutex_

  // Executor thread only:
  std::vector<std::function<void()>> running_;  // the outermost turn run_posted() is taking
  ring* ring_ = nullptr;
  reader reader_{this};
  std::uint64_t wake_count_ = 0;  // written by the kernel while the read is in flight
  bool listening_ = false;        // re-arm the read after each wake-up
  bool reading_ = false;          // a read is in flight
};

}  // namespace coraft::io::uring
