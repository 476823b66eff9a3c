// frames — heap allocations per timer race, per RPC call and per heartbeat, counted by a global
// operator new in this binary (allocation_count.hpp).
//
//   frames [--calls 10000] [--idle-seconds 60]
//
// Three figures, each an average over many repetitions in one simulated world:
//  * race: one wait of the leader's replicate() shape, a timer against an event that the timer
//    wins; as `when_any(timer as a task, event.wait())` and as `co::with_deadline`. The world's
//    timer costs one allocation of its own (a node in its timer map) in both.
//  * call: one sim_transport RPC call answered at once, request and reply included.
//  * heartbeat: an idle three-node cluster for --idle-seconds of virtual time; every allocation
//    of every member divided by the heartbeats the leader sent (each is a call and its reply).
// Allocations are counted, not timed: a coroutine frame is one allocation, and so is each message
// buffer, map node, std::function that does not fit its buffer, and stop state.
#include <coraft/co/deadline.hpp>
#include <coraft/co/event.hpp>
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/co/when_any.hpp>
#include <coraft/raft/node.hpp>
#include <coraft/raft/storage/memory_storage.hpp>
#include <coraft/raft/transport/sim_transport.hpp>
#include <coraft/sim/world.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "allocation_count.hpp"

namespace {

using bench::allocations;
using namespace std::chrono_literals;
using coraft::co::task;
using coraft::raft::node_id;
using coraft::sim::world;

// The shape every caller used before co::with_deadline: the timer as a one-line task.
task<coraft::co::result<void>> sleep_task(world& w, coraft::io::time_point when) {
  co_return co_await w.sleep_until(when);
}

// `rounds` waits that the timer wins; returns the allocations they made.
task<void> race_with_when_any(world* w, coraft::co::event* e, int rounds, std::uint64_t* made) {
  const std::uint64_t before = allocations;
  for (int i = 0; i < rounds; ++i) {
    auto first = co_await coraft::co::when_any(sleep_task(*w, w->now() + 1ms), e->wait());
    if (first.index() != 0) std::abort();
  }
  *made = allocations - before;
}
task<void> race_with_deadline(world* w, coraft::co::event* e, int rounds, std::uint64_t* made) {
  const std::uint64_t before = allocations;
  for (int i = 0; i < rounds; ++i) {
    auto first = co_await coraft::co::with_deadline(*w, w->now() + 1ms, e->wait());
    if (!first.timed_out()) std::abort();
  }
  *made = allocations - before;
}

struct instant_wires {
  world* w;
  void deliver(node_id, node_id, std::function<void()> on_arrival) {
    w->after(coraft::io::duration{0}, std::move(on_arrival));
  }
};
using transport = coraft::raft::sim_transport<instant_wires, world>;

// Answers every request with a default reply of its kind; ends when cancelled.
task<void> answer(transport* t) {
  for (;;) {
    auto rpc = co_await t->receive();
    if (!rpc) co_return;
    rpc->respond(coraft::raft::rpc_reply{coraft::raft::append_entries_reply{}});
  }
}
task<void> calls(transport* t, int count, std::uint64_t* made) {
  const std::uint64_t before = allocations;
  for (int i = 0; i < count; ++i) {
    auto reply = co_await t->call(2, coraft::raft::append_entries_args{});
    if (!reply) std::abort();
  }
  *made = allocations - before;
}

double per(std::uint64_t made, std::uint64_t count) {
  return count == 0 ? 0.0 : static_cast<double>(made) / static_cast<double>(count);
}

void measure_races(int rounds) {
  world w(1);
  coraft::co::event never;
  std::uint64_t old_shape = 0, new_shape = 0;
  coraft::co::scope root(w);
  root.spawn(race_with_when_any(&w, &never, rounds, &old_shape));
  root.run_until_idle();
  root.spawn(race_with_deadline(&w, &never, rounds, &new_shape));
  root.run_until_idle();
  std::printf("race (timer wins over an event): when_any %.2f, with_deadline %.2f allocations\n",
              per(old_shape, rounds), per(new_shape, rounds));
}

void measure_calls(int count) {
  world w(1);
  instant_wires wires{&w};
  coraft::raft::sim_switchboard<instant_wires, world> board(wires);
  transport caller(board, w, 1, 1s);
  transport callee(board, w, 2, 1s);
  std::uint64_t made = 0;
  coraft::co::scope root(w);
  root.spawn(answer(&callee));
  root.spawn(calls(&caller, count, &made));
  while (made == 0) w.step();
  root.request_stop();
  root.run_until_idle();
  std::printf("call (sim_transport, answered at once): %.2f allocations\n", per(made, count));
}

void measure_heartbeats(int idle_seconds) {
  using storage = coraft::raft::memory_storage<world>;
  using node = coraft::raft::node<world, transport, storage>;
  world w(1);
  instant_wires wires{&w};
  coraft::raft::sim_switchboard<instant_wires, world> board(wires);
  std::vector<coraft::raft::memory_disk> disks(3);
  std::vector<std::unique_ptr<transport>> transports;
  std::vector<std::unique_ptr<storage>> storages;
  std::vector<std::unique_ptr<node>> nodes;
  coraft::co::scope root(w);
  for (node_id id = 1; id <= 3; ++id) {
    std::vector<node_id> peers;
    for (node_id p = 1; p <= 3; ++p)
      if (p != id) peers.push_back(p);
    coraft::raft::options options;
    options.random_seed = id;
    transports.push_back(std::make_unique<transport>(board, w, id, 1s));
    storages.push_back(std::make_unique<storage>(w, disks[id - 1]));
    nodes.push_back(std::make_unique<node>(w, *transports.back(), *storages.back(), id, peers,
                                           options));
    root.spawn(nodes.back()->run());
  }
  w.run_for(5s);  // elect a leader and settle
  const std::uint64_t rpcs_before = board.rpcs_sent();
  const std::uint64_t before = allocations;
  w.run_for(std::chrono::seconds(idle_seconds));
  const std::uint64_t made = allocations - before;
  const std::uint64_t heartbeats = (board.rpcs_sent() - rpcs_before) / 2;
  std::printf("heartbeat (idle 3-node cluster, %d s): %llu heartbeats, %.2f allocations each\n",
              idle_seconds, static_cast<unsigned long long>(heartbeats), per(made, heartbeats));
  root.request_stop();
  root.run_until_idle();
}

}  // namespace

int main(int argc, char** argv) {
  int count = 10000;
  int idle_seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--calls") count = std::atoi(argv[i + 1]);
    else if (flag == "--idle-seconds") idle_seconds = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: frames [--calls N] [--idle-seconds S]\n");
      return 2;
    }
  }
  measure_races(count);
  measure_calls(count);
  measure_heartbeats(idle_seconds);
}
