// coraft/raft/server/server_thread.hpp — a cluster member on a thread of its own.
//
// A server_thread starts a thread that owns an io_uring executor and a raft::server, and runs the
// server (with an optional application coroutine beside it) until the server_thread is destroyed.
// Other threads reach the member only through the executor: call() runs a function there and
// waits for its result, spawn() starts a coroutine there. Several server_threads make a cluster in
// one process, each member on its own core, the form the benchmarks use.
//
// It is a template only so that a translation unit that includes this header without using it
// (through <coraft/coraft.hpp>, say) does not instantiate a whole server: raft::server_thread is
// the one every program uses.
#pragma once

#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/uring_executor.hpp"
#include "coraft/raft/server/server.hpp"

namespace coraft::raft {

// `Executor` is the executor the thread owns: constructed there, run there until the end.
template <class Executor = io::uring_executor>
class basic_server_thread {
 public:
  using executor_type = Executor;
  using server_type = server<Executor>;
  using coroutine = std::function<co::task<void>(server_type&)>;

  // Starts the member and returns once its executor runs. `application`, if given, is started
  // beside the server (to consume node().applied(), typically).
  explicit basic_server_thread(server_config config, coroutine application = {}) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, &config, &application, &ready] {
      Executor executor;
      server_type member(executor, std::move(config));
      co::scope scope(executor);
      executor_ = &executor;
      server_ = &member;
      scope_ = &scope;
      scope.spawn(run_recording_failure(member));
      if (application) scope.spawn(application(member));
      ready.set_value();
      executor.run();
      scope.request_stop();
      scope.run_until_idle();
    });
    started.get();
  }
  basic_server_thread(const basic_server_thread&) = delete;
  basic_server_thread& operator=(const basic_server_thread&) = delete;

  // Cancels the member's coroutines and joins the thread. Nothing is flushed on the way out: what
  // was durable stays, as after a crash.
  ~basic_server_thread() {
    executor_->post([this] {
      scope_->request_stop();
      executor_->stop();
    });
    thread_.join();
  }

  // Runs `fn(server)` on the member's thread and returns its result.
  template <class F>
  auto call(F fn) -> std::invoke_result_t<F&, server_type&> {
    using result = std::invoke_result_t<F&, server_type&>;
    std::promise<result> done;
    auto future = done.get_future();
    executor_->post([&] {
      try {
        if constexpr (std::is_void_v<result>) {
          fn(*server_);
          done.set_value();
        } else {
          done.set_value(fn(*server_));
        }
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
    return future.get();
  }

  // The node's metrics, copied on the member's thread (request_metrics) while it runs on.
  node_metrics metrics() { return request_metrics(*executor_, server_->node()).get(); }

  // Starts `c(server)` on the member's thread, in the member's scope; returns at once.
  void spawn(coroutine c) {
    executor_->post([this, c = std::move(c)] { scope_->spawn(c(*server_)); });
  }

  // Why the server stopped by itself (its address was taken, its data directory damaged), if it
  // did.
  std::exception_ptr failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  co::task<void> run_recording_failure(server_type& member) {
    try {
      co_await member.run();
    } catch (...) {
      std::lock_guard lock(mutex_);
      failure_ = std::current_exception();
    }
  }

  std::thread thread_;
  Executor* executor_ = nullptr;  // these three live on the thread's stack
  server_type* server_ = nullptr;
  co::scope* scope_ = nullptr;
  mutable std::mutex mutex_;
  std::exception_ptr failure_;
};

using server_thread = basic_server_thread<>;

}  // namespace coraft::raft
