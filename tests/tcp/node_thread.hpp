// A cluster member on a thread of its own (raft::server_thread) with a small replicated
// application: the list of commands applied so far, snapshotted every so often. The test thread
// reaches it only through its executor, as a multi-threaded application would.
#pragma once

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/server/server_thread.hpp>
#include <coraft/wire/codec.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tcp_test {

using executor = coraft::io::uring_executor;
using server = coraft::raft::server_thread::server_type;

class node_thread {
 public:
  // Starts the member; snapshots after every `snapshot_every` applied entries (0: never).
  explicit node_thread(coraft::raft::server_config config, std::size_t snapshot_every = 0)
      : snapshot_every_(snapshot_every),
        member_(std::move(config), [this](server& s) { return apply(&s); }) {}

  // Destruction stops the member abruptly, like a crash after its last fsync.

  coraft::raft::node_status status() {
    return member_.call([](server& s) { return s.node().status(); });
  }
  coraft::raft::node_metrics metrics() { return member_.metrics(); }

  // Proposes `command` and waits until it commits, or fails.
  coraft::co::result<coraft::raft::proposal> propose(std::string command) {
    std::promise<coraft::co::result<coraft::raft::proposal>> done;
    auto future = done.get_future();
    member_.spawn([command = std::move(command), &done](server& s) -> coraft::co::task<void> {
      return propose_on(&s, command, &done);
    });
    return future.get();
  }

  // Proposes `command` and returns at once; the future holds the outcome once it is known.
  std::future<coraft::co::result<coraft::raft::proposal>> propose_later(std::string command) {
    auto done = std::make_shared<std::promise<coraft::co::result<coraft::raft::proposal>>>();
    auto future = done->get_future();
    member_.spawn([command = std::move(command), done](server& s) -> coraft::co::task<void> {
      return propose_on(&s, command, done);
    });
    return future;
  }

  coraft::raft::tcp_statistics transport_statistics() {
    return member_.call([](server& s) { return s.transport().statistics(); });
  }
  std::size_t max_message_bytes() {
    return member_.call([](server& s) { return s.transport().max_message_bytes(); });
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
  static coraft::co::task<void> propose_on(
      server* s, std::string command,
      std::promise<coraft::co::result<coraft::raft::proposal>>* done) {
    auto outcome = co_await s->node().propose(coraft::raft::to_bytes(command));
    done->set_value(outcome);
  }
  static coraft::co::task<void> propose_on(
      server* s, std::string command,
      std::shared_ptr<std::promise<coraft::co::result<coraft::raft::proposal>>> done) {
    auto outcome = co_await s->node().propose(coraft::raft::to_bytes(command));
    done->set_value(outcome);
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
  std::mutex mutex_;
  std::vector<std::string> history_;
  std::size_t snapshots_taken_ = 0;
  std::size_t snapshots_restored_ = 0;
  coraft::raft::server_thread member_;  // last: it stops before the history it writes to goes
};

}  // namespace tcp_test
