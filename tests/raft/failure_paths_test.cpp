// Failure paths: a member whose disk fails, a leader whose own writes fail, proposals whose leader
// steps down, a run that ends with an exception, a crash inside a conflicting InstallSnapshot. Each
// is a way one sick member or one bad moment could take a cluster's availability away or mislead
// the application; each scenario says what must hold instead.
#include <doctest/doctest.h>

#include <cerrno>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <variant>

#include <coraft/co/channel.hpp>

#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

std::string host(int i) { return host_name(cluster::id(i)); }

// The connected servers that claim to lead, with their terms.
std::vector<std::pair<int, raft::term_t>> leaders(cluster& c) {
  std::vector<std::pair<int, raft::term_t>> found;
  for (int i = 0; i < c.size(); ++i) {
    if (c.running(i) && c.connected(i) && c.node(i)->status().role == raft::role::leader)
      found.emplace_back(i, c.node(i)->status().term);
  }
  return found;
}

// Proposes `payload` on `node` and records the outcome in `out` once propose() resumes.
template <class Node>
co::task<void> propose_into(Node* node, raft::bytes payload,
                            std::optional<co::result<raft::proposal>>* out) {
  out->emplace(co_await node->propose(std::move(payload)));
}

}  // namespace

TEST_CASE("FailingDiskCandidate: isolated with a failing disk, a member raises its term once and disturbs nobody") {
  for_each_seed("FailingDiskCandidate", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    c.one(command(1), 3, true);
    const raft::term_t term = c.node(leader)->status().term;
    const int sick = (leader + 1) % 3;
    // A full disk fails the term's write only on the fast stack: file_storage writes the term and
    // vote over one of two slots of its meta file, which takes no new space.
    const bool full = sim.seed % 2 == 0 && !c.production();
    c.break_disk(sick, full ? std::errc::no_space_on_device : std::errc::io_error);
    c.disconnect(sick);
    c.sleep(1s);
    // One candidacy, held until its term is durable: no new term per election timeout.
    if (c.node(sick)->status().term > term + 1)
      c.fail("the member with a failing disk raised its term to " +
             std::to_string(c.node(sick)->status().term) + " from " + std::to_string(term));
    c.connect(sick);
    // Back on the network, its term is not durable, so nobody hears it: the leader stays.
    for (int sample = 0; sample < 100; ++sample) {
      c.sleep(50ms);
      auto found = leaders(c);
      if (found.size() != 1 || found[0].first != leader || found[0].second != term)
        c.fail("the healthy cluster lost its leader after the sick member rejoined (sample " +
               std::to_string(sample) + ")");
    }
    c.one(command(2), 2, true);
    // Its disk heals: it completes its candidacy, the cluster settles and it catches up.
    c.repair_disk(sick);
    const raft::index_t index = c.one(command(3), 3, true);
    if (c.node(sick)->status().commit_index < index) c.fail("the healed member did not catch up");
  });
}

TEST_CASE("FailingDiskLeader: after an EIO burst on its disk, the leader counts itself again") {
  for_each_seed("FailingDiskLeader", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    c.one(command(1), 3, true);
    // A burst shorter than leader_storage_failure_limit: the leader keeps leading, and its own
    // writes fail meanwhile.
    const std::uint64_t failed_before = c.disk_failures(leader);
    c.break_disk(leader, std::errc::io_error);
    for (int k = 0; k < 5; ++k) {
      REQUIRE(c.node(leader)->start(command(100 + static_cast<std::uint64_t>(k))).is_leader);
      c.sleep(10ms);
    }
    c.repair_disk(leader);
    if (c.disk_failures(leader) == failed_before) c.fail("the burst failed nothing");
    // Now one follower goes: the leader and the other follower are a majority only if the leader
    // counts its own log again.
    c.disconnect((leader + 1) % 3);
    c.sleep(200ms);
    if (leaders(c).size() != 1 || leaders(c)[0].first != leader) c.fail("the leader changed");
    const auto started = c.node(leader)->start(command(2));
    REQUIRE(started.is_leader);
    // The disconnected follower campaigns meanwhile, raising its own term: no term bound here.
    if (c.wait(started.index, 2, std::nullopt) != command(2)) c.fail("the command did not commit");
  });
}

