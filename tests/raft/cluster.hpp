// tests/raft/cluster.hpp — a simulated Raft cluster for scenario tests, with Raft's safety properties
// checked after every simulated step.
//
// Modelled on the test harness of the well-known MIT 6.824 lab: servers can be disconnected,
// partitioned, crashed and restarted from what their disk held; the network can drop, delay and
// reorder messages. Everything runs in one sim::world from one seed, so a failure replays exactly.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <coraft/co/scope.hpp>
#include <coraft/raft/memory_storage.hpp>
#include <coraft/raft/node.hpp>
#include <coraft/raft/sim_transport.hpp>
#include <coraft/sim/links.hpp>
#include <coraft/sim/world.hpp>

#include "safety_checker.hpp"

namespace coraft::test {

using namespace std::chrono_literals;

// Raft messages between node ids, carried by the simulated links of their hosts "n1", "n2", ...
struct raft_wires {
  sim::world* world;
  sim::links* links;
  static std::string host(raft::node_id id) {
    std::string name = "n";  // appended, not "n" + ...: g++ 12 -O3 warns falsely (-Wrestrict) there
    name += std::to_string(id);
    return name;
  }
  void deliver(raft::node_id from, raft::node_id to, std::function<void()> on_arrival) {
    if (auto delay = links->message_delay(host(from), host(to))) world->after(*delay, std::move(on_arrival));
  }
};

using sim_transport = raft::sim_transport<raft_wires, sim::world>;
using sim_storage = raft::memory_storage<sim::world>;
using sim_node = raft::node<sim::world, sim_transport, sim_storage>;

// The timing of the lab's tests: leaders elected within a few seconds, heartbeats well under 10/s
// per peer is not required here, but elections settle well within the lab's bounds.
inline raft::options lab_options() {
  raft::options o;
  o.election_timeout = 150ms;
  o.heartbeat_interval = 50ms;
  o.max_appends_in_flight = 4;
  return o;
}
inline constexpr io::duration election_timeout = 1000ms;  // the lab's RaftElectionTimeout

class cluster {
 public:
  cluster(std::uint64_t seed, int servers, bool unreliable = false, raft::options opts = lab_options())
      : seed_(seed), world_(seed), links_(world_), wires_{&world_, &links_}, board_(wires_),
        options_(opts), servers_(static_cast<std::size_t>(servers)) {
    for (int i = 0; i < servers; ++i) links_.add_host(raft_wires::host(id(i)));
    set_unreliable(unreliable);
    for (int i = 0; i < servers; ++i) start(i);
  }
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;
  ~cluster() {
    for (int i = 0; i < size(); ++i) stop(i);
  }

  int size() const { return static_cast<int>(servers_.size()); }
  static raft::node_id id(int i) { return static_cast<raft::node_id>(i + 1); }
  sim::world& world() { return world_; }
  sim::links& links() { return links_; }
  safety_checker& checker() { return checker_; }
  std::uint64_t seed() const { return seed_; }

  // ---- the servers -------------------------------------------------------------------------------

  bool running(int i) const { return servers_[i].node != nullptr; }
  bool connected(int i) const { return servers_[i].connected; }
  sim_node* node(int i) { return servers_[i].node.get(); }
  // Server i's disk, which outlives its runs: tests inject faults through it.
  raft::memory_disk& disk(int i) { return servers_[i].disk; }

  // Start a fresh run of server i from what its disk holds (the lab's start1).
  void start(int i) {
    server& s = servers_[i];
    if (s.node) stop(i);
    links_.set_up(raft_wires::host(id(i)), true);
    std::vector<raft::node_id> peers;
    for (int j = 0; j < size(); ++j)
      if (j != i) peers.push_back(id(j));
    raft::options o = options_;
    o.random_seed = seed_ * 1000003 + static_cast<std::uint64_t>(i) * 7919 + (++s.runs);
    s.storage = std::make_unique<sim_storage>(world_, s.disk, 500us);
    s.transport = std::make_unique<sim_transport>(board_, world_, id(i), 100ms);
    s.node = std::make_unique<sim_node>(world_, *s.transport, *s.storage, id(i), peers, o);
    s.life = std::make_unique<co::scope>(world_);
    checker_.restarted(id(i));
    s.life->spawn(s.node->run());
    s.life->spawn(consume(i));
  }

  // Crash server i: its coroutines stop where they are and whatever its disk had not synced is lost
  // (the lab's crash1).
  void stop(int i) {
    server& s = servers_[i];
    if (!s.node) return;
    s.life->request_stop();
    while (s.life->size() > 0) step();
    rethrow_failure(s);
    s.life.reset();
    s.node.reset();
    s.transport.reset();
    s.storage.reset();
    links_.set_up(raft_wires::host(id(i)), false);
  }

  void disconnect(int i) {
    servers_[i].connected = false;
    links_.disconnect(raft_wires::host(id(i)));
  }
  void connect(int i) {
    servers_[i].connected = true;
    links_.reconnect(raft_wires::host(id(i)));
  }

