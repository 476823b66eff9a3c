// Entry sizes: the largest entry a node accepts, the bounds of the requests it sends, the checks of
// its options against its transport, and heartbeats that keep flowing when entries cannot.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <coraft/raft/message_sizes.hpp>

#include "clients.hpp"
#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

constexpr std::size_t entry_limit = 4000;

// Small entries, and requests that hold three of them by their payloads but only two as encoded.
raft::options small_entries() {
  raft::options o = lab_options();
  o.max_entry_bytes = entry_limit;
  o.max_bytes_per_append = 3 * entry_limit;
  return o;
}

raft::bytes payload(std::size_t size, std::uint64_t seed) {
  raft::bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>((i * 131 + seed) % 251);
  return out;
}

// Proposes through node i and lets time pass until the outcome is known.
co::result<raft::proposal> propose_and_wait(cluster& c, int i, raft::bytes command) {
  std::optional<co::result<raft::proposal>> outcome;
  {
    co::scope client(c.world());
    client.spawn([](test::member* node, raft::bytes command,
                    std::optional<co::result<raft::proposal>>* out) -> co::task<void> {
      out->emplace(co_await node->propose(std::move(command)));
    }(c.node(i), std::move(command), &outcome));
    const io::time_point give_up = c.world().now() + 5s;
    while (!outcome && c.world().now() < give_up) c.step();
    client.request_stop();
    while (client.size() > 0) c.step();
  }
  if (!outcome) c.fail("propose did not resume within 5 s");
  return *outcome;
}

}  // namespace

TEST_CASE("EntryAtTheLimit: an entry of exactly max_entry_bytes commits, and no request exceeds max_bytes_per_append") {
  for_each_seed("EntryAtTheLimit", [](simulation sim) {
    cluster c(sim, 3, false, small_entries());
    const int leader = c.check_one_leader();
    c.one(payload(entry_limit, sim.seed), 3, true);

    // A follower misses a run of entries at the limit; it catches up in requests that hold as many
    // as fit when encoded (two), not as many as their payloads would suggest (three).
    const int behind = (leader + 1) % 3;
    c.disconnect(behind);
    for (std::uint64_t k = 0; k < 12; ++k) c.one(payload(entry_limit, sim.seed + k + 1), 2, true);
    c.connect(behind);
    c.one(payload(entry_limit, sim.seed + 100), 3, true);

    // The fast stack's switchboard sees every request whole. (On the production stack an oversized
    // request is a frame TCP refuses, and the catch-up above would not have completed.)
    if (c.production()) return;
    if (c.largest_request_bytes() > small_entries().max_bytes_per_append)
      c.fail("a request of " + std::to_string(c.largest_request_bytes()) +
             " bytes exceeds max_bytes_per_append");
    if (c.requests_too_large() != 0) c.fail("the transport refused a request for its size");
  });
}

TEST_CASE("EntryOverTheLimit: one byte more is refused with entry_too_large, and the cluster keeps committing") {
  for_each_seed("EntryOverTheLimit", [](simulation sim) {
    cluster c(sim, 3, false, small_entries());
    const int leader = c.check_one_leader();
    c.one(command(1), 3, true);
    const raft::term_t term = c.check_terms();
    const raft::index_t last = c.node(leader)->status().last_index;

    const raft::start_result started = c.node(leader)->start(payload(entry_limit + 1, sim.seed));
    if (started.error != raft::errc::entry_too_large || started.index != 0 || !started.is_leader)
      c.fail("start() of an entry over the limit was not refused with entry_too_large");
    const auto proposed = propose_and_wait(c, leader, payload(entry_limit + 1, sim.seed));
    if (proposed || proposed.error() != raft::errc::entry_too_large)
      c.fail("propose() of an entry over the limit was not refused with entry_too_large");
    // A follower refuses it as well: it is too large wherever it goes.
    const int follower = (leader + 1) % 3;
    if (c.node(follower)->start(payload(entry_limit + 1, sim.seed)).error != raft::errc::entry_too_large)
      c.fail("a follower's start() of an entry over the limit was not refused with entry_too_large");
    if (c.node(leader)->status().last_index != last) c.fail("a refused entry was appended");

    for (std::uint64_t k = 2; k < 6; ++k) c.one(command(k), 3, true);
    c.one(payload(entry_limit, sim.seed), 3, true);
    if (c.check_terms() != term) c.fail("the term changed: the refused entry disturbed the leader");
  });
}