TEST_CASE("BrokenDiskLeader: a leader whose disk stays broken steps down; the healthy members lead and commit") {
  for_each_seed("BrokenDiskLeader", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    c.one(command(1), 3, true);
    const raft::term_t term = c.node(leader)->status().term;
    c.break_disk(leader, std::errc::no_space_on_device);
    REQUIRE(c.node(leader)->start(command(2)).is_leader);
    c.sleep(2s);
    auto found = leaders(c);
    if (found.size() != 1 || found[0].first == leader || found[0].second <= term)
      c.fail("no healthy member took over from the leader with a broken disk");
    c.one(command(3), 2, true);
    if (c.node(leader)->status().role == raft::role::leader) c.fail("the sick member leads again");
  });
}

TEST_CASE("HonestOutcome: an entry that reached the followers before its leader was cut off is reported committed") {
  for_each_seed("HonestOutcome", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    c.one(command(1), 3, true);
    // The followers hear the leader, but their replies are lost: the entry reaches them, and the
    // leader never learns that it did.
    sim::link_faults cut;
    cut.drop = 1.0;
    for (int i = 0; i < 3; ++i)
      if (i != leader) c.network().set_faults(host(i), host(leader), cut);
    std::optional<co::result<raft::proposal>> outcome;
    co::scope client(c.world());
    const raft::bytes payload = raft::to_bytes("reached both followers");
    client.spawn(propose_into(c.node(leader), payload, &outcome));
    c.sleep(30ms);
    const raft::index_t index = c.node(leader)->log().last_index();
    for (int i = 0; i < 3; ++i) {
      if (c.node(i)->log().last_index() < index || c.node(i)->log().at(index).payload != payload)
        c.fail("the entry did not reach server " + std::to_string(i));
    }
    // Then the leader is cut off entirely; the others elect a leader that commits the entry.
    c.network().clear_link_faults();
    c.disconnect(leader);
    c.sleep(2s);
    if (c.checker().committed_count() < index || c.checker().committed(index).payload != payload)
      c.fail("the new leader did not commit the entry");
    // Back, the old leader steps down, and learns from its new leader that its entry committed.
    c.connect(leader);
    c.sleep(1s);
    REQUIRE(outcome.has_value());
    if (!outcome->has_value())
      c.fail("propose() said " + outcome->error().message() + " for an entry that committed");
    CHECK((*outcome)->index == index);
    CHECK(c.checker().committed(index).term == (*outcome)->term);
  });
}

TEST_CASE("HonestOutcome: the outcome of a proposal its stopped leader could not learn is unknown") {
  for (stack on : stacks_to_run()) {
    CAPTURE(to_string(on));
    cluster c(simulation{on, 21}, 3);
    const int leader = c.check_one_leader();
    for (int i = 0; i < 3; ++i)
      if (i != leader) c.disconnect(i);
    std::optional<co::result<raft::proposal>> outcome;
    co::scope client(c.world());
    client.spawn(propose_into(c.node(leader), raft::to_bytes("pending"), &outcome));
    c.sleep(100ms);
    REQUIRE_FALSE(outcome.has_value());
    c.stop(leader);
    c.sleep(1ms);  // the client resumes
    REQUIRE(outcome.has_value());
    CHECK(outcome->error() == raft::proposal_outcome::unknown);
    CHECK_FALSE(outcome->error() == raft::proposal_outcome::not_committed);
    CHECK(make_error_code(raft::errc::entry_overwritten) == raft::proposal_outcome::not_committed);
    CHECK(make_error_code(raft::errc::not_leader) == raft::proposal_outcome::not_committed);
    CHECK(co::cancelled() == raft::proposal_outcome::unknown);
  }
}

namespace {

// memory_storage with one more fault: once `explode` is set, durable() throws, as a storage whose
// invariant broke would. Everything else is the memory storage's.
struct exploding_storage {
  raft::memory_storage<sim::world> inner;
  bool explode = false;
  bool refuse_load = false;

