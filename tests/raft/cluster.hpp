// tests/raft/cluster.hpp — a simulated Raft cluster for scenario tests, on either stack (see
// stacks.hpp), with Raft's safety properties checked after every simulated step.
//
// Modelled on the test harness of the well-known MIT 6.824 lab: servers can be disconnected,
// partitioned, crashed and restarted from what their disk held; the network can drop, delay and
// reorder messages; on the production stack the disks can fail, fill up and slow down. Everything
// runs in one sim::world from one seed, so a failure replays exactly.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <coraft/co/scope.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>

#include "safety_checker.hpp"
#include "stacks.hpp"

namespace coraft::test {

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
  cluster(simulation sim, int servers, bool unreliable = false, raft::options opts = lab_options())
      : simulation_(sim), world_(sim.seed), network_(world_), wires_{&network_}, board_(wires_),
        options_(opts), servers_(static_cast<std::size_t>(servers)) {
    for (int i = 0; i < servers; ++i) {
      if (production())
        servers_[i].machine = std::make_unique<sim::host>(world_, network_, host_name(id(i)));
      else
        network_.add_host(host_name(id(i)));
    }
    // A stream retransmits a lost segment after a fifth of the election timeout, the ratio of
    // Linux's minimum RTO (200 ms) to a production election timeout (etcd's 1 s): a single loss
    // delays a heartbeat, and only losses in a row cost an election. With the RTO above the
    // lab's 150 ms election timeout, each lost heartbeat would be one.
    sim::stream_settings streams;
    streams.retransmission_timeout = opts.election_timeout / 5;
    network_.set_stream_settings(streams);
    set_unreliable(unreliable);
    for (int i = 0; i < servers; ++i) start(i);
  }
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;
  // Stops every server without checking anything more: a scenario that failed is unwinding, and
  // its first failure is the one to report.
  ~cluster() {
    tearing_down_ = true;
    for (int i = 0; i < size(); ++i) stop(i);
  }

  int size() const { return static_cast<int>(servers_.size()); }
  static raft::node_id id(int i) { return static_cast<raft::node_id>(i + 1); }
  sim::world& world() { return world_; }
  sim::network& network() { return network_; }
  safety_checker& checker() { return checker_; }
  std::uint64_t seed() const { return simulation_.seed; }
  test::stack stack() const { return simulation_.stack; }
  bool production() const { return simulation_.stack == stack::production; }

  // ---- the servers -------------------------------------------------------------------------------

  // Whether server i runs: started, not stopped, and not exited because its disk failed its start.
  bool running(int i) const {
    return servers_[i].member != nullptr && servers_[i].member->exit_reason().empty();
  }
  bool connected(int i) const { return servers_[i].connected; }
  test::member* node(int i) { return servers_[i].member.get(); }
  // Server i's machine, on the production stack: its disk, its faults.
  sim::host& machine(int i) {
    if (!production()) throw std::logic_error("the fast stack has no machines");
    return *servers_[i].machine;
  }

  // Server i's disk fails with `why` (EIO or ENOSPC) until repair_disk(i), across its crashes, as a
  // failing device would. On the fast stack every sync fails with it. On the production stack EIO
  // fails every write and every sync, and ENOSPC every write that needs space: the disk is full.
  // repair_disk(i) restores the faults server i's disk had before.
  void break_disk(int i, std::errc why) {
    if (!production()) {
      servers_[i].disk.sync_error = std::make_error_code(why);
      return;
    }
    sim::disk_faults& faults = machine(i).disk().faults();
    if (!servers_[i].faults_before_break) servers_[i].faults_before_break = faults;
    if (why == std::errc::no_space_on_device) {
      faults.full = true;
    } else {
      faults.write_failure = 1.0;
      faults.sync_failure = 1.0;
    }
  }
  void repair_disk(int i) {
    if (!production()) {
      servers_[i].disk.sync_error = {};
    } else if (auto& before = servers_[i].faults_before_break) {
      machine(i).disk().faults() = *before;
      before.reset();
    }
  }
  // Disk operations on server i that its faults failed so far.
  std::uint64_t disk_failures(int i) {
    return production() ? machine(i).disk().failures() : servers_[i].disk.failed_syncs;
  }

