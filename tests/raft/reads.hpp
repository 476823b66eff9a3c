// tests/raft/reads.hpp — reads without the log (node::read_index), asked of one server from a
// scenario or a client coroutine.
#pragma once

#include <memory>
#include <optional>

#include <coraft/co/event.hpp>
#include <coraft/co/task.hpp>

#include "cluster.hpp"

namespace coraft::test {

// Asks server i for a read index. The call runs in the server's own scope (cluster::spawn_on), so
// that stopping the server ends it first. Ends with its outcome, or with nothing when the caller
// was cancelled.
inline co::task<std::optional<co::result<raft::index_t>>> read_on(cluster& c, int i) {
  struct outcome {
    std::optional<co::result<raft::index_t>> result;
    co::event done;
  };
  auto shared = std::make_shared<outcome>();
  c.spawn_on(i, [](test::member* n, std::shared_ptr<outcome> out) -> co::task<void> {
    out->result = co_await n->read_index();
    out->done.set();
  }(c.node(i), shared));
  if (!co_await shared->done.wait()) co_return std::nullopt;
  co_return shared->result;
}

// The same from a scenario's body: lets simulated time pass (with the safety checks) until the
// read ends, for at most `at_most`.
inline std::optional<co::result<raft::index_t>> read_now(cluster& c, int i, io::duration at_most = 3s) {
  std::optional<co::result<raft::index_t>> got;
  bool ended = false;
  co::scope reader(c.world());
  reader.spawn([](cluster* c, int i, std::optional<co::result<raft::index_t>>* out,
                  bool* ended) -> co::task<void> {
    auto read = co_await read_on(*c, i);
    if (read) *out = *read;
    *ended = true;
  }(&c, i, &got, &ended));
  const io::time_point give_up = c.world().now() + at_most;
  while (!ended && c.world().now() < give_up) c.step();
  reader.request_stop();
  reader.run_until_idle();
  return got;
}

}  // namespace coraft::test