  co::task<co::result<raft::persistent_state>> load() {
    if (refuse_load) co_return co::errno_code(EIO);
    co_return co_await inner.load();
  }
  raft::write_id save_term_and_vote(raft::term_t t, raft::node_id v) { return inner.save_term_and_vote(t, v); }
  raft::write_id save_incarnation(raft::incarnation_t i) { return inner.save_incarnation(i); }
  raft::write_id append(const raft::log_window& log, raft::index_t from) { return inner.append(log, from); }
  raft::write_id save_snapshot(raft::snapshot_meta m, raft::bytes d) {
    return inner.save_snapshot(m, std::move(d));
  }
  raft::write_id last_write() const noexcept { return inner.last_write(); }
  co::task<co::result<void>> durable(raft::write_id w) {
    if (explode) throw std::logic_error("storage invariant broken");
    co_return co_await inner.durable(w);
  }
};

using exploding_node = raft::node<sim::world, sim_transport, exploding_storage>;

struct lone_exploding_node {
  sim::world world{5};
  sim::network network{world};
  raft_wires wires{&network};
  raft::sim_switchboard<raft_wires, sim::world> board{wires};
  raft::memory_disk disk;
  exploding_storage storage{raft::memory_storage<sim::world>{world, disk, 500us}};
  sim_transport transport{board, world, 1, 100ms};
  std::optional<exploding_node> node;
  co::scope life{world};
  bool ended_with_exception = false;

  lone_exploding_node() {
    network.add_host("n1");
    node.emplace(world, transport, storage, 1, std::vector<raft::node_id>{}, lab_options());
  }
  void start() {
    life.spawn([](lone_exploding_node* self) -> co::task<void> {
      try {
        co_await self->node->run();
      } catch (const std::exception&) {
        self->ended_with_exception = true;
      }
    }(this));
  }
  ~lone_exploding_node() {
    life.request_stop();
    while (life.size() > 0) world.step();
  }
};

}  // namespace

TEST_CASE("RunFailure: a run that ends with an exception settles every proposal and closes the apply channel") {
  lone_exploding_node n;
  n.start();
  n.world.run_for(1s);
  REQUIRE(n.node->status().role == raft::role::leader);
  // An application reading the apply channel, and a proposal waiting for its commit.
  co::scope application(n.world);
  bool reader_saw_close = false;
  application.spawn([](exploding_node* node, bool* closed) -> co::task<void> {
    for (;;) {
      if (!co_await node->applied().recv()) break;
    }
    *closed = true;
  }(&*n.node, &reader_saw_close));
  std::optional<co::result<raft::proposal>> outcome;
  co::scope client(n.world);
  n.storage.explode = true;
  client.spawn(propose_into(&*n.node, raft::to_bytes("doomed"), &outcome));
  n.world.run_for(100ms);
  CHECK(n.ended_with_exception);
  REQUIRE(outcome.has_value());
  CHECK(outcome->error() == raft::proposal_outcome::unknown);
  CHECK(reader_saw_close);
  CHECK(n.node->applied().closed());
  // Nothing refers to the node any more: destroying it, then stopping the client and the
  // application, touches no freed memory.
  n.node.reset();
  client.request_stop();
  application.request_stop();
  n.world.run_for(10ms);
  CHECK(client.size() == 0);
  CHECK(application.size() == 0);
}

TEST_CASE("RunFailure: a storage that refuses to load ends the run with its error, the apply channel closed") {
  lone_exploding_node n;
  n.storage.refuse_load = true;
  bool reader_saw_close = false;
  co::scope application(n.world);
  application.spawn([](exploding_node* node, bool* closed) -> co::task<void> {
    (void)co_await node->applied().recv();
    *closed = true;
  }(&*n.node, &reader_saw_close));
  n.start();
  n.world.run_for(10ms);
  CHECK(n.ended_with_exception);
  CHECK(reader_saw_close);
  bool shut = false;
  co::scope stopper(n.world);
  stopper.spawn([](exploding_node* node, bool* done) -> co::task<void> {
    co_await node->shutdown();
    *done = true;
  }(&*n.node, &shut));
  n.world.run_for(10ms);
  CHECK(shut);  // shutdown() of a node whose run ended resumes at once
}