  // Start a fresh run of server i from what its disk holds (the lab's start1). A server of the
  // cluster's first members is given the first members as its initial configuration (which its
  // disk overrides once it holds one); a server added later starts as one waiting to join.
  void start(int i) {
    server& s = servers_[i];
    if (s.member) stop(i);
    std::vector<raft::node_id> members;
    for (int j = 0; j < size(); ++j)
      if (!servers_[j].joins) members.push_back(id(j));
    raft::options o = options_;
    o.random_seed = seed() * 1000003 + static_cast<std::uint64_t>(i) * 7919 + (++s.runs);
    if (production()) {
      s.machine->restart();
      s.member = std::make_unique<production_member>(*s.machine, id(i), members, s.joins, o);
      s.life = std::make_unique<co::scope>(*s.machine);
    } else {
      network_.host_up(host_name(id(i)));
      std::erase(members, id(i));
      const raft::membership_start how =
          s.joins ? raft::membership_start::join()
                  : raft::membership_start::new_cluster(raft::initial_configuration(id(i), members));
      s.member = std::make_unique<fast_member>(world_, board_, s.disk, id(i), how, o);
      s.life = std::make_unique<co::scope>(world_);
    }
    checker_.restarted(id(i));
    s.life->spawn(s.member->run());
    s.life->spawn(consume(i));
  }

  // Runs `job` in server i's own scope, beside its node: stopping the server cancels it first, so
  // a job that holds on to the node (a read waiting for its index) never outlives it.
  void spawn_on(int i, co::task<void> job) { servers_[i].life->spawn(std::move(job)); }

  // A new server, started empty and waiting to join (nobody sends it anything until a leader adds
  // it to the configuration); returns its index. Its id is index + 1, its address its host's.
  int add_server() {
    const int i = size();
    servers_.emplace_back();
    servers_.back().joins = true;
    if (production())
      servers_.back().machine = std::make_unique<sim::host>(world_, network_, host_name(id(i)));
    else
      network_.add_host(host_name(id(i)));
    apply_faults();
    start(i);
    return i;
  }

  // Server i loses its data directory (an operator deleting it, a replaced disk) and starts again
  // on the empty one: with the flags it had (the first members' list, or waiting to join), or, if
  // `rejoins`, as a new member waiting to join — how a lost member is brought back, once the
  // cluster has removed the identity it had.
  void wipe(int i, bool rejoins = false) {
    stop(i);
    server& s = servers_[i];
    if (production()) {
      if (auto r = s.machine->disk().wipe(data_directory); !r)
        throw std::system_error(r.error(), "wipe");
    } else {
      s.disk = raft::memory_disk{};
    }
    s.joins = s.joins || rejoins;
    start(i);
  }

  // The member record a configuration holds for server i: its id and its address.
  raft::member member_of(int i, raft::member_role role = raft::member_role::voter) const {
    return raft::member{id(i), role, raft::to_bytes(address_of(id(i))), {}};
  }

  // Crash server i: its coroutines stop where they are and whatever its disk had not synced is lost
  // (the lab's crash1). On the production stack that is a power cut of its machine, which happens
  // first: nothing the node does while it winds down reaches the disk or the network.
  void stop(int i) {
    server& s = servers_[i];
    if (!s.member) return;
    if (production()) s.machine->crash();
    s.life->request_stop();
    if (tearing_down_) {
      wind_down_quietly(s);
    } else {
      while (s.life->size() > 0) step();
      rethrow_failure(s);
    }
    const traffic t = s.member->sent();
    retired_traffic_.rpcs += t.rpcs;
    retired_traffic_.payload_bytes += t.payload_bytes;
    s.life.reset();
    s.member.reset();
    if (!production()) network_.host_down(host_name(id(i)));
  }

  void disconnect(int i) {
    servers_[i].connected = false;
    network_.disconnect(host_name(id(i)));
  }
  void connect(int i) {
    servers_[i].connected = true;
    network_.reconnect(host_name(id(i)));
  }

