// A cluster member on a thread of its own: an io_uring executor running a raft::server, with a
// small replicated application (the list of commands applied so far, snapshotted every so often).
// The test thread talks to it only by posting to its executor, as a multi-threaded application
// would.
#pragma once

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/server.hpp>
#include <coraft/wire/codec.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tcp_test {

using executor = coraft::io::uring_executor;
using server = coraft::raft::server<executor>;

class node_thread {
 public:
  // Starts the member; returns once its executor runs. Snapshots after every `snapshot_every`
  // applied entries (0: never).
  explicit node_thread(coraft::raft::server_config config, std::size_t snapshot_every = 0)
      : snapshot_every_(snapshot_every) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, config = std::move(config), &ready]() mutable {
      body(std::move(config), ready);
    });
    started.get();
  }
  node_thread(const node_thread&) = delete;
  node_thread& operator=(const node_thread&) = delete;

  // Stops abruptly, like a crash after the last fsync: whatever is durable stays on disk.
  ~node_thread() {
    executor_->post([this] {
      scope_->request_stop();
      executor_->stop();
    });
    thread_.join();
  }

  // Runs `fn` on the member's thread and returns what it returns.
  template <class F>
  auto on_thread(F fn) -> decltype(fn(std::declval<server&>())) {
    using result = decltype(fn(std::declval<server&>()));
    std::promise<result> done;
    auto future = done.get_future();
    executor_->post([&] {
      if constexpr (std::is_void_v<result>) {
        fn(*server_);
        done.set_value();
      } else {
        done.set_value(fn(*server_));
      }
    });
    return future.get();
  }

  coraft::raft::node_status status() {
    return on_thread([](server& s) { return s.node().status(); });
  }

  // Proposes `command` and waits until it commits, or fails.
  coraft::co::result<coraft::raft::proposal> propose(std::string command) {
    std::promise<coraft::co::result<coraft::raft::proposal>> done;
    auto future = done.get_future();
    executor_->post([this, command = std::move(command), &done]() mutable {
      scope_->spawn([](server* s, std::string command,
                       std::promise<coraft::co::result<coraft::raft::proposal>>* done)
                        -> coraft::co::task<void> {
        auto outcome = co_await s->node().propose(coraft::raft::to_bytes(command));
        done->set_value(outcome);
      }(server_, std::move(command), &done));
    });
    return future.get();
  }

  // The commands applied so far, the snapshot's included.
  std::vector<std::string> history() {
    std::lock_guard lock(mutex_);
    return history_;
  }
  std::size_t snapshots_taken() {
    std::lock_guard lock(mutex_);
    return snapshots_taken_;
  }
  std::size_t snapshots_restored() {
    std::lock_guard lock(mutex_);
    return snapshots_restored_;
  }

 private:
  void body(coraft::raft::server_config config, std::promise<void>& ready) {
    executor ex;
    server s(ex, std::move(config));
    coraft::co::scope scope(ex);
    executor_ = &ex;
    server_ = &s;
    scope_ = &scope;
    scope.spawn(s.run());
    scope.spawn(apply(&s));
    ready.set_value();
    ex.run();
    scope.request_stop();
    scope.run_until_idle();
  }

  // Applies committed entries to the history, snapshotting every snapshot_every_ entries. Ends
  // when the node stops.
  coraft::co::task<void> apply(server* s) {
    std::size_t since_snapshot = 0;
    while (true) {
      auto entry = co_await s->node().applied().recv();
      if (!entry) co_return;
      std::lock_guard lock(mutex_);
      if (entry->is_snapshot) {
        history_ = coraft::wire::decode<std::vector<std::string>>(entry->payload).value();
        ++snapshots_restored_;
        continue;
      }
      if (entry->kind != coraft::raft::entry_kind::command) continue;
      history_.push_back(coraft::raft::to_string(entry->payload));
      if (snapshot_every_ && ++since_snapshot >= snapshot_every_) {
        s->node().snapshot(entry->index, coraft::wire::encode(history_));
        ++snapshots_taken_;
        since_snapshot = 0;
      }
    }
  }

  const std::size_t snapshot_every_;
  std::thread thread_;
  executor* executor_ = nullptr;
  server* server_ = nullptr;
  coraft::co::scope* scope_ = nullptr;
  std::mutex mutex_;
  std::vector<std::string> history_;
  std::size_t snapshots_taken_ = 0;
  std::size_t snapshots_restored_ = 0;
};

}  // namespace tcp_test