namespace {

// Storage that records every write the node issues, in order, on top of memory_storage. A storage
// such as file_storage performs writes one after another, so a power cut can leave the effect of
// any prefix of them: replaying each prefix shows every state a crash could leave.
struct recording_storage {
  struct term_and_vote {
    raft::term_t term;
    raft::node_id vote;
  };
  struct entries_from {
    raft::index_t from;
    std::vector<raft::log_entry> entries;
  };
  struct snapshot {
    raft::snapshot_meta meta;
  };
  struct incarnation {
    raft::incarnation_t value;
  };
  using write = std::variant<term_and_vote, entries_from, snapshot, incarnation>;

  raft::memory_storage<sim::world> inner;
  std::vector<write> writes;

  co::task<co::result<raft::persistent_state>> load() { co_return co_await inner.load(); }
  raft::write_id save_term_and_vote(raft::term_t t, raft::node_id v) {
    writes.push_back(term_and_vote{t, v});
    return inner.save_term_and_vote(t, v);
  }
  raft::write_id save_incarnation(raft::incarnation_t i) {
    writes.push_back(incarnation{i});
    return inner.save_incarnation(i);
  }
  raft::write_id append(const raft::log_window& log, raft::index_t from) {
    entries_from w{from, {}};
    for (raft::index_t i = from; i <= log.last_index(); ++i) w.entries.push_back(log.at(i));
    writes.push_back(std::move(w));
    return inner.append(log, from);
  }
  raft::write_id save_snapshot(raft::snapshot_meta m, raft::bytes d) {
    writes.push_back(snapshot{m});
    return inner.save_snapshot(m, std::move(d));
  }
  raft::write_id last_write() const noexcept { return inner.last_write(); }
  co::task<co::result<void>> durable(raft::write_id w) { co_return co_await inner.durable(w); }

  // The log a crash after the first `count` writes leaves: (index, term) of each entry after the
  // snapshot, and the snapshot.
  std::pair<raft::snapshot_meta, std::vector<raft::term_t>> after(std::size_t count) const {
    raft::snapshot_meta meta;
    std::vector<raft::term_t> terms;  // terms[k]: the entry at meta.last_index + 1 + k
    for (std::size_t k = 0; k < count; ++k) {
      if (const auto* a = std::get_if<entries_from>(&writes[k])) {
        terms.resize(a->from - 1 - meta.last_index);
        for (const auto& e : a->entries) terms.push_back(e.term);
      } else if (const auto* s = std::get_if<snapshot>(&writes[k])) {
        const raft::index_t drop = std::min<raft::index_t>(s->meta.last_index - meta.last_index, terms.size());
        terms.erase(terms.begin(), terms.begin() + static_cast<std::ptrdiff_t>(drop));
        meta = s->meta;
      }
    }
    return {meta, terms};
  }
};

using recording_node = raft::node<sim::world, sim_transport, recording_storage>;

// Sends `args` from the stand-in leader 2 and stores the reply.
template <class Args, class Reply>
co::task<void> call_into(sim_transport* leader, Args args, std::optional<co::result<Reply>>* out) {
  out->emplace(co_await leader->call(1, std::move(args)));
}

}  // namespace

