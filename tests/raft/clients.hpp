// tests/raft/clients.hpp — concurrent clients for scenario tests.
//
// The lab runs its clients as goroutines beside the test body. Here they are coroutines on the
// cluster's world, owned by a `clients` scope: they run whenever the test body lets simulated time
// pass (c.sleep(), c.one(), ...), so every step they take is followed by the safety checks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>

#include "cluster.hpp"

namespace coraft::test {

// Owns the client coroutines of one test. Declared after the cluster, so that the clients end
// before the cluster (which every client refers to) is destroyed.
class clients {
 public:
  explicit clients(cluster& c) : cluster_(c), scope_(c.world()) {}
  clients(const clients&) = delete;
  clients& operator=(const clients&) = delete;
  // A test that failed leaves early: cancel the clients and let them end. A client's own failure
  // is then dropped, since the test already reports one.
  ~clients() {
    scope_.request_stop();
    try {
      scope_.run_until_idle();
    } catch (...) {
    }
  }

  void spawn(co::task<void> client) { scope_.spawn(std::move(client)); }
  std::size_t running() const noexcept { return scope_.size(); }

  // Rethrow a client's failure now, if one failed.
  void check() {
    if (scope_.failures() == 0) return;
    scope_.request_stop();
    scope_.run_until_idle();
  }

  // Let simulated time pass, checking safety after every step, until every client has ended;
  // fails if that takes more than `at_most`. Rethrows a client's failure.
  void join(io::duration at_most) {
    const io::time_point give_up = cluster_.world().now() + at_most;
    while (scope_.size() > 0) {
      check();
      if (cluster_.world().now() > give_up) cluster_.fail("clients still running after the deadline");
      cluster_.step();
    }
    scope_.run_until_idle();
  }

 private:
  cluster& cluster_;
  co::scope scope_;
};

// The world's timer as a task: `co_await pause(c, d)` is false once the client is cancelled.
inline co::task<bool> pause(cluster& c, io::duration how_long) {
  co_return (co_await c.world().sleep_for(how_long)).has_value();
}

// The lab's one() as a client coroutine (see cluster::one): ends with the index `command` committed
// at, or with nothing if the client was cancelled. The cluster outlives it (see `clients`).
inline co::task<std::optional<raft::index_t>> one_async(cluster& c, raft::bytes command, int expected,
                                                        bool retry) {
  const io::time_point give_up = c.world().now() + 10s;
  int starts = 0;
  while (c.world().now() < give_up) {
    std::optional<raft::index_t> index;
    for (int k = 0; k < c.size(); ++k) {
      starts = (starts + 1) % c.size();
      if (c.running(starts) && c.connected(starts)) {
        auto r = c.node(starts)->start(command);
        if (r.is_leader) {
          index = r.index;
          break;
        }
      }
    }
    if (index) {
      const io::time_point agree_by = c.world().now() + 2s;
      while (c.world().now() < agree_by) {
        auto [count, value] = c.n_committed(*index);
        if (count > 0 && count >= expected && value == command) co_return *index;
        if (!co_await pause(c, 20ms)) co_return std::nullopt;
      }
      if (!retry) c.fail("one(" + raft::to_string(command) + ") failed to reach agreement");
    } else {
      if (!co_await pause(c, 50ms)) co_return std::nullopt;
    }
  }
  c.fail("one(" + raft::to_string(command) + ") failed to reach agreement");
}

// A command of `size` random printable bytes (the lab's randstring).
inline raft::bytes random_command(cluster& c, std::size_t size) {
  std::string text(size, ' ');
  for (char& ch : text) ch = static_cast<char>('a' + c.world().random().below(26));
  return raft::to_bytes(text);
}

}  // namespace coraft::test