  // Loses every message from server a to server b (one way), until the network's link faults are
  // cleared.
  void cut_link(int a, int b) {
    sim::link_faults cut;
    cut.drop = 1.0;
    network_.set_faults(host_name(id(a)), host_name(id(b)), cut);
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

  // RPCs sent so far, requests and replies alike, and the bytes of entries and snapshots they
  // carried.
  std::uint64_t rpc_total() const { return traffic_total().rpcs; }
  std::uint64_t bytes_total() const { return traffic_total().payload_bytes; }
  // The fast stack's switchboard sees every request whole: the largest one's size, and how many
  // it refused for their size.
  std::size_t largest_request_bytes() const { return switchboard().largest_request_bytes(); }
  std::uint64_t requests_too_large() const { return switchboard().requests_too_large(); }

  // ---- time ---------------------------------------------------------------------------------------

  // One simulated step, then every node's own invariants and every safety check across them. A run that takes a million steps without the
  // clock moving is a livelock (a coroutine that loops without awaiting time): a failure, not a hang.
  void step() {
    world_.step();
    if (world_.now() != last_step_time_) {
      last_step_time_ = world_.now();
      steps_at_this_time_ = 0;
    } else if (++steps_at_this_time_ > 1'000'000) {
      fail("livelock: a million steps without simulated time passing");
    }
    if (tearing_down_) return;
    for (int i = 0; i < size(); ++i) {
      if (servers_[i].member) {
        rethrow_failure(servers_[i]);
        if (!running(i)) continue;
        servers_[i].member->check_invariants();
        checker_.check_node(*servers_[i].member);
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
  // As the lab's nCommitted, a stopped server counts with what its last run applied, unless
  // `running_only` (a scenario whose cluster lost members for good).
  std::pair<int, std::optional<raft::bytes>> n_committed(raft::index_t index, bool running_only = false) {
    int count = 0;
    std::optional<raft::bytes> value;
    for (int i = 0; i < size(); ++i) {
      if (running_only && !running(i)) continue;
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

  // Fails the scenario: `why`, when, and what each server was doing then.
  [[noreturn]] void fail(const std::string& why) {
    const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(world_.elapsed()).count();
    throw std::runtime_error(why + " (at " + std::to_string(at) + " ms;" + describe_servers() + ")");
  }
  std::string describe_servers() const {
    std::string out;
    for (int i = 0; i < size(); ++i) {
      out += " [" + std::to_string(i) + ": ";
      if (!running(i)) {
        out += servers_[i].member ? "exited: " + servers_[i].member->exit_reason() + "]" : "down]";
        continue;
      }
      const raft::node_status st = servers_[i].member->status();
      out += std::string(raft::to_string(st.role)) + " term " + std::to_string(st.term) + " commit " +
             std::to_string(st.commit_index) + " last " + std::to_string(st.last_index) +
             (connected(i) ? "" : " disconnected") + "]";
    }
    return out;
  }

 private:
  struct server {
    raft::memory_disk disk;               // the fast stack's disk: survives crashes
    std::unique_ptr<sim::host> machine;   // the production stack's machine: survives crashes
    std::unique_ptr<test::member> member;  // the current run, while the server runs
    std::unique_ptr<co::scope> life;  // the member's run() and the consumer of its applied entries
    std::map<raft::index_t, raft::bytes> applied;  // commands applied in the current run
    std::optional<sim::disk_faults> faults_before_break;  // the production disk's, while broken
    bool connected = true;
    std::uint64_t runs = 0;
    // Added to the running cluster (add_server): it starts as a member waiting to join, not as one
    // of the cluster's first members, and always will.
    bool joins = false;
  };

  // Consumes server i's applied entries for its current run; ends when the node stops.
  co::task<void> consume(int i) {
    server& s = servers_[i];
    s.applied.clear();
    test::member* n = s.member.get();
    for (;;) {
      auto entry = co_await n->applied().recv();
      if (!entry) co_return;
      checker_.applied(id(i), *entry);
      if (entry->is_snapshot) {
        restore(s, *entry);
        continue;
      }
      if (entry->kind == raft::entry_kind::command) s.applied[entry->index] = entry->payload.to_bytes();
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
    auto state = decode_state(snapshot.payload.to_bytes());
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

  // Lets a stopping server's coroutines end while the cluster is destroyed: nothing they throw,
  // and no livelock, may end the test binary before the scenario's failure is reported.
  void wind_down_quietly(server& s) {
    for (int steps = 0; s.life->size() > 0 && steps < 10'000'000; ++steps) {
      try {
        world_.step();
      } catch (...) {
      }
    }
    try {
      s.life->run_until_idle();
    } catch (...) {
    }
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
    network_.set_faults(f);
  }

  const sim_board& switchboard() const {
    if (production()) throw std::logic_error("the production stack has no switchboard");
    return board_;
  }

  traffic traffic_total() const {
    if (!production()) return {board_.rpcs_sent(), board_.payload_bytes_sent()};
    traffic total = retired_traffic_;
    for (const server& s : servers_) {
      if (!s.member) continue;
      const traffic t = s.member->sent();
      total.rpcs += t.rpcs;
      total.payload_bytes += t.payload_bytes;
    }
    return total;
  }

  simulation simulation_;
  sim::world world_;
  sim::network network_;
  raft_wires wires_;  // the fast stack's messages
  sim_board board_;
  raft::options options_;
  std::deque<server> servers_;  // a deque: servers added later never move the others
  safety_checker checker_;
  raft::index_t snapshot_interval_ = 0;
  bool unreliable_ = false;
  bool long_reordering_ = false;
  bool tearing_down_ = false;
  traffic retired_traffic_;  // what the production stack's past runs sent
  io::time_point last_step_time_{};
  std::uint64_t steps_at_this_time_ = 0;
};

inline raft::bytes command(std::uint64_t value) { return raft::to_bytes(std::to_string(value)); }

}  // namespace coraft::test
