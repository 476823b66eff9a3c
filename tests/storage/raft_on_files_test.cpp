// Raft on file storage: three nodes, each on its own simulated machine with its own disk. A crash
// is a power cut (the disk keeps only what was synced) and the node recovers from its files, with
// Raft's safety properties checked after every simulated step.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../raft/cluster.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using coraft::test::raft_wires;
using coraft::test::safety_checker;
using storage_test::seeds;
namespace co = coraft::co;
namespace io = coraft::io;
namespace raft = coraft::raft;
namespace sim = coraft::sim;

namespace {

using host_transport = raft::sim_transport<raft_wires, sim::host>;
using host_storage = raft::file_storage<sim::host>;
using host_node = raft::node<sim::host, host_transport, host_storage>;

class file_cluster {
 public:
  static constexpr int size = 3;

  explicit file_cluster(std::uint64_t seed)
      : seed_(seed),
        world_(seed),
        links_(world_),
        hosts_network_(world_),
        wires_{&world_, &links_},
        board_(wires_) {
    sim::link_faults faults;
    faults.min_delay = 0ms;
    faults.max_delay = 2ms;
    links_.set_faults(faults);
    for (int i = 0; i < size; ++i) {
      links_.add_host(raft_wires::host(id(i)));
      hosts_.push_back(
          std::make_unique<sim::host>(world_, hosts_network_, raft_wires::host(id(i))));
      servers_.emplace_back();
    }
    for (int i = 0; i < size; ++i) start(i);
  }
  file_cluster(const file_cluster&) = delete;
  file_cluster& operator=(const file_cluster&) = delete;
  ~file_cluster() {
    for (int i = 0; i < size; ++i) stop(i);
  }

  static raft::node_id id(int i) { return static_cast<raft::node_id>(i + 1); }
  sim::world& world() { return world_; }
  sim::host& host(int i) { return *hosts_[i]; }
  host_node& node(int i) { return *servers_[i].node; }
  const host_storage& storage(int i) const { return *servers_[i].storage; }

  // Cut server i's power: its coroutines stop where they are, its disk keeps what was synced, and
  // it starts again from its files.
  void power_cut(int i) {
    stop(i);
    hosts_[i]->crash();
    hosts_[i]->restart();
    start(i);
  }

  // Gets `command` committed, through whichever node leads; returns its index.
  raft::index_t commit(const raft::bytes& command) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      int leader = -1;
      REQUIRE(run_until([&] { return (leader = find_leader()) >= 0; }, 5s));
      const auto started = node(leader).start(command);
      if (!started.is_leader) continue;
      const bool committed = run_until(
          [&] {
            return checker_.committed_count() >= started.index &&
                   checker_.committed(started.index).payload == command;
          },
          2s);
      if (committed) return started.index;
    }
    FAIL("no agreement on a command");
    return 0;
  }

  // Steps the world until every node has applied `index`.
  bool all_applied(raft::index_t index) {
    return run_until(
        [&] {
          for (int i = 0; i < size; ++i)
            if (node(i).status().last_applied < index) return false;
          return true;
        },
        10s);
  }

 private:
  struct server {
    std::unique_ptr<host_storage> storage;
    std::unique_ptr<host_transport> transport;
    std::unique_ptr<host_node> node;
    std::unique_ptr<co::scope> life;  // the node's run() and the application consuming its entries
    std::uint64_t runs = 0;
  };

  void start(int i) {
    server& s = servers_[i];
    sim::host& h = *hosts_[i];
    std::vector<raft::node_id> peers;
    for (int j = 0; j < size; ++j)
      if (j != i) peers.push_back(id(j));
    raft::options options = coraft::test::lab_options();
    options.random_seed = seed_ * 7919 + static_cast<std::uint64_t>(i) * 131 + ++s.runs;
    s.storage = std::make_unique<host_storage>(h, "/raft",
                                               raft::file_storage_options{.segment_size = 2048});
    s.transport = std::make_unique<host_transport>(board_, h, id(i), 100ms);
    s.node = std::make_unique<host_node>(h, *s.transport, *s.storage, id(i), peers, options);
    s.life = std::make_unique<co::scope>(h);
    checker_.restarted(id(i));
    s.life->spawn(s.node->run());
    s.life->spawn(application(i));
  }

  void stop(int i) {
    server& s = servers_[i];
    if (!s.life) return;
    s.life->request_stop();
    while (s.life->size() > 0) world_.step();
    s.life->run_until_idle();  // rethrows what a node's coroutine threw
    s.life.reset();
    s.node.reset();
    s.transport.reset();
    s.storage.reset();
  }

  // The application of server i: takes each applied entry and snapshots its state every 16 entries
  // (the state is just how far it has applied). Ends when the node stops.
  co::task<void> application(int i) {
    host_node* n = servers_[i].node.get();
    for (;;) {
      auto entry = co_await n->applied().recv();
      if (!entry) co_return;
      checker_.applied(id(i), *entry);
      if (!entry->is_snapshot && entry->index % 16 == 0) {
        n->snapshot(entry->index,
                    raft::to_bytes("applied through " + std::to_string(entry->index)));
      }
    }
  }

  int find_leader() {
    for (int i = 0; i < size; ++i)
      if (node(i).status().role == raft::role::leader) return i;
    return -1;
  }

  // Steps the world, checking Raft's safety after every step, until `done` or `limit` has passed.
  bool run_until(const std::function<bool()>& done, io::duration limit) {
    const io::time_point deadline = world_.now() + limit;
    while (!done()) {
      if (world_.now() > deadline || !world_.step()) return false;
      for (int i = 0; i < size; ++i) checker_.check_node(node(i));
    }
    return true;
  }

  std::uint64_t seed_;
  sim::world world_;
  sim::links links_;            // carries the Raft messages
  sim::network hosts_network_;  // unused: a host needs one to exist
  raft_wires wires_;
  raft::sim_switchboard<raft_wires, sim::host> board_;
  std::vector<std::unique_ptr<sim::host>> hosts_;
  std::vector<server> servers_;
  safety_checker checker_;
};

}  // namespace

TEST_CASE(
    "Raft on files: three nodes on simulated disks keep every committed entry through power cuts") {
  for (std::uint64_t seed : seeds(6)) {
    CAPTURE(seed);
    file_cluster c(seed);
    auto& random = c.world().random();
    raft::index_t last = 0;
    std::uint64_t value = 0;
    for (int round = 0; round < 8; ++round) {
      CAPTURE(round);
      for (int k = 0; k < 12; ++k)
        last = c.commit(raft::to_bytes("command " + std::to_string(++value)));
      REQUIRE(c.all_applied(last));
      if (round == 4) {
        for (int i = 0; i < file_cluster::size; ++i) c.power_cut(i);  // all at once
      } else {
        c.power_cut(static_cast<int>(random.below(file_cluster::size)));
      }
    }
    last = c.commit(raft::to_bytes("after the last power cut"));
    REQUIRE(c.all_applied(last));
    for (int i = 0; i < file_cluster::size; ++i) {
      CAPTURE(i);
      CHECK(c.node(i).log().base_index() > 0);  // compacted into a snapshot file
      auto names = c.host(i).list_directory("/raft");
      REQUIRE(names);
      CHECK(std::count_if(names->begin(), names->end(),
                          [](const std::string& n) { return n.starts_with("snapshot-"); }) == 1);
    }
  }
}