TEST_CASE("OptionChecks: a node refuses options whose requests could not fit its transport, naming the option") {
  sim::world world(1);
  sim::network network(world);
  raft_wires wires{&network};
  raft::sim_switchboard<raft_wires, sim::world> board(wires);
  raft::memory_disk disk;
  sim_storage storage(world, disk, 500us);
  auto make = [&](raft::options o, std::size_t max_message_bytes) {
    sim_transport transport(board, world, 1, 100ms, 256, max_message_bytes);
    sim_node node(world, transport, storage, 1, {2, 3}, o);
  };
  auto refusal = [&](raft::options o, std::size_t max_message_bytes) -> std::string {
    try {
      make(o, max_message_bytes);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return {};
  };
  const std::size_t frame = sim_transport::default_max_message_bytes;

  CHECK_NOTHROW(make(raft::options{}, frame));

  // The largest entry that fits in one request is accepted; one byte more is not.
  raft::options o;
  o.max_entry_bytes = raft::largest_entry_fitting(o.max_bytes_per_append);
  CHECK(raft::single_entry_append_size(o.max_entry_bytes) <= o.max_bytes_per_append);
  CHECK_NOTHROW(make(o, frame));
  o.max_entry_bytes += 1;
  CHECK(refusal(o, frame).find("lower max_entry_bytes") != std::string::npos);

  // Requests larger than the transport carries.
  raft::options wide;
  wide.max_bytes_per_append = frame + 1;
  CHECK(refusal(wide, frame).find("max_bytes_per_append") != std::string::npos);
  wide.max_bytes_per_append = frame;
  wide.max_entry_bytes = raft::largest_entry_fitting(frame);
  CHECK_NOTHROW(make(wide, frame));

  // Snapshot chunks larger than the transport carries.
  raft::options chunks;
  chunks.max_bytes_per_append = 64 * 1024;
  chunks.max_entry_bytes = 32 * 1024;
  chunks.snapshot_chunk_bytes = 256 * 1024;
  CHECK(refusal(chunks, 64 * 1024).find("lower snapshot_chunk_bytes") != std::string::npos);
  chunks.snapshot_chunk_bytes = raft::largest_chunk_fitting(64 * 1024);
  CHECK_NOTHROW(make(chunks, 64 * 1024));
  chunks.snapshot_chunk_bytes += 1;
  CHECK(refusal(chunks, 64 * 1024).find("snapshot_chunk_bytes") != std::string::npos);

  raft::options none;
  none.max_entries_per_append = 0;
  CHECK(refusal(none, frame).find("max_entries_per_append") != std::string::npos);
}

namespace {

// A simulated transport that refuses, at once, every AppendEntries carrying entries to the node
// `*refused` names, as a transport refuses a request it cannot send; heartbeats pass. It records
// when its own node received each AppendEntries.
class refusing_transport {
 public:
  refusing_transport(raft::sim_switchboard<raft_wires, sim::world>& board, sim::world& world,
                     raft::node_id self, const raft::node_id* refused)
      : inner_(board, world, self, 100ms), world_(world), refused_(refused) {}

  co::task<co::result<raft::append_entries_reply>> call(raft::node_id peer,
                                                        raft::append_entries_args a) {
    if (peer == *refused_ && !a.entries.empty()) return refuse();
    return inner_.call(peer, std::move(a));
  }
  // Every other request passes.
  template <raft::request Args>
  co::task<co::result<typename Args::reply>> call(raft::node_id peer, Args a) {
    return inner_.call(peer, std::move(a));
  }
  // Hands over the next request, noting when an AppendEntries arrived; ends with it.
  co::task<co::result<raft::inbound_rpc>> receive() {
    auto rpc = co_await inner_.receive();
    if (rpc && std::holds_alternative<raft::append_entries_args>(rpc->request))
      appends_heard.push_back(world_.now());
    co_return rpc;
  }
  std::size_t max_message_bytes() const noexcept { return inner_.max_message_bytes(); }

  std::vector<io::time_point> appends_heard;

 private:
  static co::task<co::result<raft::append_entries_reply>> refuse() {
    co_return make_error_code(raft::errc::unreachable);
  }

  sim_transport inner_;
  sim::world& world_;
  const raft::node_id* refused_;
};

using refusing_node = raft::node<sim::world, refusing_transport, sim_storage>;

// Three nodes over refusing transports, with the safety checks after every step.
struct refusing_cluster {
  sim::world world;
  sim::network network{world};
  raft_wires wires{&network};
  raft::sim_switchboard<raft_wires, sim::world> board{wires};
  raft::node_id refused = raft::nobody;
  safety_checker checker;
  std::vector<std::unique_ptr<raft::memory_disk>> disks;
  std::vector<std::unique_ptr<sim_storage>> storages;
  std::vector<std::unique_ptr<refusing_transport>> transports;
  std::vector<std::unique_ptr<refusing_node>> nodes;
  co::scope life{world};

  explicit refusing_cluster(std::uint64_t seed) : world(seed) {
    sim::link_faults faults;
    faults.min_delay = 0ms;
    faults.max_delay = 1ms;
    for (raft::node_id id = 1; id <= 3; ++id) network.add_host(host_name(id));
    network.set_faults(faults);
    for (raft::node_id id = 1; id <= 3; ++id) {
      std::vector<raft::node_id> peers;
      for (raft::node_id other = 1; other <= 3; ++other)
        if (other != id) peers.push_back(other);
      raft::options o = lab_options();
      o.random_seed = seed * 7919 + id;
      disks.push_back(std::make_unique<raft::memory_disk>());
      storages.push_back(std::make_unique<sim_storage>(world, *disks.back(), 500us));
      transports.push_back(std::make_unique<refusing_transport>(board, world, id, &refused));
      nodes.push_back(std::make_unique<refusing_node>(world, *transports.back(), *storages.back(),
                                                      id, peers, o));
      checker.restarted(id);
      life.spawn(nodes.back()->run());
      life.spawn(consume(nodes.back().get()));
    }
  }
  ~refusing_cluster() {
    life.request_stop();
    while (life.size() > 0) world.step();
  }

  // Feeds the checker what node `n` applies; ends when the node stops.
  co::task<void> consume(refusing_node* n) {
    while (auto entry = co_await n->applied().recv()) checker.applied(n->id(), *entry);
  }

  void run_for(io::duration how_long) {
    const io::time_point until = world.now() + how_long;
    while (world.now() < until) {
      auto next = world.next_deadline();
      if (!world.has_ready() && (!next || *next > until)) break;
      world.step();
      if (life.failures() > 0) life.run_until_idle();  // rethrows a node's exception
      for (auto& n : nodes) {
        n->check_invariants();
        checker.check_node(*n);
      }
    }
    if (world.now() < until) world.run_until(until);
  }

  std::optional<std::size_t> leader() const {
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i]->status().role == raft::role::leader) return i;
    return std::nullopt;
  }
};

}  // namespace