  void set_unreliable(bool unreliable) {
    unreliable_ = unreliable;
    apply_faults();
  }
  // Every server's application snapshots its state after applying each index divisible by
  // `interval` (0: never), as the lab's part 2D does.
  void set_snapshot_interval(raft::index_t interval) { snapshot_interval_ = interval; }

  void set_long_reordering(bool on) {
    long_reordering_ = on;
    apply_faults();
  }

  std::uint64_t rpc_total() const { return board_.rpcs_sent(); }
  std::uint64_t bytes_total() const { return board_.payload_bytes_sent(); }
  std::size_t largest_request_bytes() const { return board_.largest_request_bytes(); }
  std::uint64_t requests_too_large() const { return board_.requests_too_large(); }

  // ---- time ---------------------------------------------------------------------------------------

  // One simulated step, then every safety check.
  void step() {
    world_.step();
    for (int i = 0; i < size(); ++i) {
      if (servers_[i].node) {
        rethrow_failure(servers_[i]);
        checker_.check_node(*servers_[i].node);
      }
    }
  }
  void run_for(io::duration how_long) {
    const io::time_point until = world_.now() + how_long;
    while (world_.now() < until) {
      auto next = world_.next_deadline();
      if (!world_.has_ready() && (!next || *next > until)) break;
      step();
    }
  }
  void sleep(io::duration how_long) {
    const io::time_point until = world_.now() + how_long;
    run_for(how_long);
    if (world_.now() < until) world_.run_until(until);
  }

  // ---- the lab's checks ---------------------------------------------------------------------------

  // A leader among the connected servers, the same one for its term; fails if none appears.
  int check_one_leader() {
    for (int attempt = 0; attempt < 10; ++attempt) {
      sleep(450ms + io::duration(world_.random().uniform<std::int64_t>(0, 100'000'000)));
      std::map<raft::term_t, std::vector<int>> leaders;
      for (int i = 0; i < size(); ++i) {
        if (running(i) && connected(i) && node(i)->status().role == raft::role::leader)
          leaders[node(i)->status().term].push_back(i);
      }
      for (auto& [term, ids] : leaders)
        if (ids.size() > 1) fail("term " + std::to_string(term) + " has more than one leader");
      if (!leaders.empty()) return leaders.rbegin()->second.front();
    }
    fail("expected one leader, got none");
  }

  // Every connected server agrees on the term; returns it.
  raft::term_t check_terms() {
    std::optional<raft::term_t> term;
    for (int i = 0; i < size(); ++i) {
      if (!running(i) || !connected(i)) continue;
      auto t = node(i)->status().term;
      if (!term) term = t;
      else if (*term != t) fail("servers disagree on the term");
    }
    return term.value_or(0);
  }

  void check_no_leader() {
    for (int i = 0; i < size(); ++i) {
      if (running(i) && connected(i) && node(i)->status().role == raft::role::leader)
        fail("expected no leader among connected servers, but " + std::to_string(i) + " claims to be");
    }
  }

  // How many servers applied an entry at `index` in their current run, and its payload.
  std::pair<int, std::optional<raft::bytes>> n_committed(raft::index_t index) {
    int count = 0;
    std::optional<raft::bytes> value;
    for (int i = 0; i < size(); ++i) {
      auto& applied = servers_[i].applied;
      auto it = applied.find(index);
      if (it == applied.end()) continue;
      if (value && *value != it->second) fail("servers applied different commands at one index");
      value = it->second;
      ++count;
    }
    return {count, value};
  }

  // Wait for at least n servers to apply `index`; returns its payload (the lab's wait()).
  std::optional<raft::bytes> wait(raft::index_t index, int n, std::optional<raft::term_t> start_term) {
    io::duration pause = 10ms;
    for (int iteration = 0; iteration < 30; ++iteration) {
      if (n_committed(index).first >= n) break;
      sleep(pause);
      if (pause < 1s) pause *= 2;
      if (start_term) {
        for (int i = 0; i < size(); ++i)
          if (running(i) && node(i)->status().term > *start_term) return std::nullopt;
      }
    }
    auto [count, value] = n_committed(index);
    if (count < n) fail("only " + std::to_string(count) + " servers applied index " + std::to_string(index));
    return value;
  }