TEST_CASE("SnapshotCrash: a crash inside a conflicting InstallSnapshot never leaves the snapshot before stale entries") {
  sim::world world{9};
  sim::network network{world};
  raft_wires wires{&network};
  raft::sim_switchboard<raft_wires, sim::world> board{wires};
  network.add_host("n1");
  network.add_host("n2");
  raft::memory_disk disk;
  recording_storage storage{raft::memory_storage<sim::world>{world, disk, 500us}, {}};
  sim_transport follower_wire{board, world, 1, 100ms};
  sim_transport leader_wire{board, world, 2, 100ms};
  raft::options o = lab_options();
  o.election_timeout = 10s;  // node 1 only follows here
  recording_node follower(world, follower_wire, storage, 1, {2}, o);
  co::scope life(world);
  life.spawn(follower.run());

  // Term 1: entries 1..10 from leader 2.
  const raft::cluster_id cluster = raft::initial_configuration(1, {2}).cluster;
  raft::append_entries_args append;
  append.term = 1;
  append.leader = 2;
  append.cluster = cluster;
  for (int k = 1; k <= 10; ++k) append.entries.push_back({1, raft::entry_kind::command, command(k)});
  std::optional<co::result<raft::append_entries_reply>> appended;
  co::scope calls(world);
  calls.spawn(call_into(&leader_wire, append, &appended));
  world.run_for(50ms);
  REQUIRE(appended.has_value());
  REQUIRE(appended->has_value());
  REQUIRE((*appended)->success);

  // Term 3: a leader whose log has entry 5 of term 2 sends its snapshot through 5: the follower's
  // entries 5..10 (term 1) conflict with it.
  const std::size_t before = storage.writes.size();
  raft::install_snapshot_args install;
  install.term = 3;
  install.leader = 2;
  install.cluster = cluster;
  install.config = raft::initial_configuration(1, {2});
  install.last_index = 5;
  install.last_term = 2;
  install.data = raft::to_bytes("state through 5");
  install.done = true;
  std::optional<co::result<raft::install_snapshot_reply>> installed;
  calls.spawn(call_into(&leader_wire, install, &installed));
  world.run_for(50ms);
  REQUIRE(installed.has_value());
  REQUIRE(installed->has_value());
  REQUIRE((*installed)->accepted);
  CHECK(follower.log().base_index() == 5);
  CHECK(follower.log().last_index() == 5);

  // Every crash point: terms along the log never go down, from the snapshot's term on (§5.3).
  for (std::size_t count = before; count <= storage.writes.size(); ++count) {
    auto [meta, terms] = storage.after(count);
    raft::term_t previous = meta.last_term;
    for (std::size_t k = 0; k < terms.size(); ++k) {
      INFO("after " << count << " writes, entry " << meta.last_index + 1 + k);
      CHECK(terms[k] >= previous);
      previous = terms[k];
    }
  }
  life.request_stop();
  calls.request_stop();
  while (life.size() > 0 || calls.size() > 0) world.step();
}

TEST_CASE("ProbeOvertaken: a heartbeat answered before the probe does not open the window; entries go once") {
  // A seed in which the returning follower campaigned while it was away (no PreVote yet) changes
  // the leader, and the new leader sends everything anew: such seeds tell nothing, and are counted.
  std::size_t seeds = 0;
  std::size_t told = 0;
  for_each_seed("ProbeOvertaken", [&](simulation sim) {
    ++seeds;
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    c.one(command(1), 3, true);
    const raft::term_t term = c.node(leader)->status().term;
    const int behind = (leader + 1) % 3;
    c.disconnect(behind);
    raft::index_t last = 0;
    for (std::uint64_t k = 0; k < 200; ++k) last = c.node(leader)->start(command(1000 + k)).index;
    c.wait(last, 2, std::nullopt);
    // The leader probes the returning follower with all 200 entries; that request is slow (80 ms,
    // within the call timeout), and the heartbeat sent after it arrives first.
    sim::link_faults slow;
    slow.min_delay = slow.max_delay = 80ms;
    c.network().set_faults(host(leader), host(behind), slow);
    c.connect(behind);
    const std::uint64_t before = c.bytes_total();
    const io::time_point give_up = c.world().now() + 2s;
    while (c.bytes_total() == before) {
      if (c.world().now() > give_up) c.fail("nobody sent the returning follower entries");
      c.step();
    }
    c.network().clear_link_faults();
    const std::uint64_t probe = c.bytes_total() - before;
    c.wait(last, 3, std::nullopt);
    c.sleep(200ms);
    const auto found = leaders(c);
    if (found.size() != 1 || found[0].first != leader || found[0].second != term) return;
    ++told;
    const std::uint64_t sent = c.bytes_total() - before;
    if (sent > probe + probe / 4)
      c.fail("catching up sent " + std::to_string(sent) + " payload bytes for a probe of " +
             std::to_string(probe) + " (seed " + std::to_string(sim.seed) + ")");
  }, seed_counts{.fast = 20, .production = 0});  // one TCP stream per peer keeps the probe first
  CHECK(told * 2 >= seeds);
}