TEST_CASE("HeartbeatsThroughRefusedEntries: a follower whose entries keep failing still hears a heartbeat every interval") {
  for_each_seed("HeartbeatsThroughRefusedEntries", [](simulation sim) {
    refusing_cluster c(sim.seed);
    c.run_for(2s);
    const auto leader = c.leader();
    if (!leader) throw std::runtime_error("no leader after 2 s");
    refusing_node& leading = *c.nodes[*leader];
    const std::size_t starved = (*leader + 1) % 3;
    const raft::term_t term = leading.status().term;
    c.refused = c.nodes[starved]->id();
    const io::time_point since = c.world.now();
    c.transports[starved]->appends_heard.clear();

    // Three seconds of proposals that the leader cannot send to the starved follower: the other
    // follower makes the majority.
    for (int k = 0; k < 30; ++k) {
      (void)leading.start(raft::to_bytes("entry " + std::to_string(k)));
      c.run_for(100ms);
    }
    const auto& heard = c.transports[starved]->appends_heard;
    const io::duration most = lab_options().heartbeat_interval + 10ms;
    io::time_point previous = since;
    for (io::time_point at : heard) {
      if (at - previous > most)
        throw std::runtime_error("the starved follower heard nothing for " +
                                 std::to_string((at - previous) / 1ms) + " ms");
      previous = at;
    }
    if (c.world.now() - previous > most)
      throw std::runtime_error("the starved follower heard nothing at the end");
    for (auto& n : c.nodes)
      if (n->status().term != term) throw std::runtime_error("the term changed: an election ran");
    if (leading.status().commit_index < leading.status().last_index)
      throw std::runtime_error("the majority did not commit the proposals");

    // Once its entries go through again, it catches up.
    c.refused = raft::nobody;
    c.run_for(1s);
    if (c.nodes[starved]->status().commit_index != leading.status().commit_index)
      throw std::runtime_error("the starved follower did not catch up");
  }, seed_counts{.fast = 20, .production = 0});  // its own transport, on the fast stack's
}