  // Get `command` committed by at least `expected` servers (the lab's one()): try each server in
  // turn as the leader, wait two seconds for agreement, and give up after ten. If `retry` is false,
  // a command committed once is not proposed again. Returns the index it committed at.
  raft::index_t one(const raft::bytes& command, int expected, bool retry) {
    const io::time_point give_up = world_.now() + 10s;
    int starts = 0;
    while (world_.now() < give_up) {
      std::optional<raft::index_t> index;
      for (int k = 0; k < size(); ++k) {
        starts = (starts + 1) % size();
        if (running(starts) && connected(starts)) {
          auto r = node(starts)->start(command);
          if (r.is_leader) {
            index = r.index;
            break;
          }
        }
      }
      if (index) {
        const io::time_point agree_by = world_.now() + 2s;
        while (world_.now() < agree_by) {
          auto [count, value] = n_committed(*index);
          if (count > 0 && count >= expected && value == command) return *index;
          sleep(20ms);
        }
        if (!retry) fail("one(" + raft::to_string(command) + ") failed to reach agreement");
      } else {
        sleep(50ms);
      }
    }
    fail("one(" + raft::to_string(command) + ") failed to reach agreement");
  }

  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error(why + " (at " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(world_.elapsed()).count()) + " ms)");
  }

 private:
  struct server {
    raft::memory_disk disk;  // survives crashes
    std::unique_ptr<sim_storage> storage;
    std::unique_ptr<sim_transport> transport;
    std::unique_ptr<sim_node> node;
    std::unique_ptr<co::scope> life;  // the node's run() and the consumer of its applied entries
    std::map<raft::index_t, raft::bytes> applied;  // commands applied in the current run
    bool connected = true;
    std::uint64_t runs = 0;
  };

  // Consumes server i's applied entries for its current run; ends when the node stops.
  co::task<void> consume(int i) {
    server& s = servers_[i];
    s.applied.clear();
    sim_node* n = s.node.get();
    for (;;) {
      auto entry = co_await n->applied().recv();
      if (!entry) co_return;
      checker_.applied(id(i), *entry);
      if (entry->is_snapshot) {
        restore(s, *entry);
        continue;
      }
      if (entry->kind == raft::entry_kind::command) s.applied[entry->index] = entry->payload;
      if (snapshot_interval_ != 0 && entry->index % snapshot_interval_ == 0)
        n->snapshot(entry->index, encode_state(s.applied));
    }
  }

  // The test application's state is every command it applied, by index; a snapshot holds it all.
  static raft::bytes encode_state(const std::map<raft::index_t, raft::bytes>& applied) {
    raft::bytes out;
    auto put = [&out](std::uint64_t v) {
      for (int b = 0; b < 8; ++b) out.push_back(static_cast<std::byte>(v >> (8 * b)));
    };
    for (const auto& [index, payload] : applied) {
      put(index);
      put(payload.size());
      out.insert(out.end(), payload.begin(), payload.end());
    }
    return out;
  }
  static std::map<raft::index_t, raft::bytes> decode_state(const raft::bytes& in) {
    std::map<raft::index_t, raft::bytes> applied;
    std::size_t at = 0;
    auto get = [&in, &at]() {
      std::uint64_t v = 0;
      for (int b = 0; b < 8; ++b) v |= std::to_integer<std::uint64_t>(in.at(at++)) << (8 * b);
      return v;
    };
    while (at < in.size()) {
      raft::index_t index = get();
      std::size_t size = get();
      applied[index].assign(in.begin() + static_cast<std::ptrdiff_t>(at),
                            in.begin() + static_cast<std::ptrdiff_t>(at + size));
      at += size;
    }
    return applied;
  }

  // A snapshot replaces the application's state; it must hold exactly the commands committed up to
  // its index.
  void restore(server& s, const raft::applied_entry& snapshot) {
    auto state = decode_state(snapshot.payload);
    for (const auto& [index, payload] : state) {
      if (index > snapshot.index) fail("snapshot holds a command beyond its index");
      if (index < checker_.committed_count() + 1 && checker_.committed(index).payload != payload)
        fail("snapshot holds a command that was not committed at " + std::to_string(index));
    }
    const raft::index_t known = std::min<raft::index_t>(snapshot.index, checker_.committed_count());
    for (raft::index_t index = 1; index <= known; ++index) {
      if (checker_.committed(index).kind == raft::entry_kind::command && !state.contains(index))
        fail("snapshot lacks the command committed at " + std::to_string(index));
    }
    s.applied = std::move(state);
  }

  void rethrow_failure(server& s) {
    if (s.life && s.life->failures() > 0) {
      s.life->request_stop();
      while (s.life->size() > 0) world_.step();
      s.life->run_until_idle();  // rethrows the node's exception
    }
  }

  void apply_faults() {
    sim::link_faults f;
    f.min_delay = 0ms;
    f.max_delay = unreliable_ ? 27ms : 1ms;
    f.drop = unreliable_ ? 0.1 : 0.0;
    if (long_reordering_) {
      f.long_delay = 0.1;
      f.long_delay_min = 200ms;
      f.long_delay_max = 2200ms;
    }
    links_.set_faults(f);
  }

  std::uint64_t seed_;
  sim::world world_;
  sim::links links_;
  raft_wires wires_;
  raft::sim_switchboard<raft_wires, sim::world> board_;
  raft::options options_;
  std::vector<server> servers_;
  safety_checker checker_;
  raft::index_t snapshot_interval_ = 0;
  bool unreliable_ = false;
  bool long_reordering_ = false;
};

inline raft::bytes command(std::uint64_t value) { return raft::to_bytes(std::to_string(value)); }

}  // namespace coraft::test
