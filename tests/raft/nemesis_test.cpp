// Randomized fault injection beyond the lab's fixed scenarios: partitions of every shape, crashes,
// lossy and reordering links, and on the production stack disk faults, all at once, while clients
// propose through the node's own API; how quickly a leader commits once the faults stop; and how
// quickly an election settles once a partition heals.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "clients.hpp"
#include "cluster.hpp"
#include "reads.hpp"
#include "reconfigure.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

std::string host(int i) { return host_name(cluster::id(i)); }

// ---- partitions -----------------------------------------------------------------------------------

// The servers in a random order.
std::vector<int> shuffled_servers(cluster& c) {
  std::vector<int> order(static_cast<std::size_t>(c.size()));
  for (int i = 0; i < c.size(); ++i) order[static_cast<std::size_t>(i)] = i;
  c.world().random().shuffle(order);
  return order;
}

// Split the network in a randomly chosen shape:
//  * two groups of random sizes (a majority and a minority, or a lone server and the rest);
//  * three groups;
//  * a bridge: two groups that cannot reach each other, and one server that reaches both;
//  * one-way: a random server hears nobody but is heard by all, or the reverse.
// Returns a name for the shape, for failure messages.
std::string partition_at_random(cluster& c) {
  auto& rng = c.world().random();
  std::vector<int> order = shuffled_servers(c);
  const std::size_t n = order.size();
  c.network().heal();
  c.network().clear_link_faults();
  switch (rng.below(4)) {
    case 0: {
      std::size_t split = 1 + rng.below(n - 1);
      std::vector<std::vector<std::string>> groups(2);
      for (std::size_t k = 0; k < n; ++k) groups[k < split ? 0 : 1].push_back(host(order[k]));
      c.network().partition(groups);
      return "two groups";
    }
    case 1: {
      std::vector<std::vector<std::string>> groups(3);
      for (std::size_t k = 0; k < n; ++k) groups[k < 3 ? k : rng.below(3)].push_back(host(order[k]));
      c.network().partition(groups);
      return "three groups";
    }
    case 2: {
      // order[0] is the bridge; the others split in two halves that only it connects.
      std::size_t split = 1 + (n - 1) / 2;
      for (std::size_t a = 1; a < n; ++a) {
        for (std::size_t b = 1; b < n; ++b) {
          if ((a < split) != (b < split)) c.cut_link(order[a], order[b]);
        }
      }
      return "bridge";
    }
    default: {
      bool deaf = rng.chance(0.5);
      for (std::size_t k = 1; k < n; ++k) {
        if (deaf) c.cut_link(order[k], order[0]);
        else c.cut_link(order[0], order[k]);
      }
      return deaf ? "one server hears nobody" : "one server is heard by nobody";
    }
  }
}

void heal_partitions(cluster& c) {
  c.network().heal();
  c.network().clear_link_faults();
}

// ---- settled elections ----------------------------------------------------------------------------

// One running server leads, and every running server is in its term and knows it as the leader.
bool settled(cluster& c) {
  int leader = -1;
  for (int i = 0; i < c.size(); ++i) {
    if (!c.running(i) || c.node(i)->status().role != raft::role::leader) continue;
    if (leader != -1) return false;
    leader = i;
  }
  if (leader == -1) return false;
  const raft::node_status lead = c.node(leader)->status();
  for (int i = 0; i < c.size(); ++i) {
    if (!c.running(i)) continue;
    const raft::node_status st = c.node(i)->status();
    if (st.term != lead.term || st.leader != lead.id) return false;
  }
  return true;
}

// Let time pass until the election has settled; fails if that takes longer than `at_most`.
void await_settled(cluster& c, io::duration at_most, const std::string& after) {
  const io::time_point from = c.world().now();
  while (!settled(c)) {
    if (c.world().now() - from > at_most)
      c.fail("no settled leader " + std::to_string(at_most / 1ms) + " ms after " + after);
    c.sleep(5ms);
  }
}

// Fresh commands, offered every 50 ms to whichever running servers claim to lead, until one
// commits where it was started; fails if that takes longer than `at_most`. A leader that lost its
// majority without knowing it claims to lead, but commits nothing new: only a working leader
// passes. Each offer is a payload of its own, so none is committed twice.
void await_progress(cluster& c, io::duration at_most, const std::string& with) {
  const io::time_point from = c.world().now();
  std::vector<std::pair<raft::index_t, raft::bytes>> offered;
  io::time_point next_offer = from;
  for (std::uint64_t attempt = 0;; c.step()) {
    for (const auto& [index, payload] : offered) {
      if (c.checker().committed_count() >= index && c.checker().committed(index).payload == payload)
        return;
    }
    if (c.world().now() - from > at_most)
      c.fail("nothing new committed within " + std::to_string(at_most / 1ms) + " ms with " + with);
    if (c.world().now() < next_offer) continue;
    next_offer = c.world().now() + 50ms;
    for (int i = 0; i < c.size(); ++i) {
      if (!c.running(i)) continue;
      raft::bytes payload = raft::to_bytes("progress " + std::to_string(++attempt));
      if (auto r = c.node(i)->start(payload); r.is_leader) offered.emplace_back(r.index, std::move(payload));
    }
  }
}

}  // namespace

TEST_CASE("HealedElection: after any partition heals, one leader is known to all within 5 seconds") {
  for_each_seed("HealedElection", [](simulation sim) {
    const int servers = 5;
    cluster c(sim, servers);
    auto& rng = c.world().random();
    std::uint64_t next_command = 1;
    c.one(command(next_command++), servers, true);
    for (int round = 0; round < 10; ++round) {
      std::string shape = partition_at_random(c);
      // Long enough for cut-off servers to raise their terms over several election timeouts.
      // Whoever leads meanwhile is given commands, so that logs differ when the partition heals
      // and only some servers can win the next election.
      const io::time_point heal_at = c.world().now() + rng.uniform(io::duration(500ms), io::duration(3s));
      while (c.world().now() < heal_at) {
        for (int i = 0; i < servers; ++i) c.node(i)->start(command(next_command++));
        c.sleep(100ms);
      }
      heal_partitions(c);
      await_settled(c, 5s, "healing a partition (" + shape + ") in round " + std::to_string(round));
      // The settled leader commits with everyone.
      c.one(command(next_command++), servers, true);
    }
  });
}

namespace {

// A proposal that propose() reported committed.
struct acknowledged {
  raft::index_t index = 0;
  raft::term_t term = 0;
  raft::bytes payload;
};

struct nemesis_log {
  bool stop = false;  // set at the end: clients leave once their current proposal is settled
  std::vector<acknowledged> acknowledged_proposals;
  std::vector<raft::bytes> not_committed;  // propose() said: not committed, and never will be
  std::uint64_t proposals = 0;
  raft::index_t highest_acknowledged = 0;  // the highest index a proposal was acknowledged at
};

// The world's timer as a task that can race a proposal.
co::task<co::result<void>> timer(cluster& c, io::duration how_long) {
  co_return co_await c.world().sleep_for(how_long);
}

// A client: proposes unique payloads, one at a time with a pause between, to whichever server
// claims to lead, giving up on a proposal after a second; records those acknowledged as committed;
// ends once log->stop is set (or when cancelled).
co::task<void> nemesis_client(cluster& c, int me, nemesis_log* log) {
  std::uint64_t sequence = 0;
  while (!log->stop) {
    std::optional<int> target = claimed_leader(c);
    if (!target) {
      if (!co_await pause(c, 20ms)) co_return;
      continue;
    }
    raft::bytes payload = raft::to_bytes("client " + std::to_string(me) + " #" + std::to_string(++sequence));
    ++log->proposals;
    // The node is held across this one await only, and outlives it:
    //  * a node settles every proposal (committed, leadership_lost, shut_down) before its run()
    //    ends, and the cluster destroys a node only after that; once settled, propose() touches
    //    nothing of the node;
    //  * a proposal given up on (the timer won) is withdrawn from the node when propose() resumes
    //    cancelled. That resumption is queued before the timer's racer returns, and stopping a
    //    node takes several steps of the FIFO ready queue, so it runs while the node still lives.
    test::member* node = c.node(*target);
    auto first = co_await co::when_any(node->propose(payload), timer(c, 1s));
    if (first.index() == 0 && std::get<0>(first)) {
      const raft::proposal& landed = *std::get<0>(first);
      acknowledged ack{landed.index, landed.term, std::move(payload)};
      log->highest_acknowledged = std::max(log->highest_acknowledged, ack.index);
      log->acknowledged_proposals.push_back(std::move(ack));
    } else if (first.index() == 0 && std::get<0>(first).error() == raft::proposal_outcome::not_committed) {
      log->not_committed.push_back(std::move(payload));
    }
    if (!co_await pause(c, c.world().random().uniform(io::duration(10ms), io::duration(100ms)))) co_return;
  }
}

// Which cluster-wide link faults are on.
struct link_weather {
  bool unreliable = false;       // drops and short delays
  bool long_reordering = false;  // some messages held back for seconds
};

// A server picked at random among those for which `pick(i)` holds, if any does.
template <class Predicate>
std::optional<int> any_server(cluster& c, Predicate pick) {
  std::vector<int> candidates;
  for (int i = 0; i < c.size(); ++i)
    if (pick(i)) candidates.push_back(i);
  if (candidates.empty()) return std::nullopt;
  return c.world().random().pick(candidates);
}

// One random disk fault on server i's machine (production stack), or the repair of its disk. Each
// is on until repaired, and stays across the machine's power cuts, as a failing device would.
//  * EIO on writes, or on syncs (a failed sync forgets what it covered, as Linux does);
//  * a full disk: ENOSPC from a little above what is used now, until the space is given back;
//  * sync latency spikes of 50 ms to 1 s;
//  * torn writes: the next power cut tears the last write not yet durable.
// Lost unsynced writes need no switch: every power cut (a crash on this stack) loses them.
void inject_disk_fault(cluster& c, int i) {
  auto& rng = c.world().random();
  sim::disk& disk = c.machine(i).disk();
  sim::disk_faults& faults = disk.faults();
  switch (rng.below(6)) {
    case 0: faults.write_failure = 0.01 + 0.29 * rng.unit(); break;
    case 1: faults.sync_failure = 0.01 + 0.29 * rng.unit(); break;
    case 2: faults.capacity = disk.used() + rng.below(8192); break;
    case 3:
      faults.slow_sync = 0.05 + 0.45 * rng.unit();
      faults.slow_sync_min = 50ms;
      faults.slow_sync_max = 1s;
      break;
    case 4: faults.torn_write = 1.0; break;
    default: faults = sim::disk_faults{}; break;
  }
}

void repair_disks(cluster& c) {
  if (!c.production()) return;
  for (int i = 0; i < c.size(); ++i) c.machine(i).disk().faults() = sim::disk_faults{};
}

// One random fault, or the repair of one, the repairs as likely as the faults. Leaders are picked on
// purpose now and then: their crash or isolation is what tests the protocol most. On the production
// stack, disk faults join them, on any server, running or not.
void inject_fault(cluster& c, link_weather& weather) {
  auto& rng = c.world().random();
  if (c.production() && rng.chance(0.3)) {
    inject_disk_fault(c, static_cast<int>(rng.below(static_cast<std::uint64_t>(c.size()))));
    return;
  }
  switch (rng.below(14)) {
    case 0:
    case 1: partition_at_random(c); break;
    case 2:
    case 3: heal_partitions(c); break;
    case 4:
      if (auto server = any_server(c, [&](int j) { return c.connected(j); })) c.disconnect(*server);
      break;
    case 5:
      if (auto leader = claimed_leader(c)) c.disconnect(*leader);
      break;
    case 6:
    case 7:
      if (auto server = any_server(c, [&](int j) { return !c.connected(j); })) c.connect(*server);
      break;
    case 8:
      if (auto server = any_server(c, [&](int j) { return c.running(j); })) c.stop(*server);
      break;
    case 9:
      if (auto leader = claimed_leader(c)) c.stop(*leader);
      break;
    case 10:
    case 11:
      if (auto server = any_server(c, [&](int j) { return !c.running(j); })) c.start(*server);
      break;
    case 12:
      weather.unreliable = !weather.unreliable;
      c.set_unreliable(weather.unreliable);
      break;
    default:
      weather.long_reordering = !weather.long_reordering;
      c.set_long_reordering(weather.long_reordering);
      break;
  }
}

}  // namespace

// The faults stop: partitions healed, disks repaired, links reliable and in order, every server
// running and connected (the removed ones too: they stay out).
void stop_every_fault(cluster& c) {
  heal_partitions(c);
  repair_disks(c);
  c.set_unreliable(false);
  c.set_long_reordering(false);
  for (int i = 0; i < c.size(); ++i) {
    if (!c.running(i)) c.start(i);
    c.connect(i);
  }
}

// Once the faults have stopped and `members` servers are the whole cluster, every one applies the
// whole log; each acknowledged proposal is in it where propose() said, with its payload, in its
// term; no payload was committed twice; and what propose() called not committed is not in it.
void check_outcomes(cluster& c, const nemesis_log& log, int members) {
  auto& rng = c.world().random();
  // Every server applies the whole log; each acknowledged proposal is in it where propose()
  // said, with its payload, in its term; no payload was committed twice.
  const raft::index_t last = c.one(command(rng.next()), members, true);
  std::set<std::string> payloads;  // as text: g++ 12 -O3 warns falsely on a set of byte vectors
  for (raft::index_t index = 1; index <= last; ++index) {
    const raft::log_entry& e = c.checker().committed(index);
    if (e.kind != raft::entry_kind::command) continue;
    c.wait(index, members, std::nullopt);
    if (!payloads.insert(raft::to_string(e.payload)).second)
      c.fail("payload " + raft::to_string(e.payload) + " committed twice");
  }
  // What propose() called not committed is not in the log, and never will be: the log is whole
  // and settled, and a payload is proposed once.
  for (const raft::bytes& payload : log.not_committed) {
    if (payloads.contains(raft::to_string(payload)))
      c.fail("proposal " + raft::to_string(payload) + " was reported not committed, but committed");
  }
  for (const acknowledged& ack : log.acknowledged_proposals) {
    const raft::log_entry& e = c.checker().committed(ack.index);
    if (e.kind != raft::entry_kind::command || e.term != ack.term || e.payload != ack.payload)
      c.fail("acknowledged proposal " + raft::to_string(ack.payload) + " is not at index " +
             std::to_string(ack.index) + " in term " + std::to_string(ack.term));
    if (auto [count, value] = c.n_committed(ack.index, true); count != members || value != ack.payload)
      c.fail("acknowledged proposal " + raft::to_string(ack.payload) + " not applied by every server");
  }
}

TEST_CASE("Nemesis: every fault at once for a simulated minute; every acknowledged proposal survives") {
  // On the production stack most runs must have failed disk operations, or they test less than
  // they say (a fault drawn for a server that never wrote, a fault repaired at once).
  std::uint64_t production_seeds = 0;
  std::uint64_t seeds_with_disk_failures = 0;
  for_each_seed("Nemesis", [&](simulation sim) {
    const int servers = 5;
    cluster c(sim, servers);
    auto& rng = c.world().random();
    nemesis_log log;
    link_weather weather;
    {
      clients proposers(c);
      for (int me = 0; me < 4; ++me) proposers.spawn(nemesis_client(c, me, &log));
      const io::time_point end = c.world().now() + 60s;
      while (c.world().now() < end) {
        inject_fault(c, weather);
        c.sleep(rng.uniform(io::duration(50ms), io::duration(1500ms)));
        proposers.check();
      }

      if (c.production()) {
        ++production_seeds;
        std::uint64_t failed = 0;
        for (int i = 0; i < servers; ++i) failed += c.disk_failures(i);
        if (failed > 0) ++seeds_with_disk_failures;
      }
      // The faults stop and every server runs again: a new command commits within ten election
      // timeouts (liveness), and the election settles.
      stop_every_fault(c);
      await_progress(c, 10 * lab_options().election_timeout,
                     "every server healthy after the nemesis stopped");
      await_settled(c, 5s, "the nemesis stopped");
      log.stop = true;
      proposers.join(30s);
    }
    if (log.acknowledged_proposals.empty())
      c.fail("none of " + std::to_string(log.proposals) + " proposals committed in a minute of faults");

    check_outcomes(c, log, servers);

    // Whole again, the cluster costs what the lab's Count allows: agreeing on a batch of commands
    // takes few RPCs, and idling a constant number per heartbeat interval. Messages delayed
    // before the heal have all arrived by now (the longest delay is 2.2 s).
    c.sleep(3s);
    const int leader = c.check_one_leader();
    const std::uint64_t before = c.rpc_total();
    const int iters = 10;
    auto first = c.node(leader)->start(command(1));
    if (!first.is_leader) c.fail("the settled leader lost its leadership");
    for (int k = 1; k <= iters; ++k) c.node(leader)->start(command(static_cast<std::uint64_t>(k) + 1));
    if (!c.wait(first.index + iters, servers, first.term)) c.fail("the term changed in a healed cluster");
    const std::uint64_t agreeing = c.rpc_total() - before;
    if (agreeing > 2 * static_cast<std::uint64_t>((iters + 1 + 3) * servers))
      c.fail("too many RPCs (" + std::to_string(agreeing) + ") for " + std::to_string(iters + 1) +
             " entries");
    const std::uint64_t idle_from = c.rpc_total();
    const io::duration idle = 2s;
    c.sleep(idle);
    const auto intervals = static_cast<std::uint64_t>(idle / lab_options().heartbeat_interval);
    const std::uint64_t idling = c.rpc_total() - idle_from;
    if (idling > 2 * (servers - 1) * (intervals + 1))
      c.fail("too many RPCs (" + std::to_string(idling) + ") for " + std::to_string(idle / 1ms) +
             " ms of idleness");
  });  // a simulated minute each; CORAFT_SEEDS runs more
  if (production_seeds >= 20) CHECK(seeds_with_disk_failures * 4 >= production_seeds * 3);
}

// ---- membership --------------------------------------------------------------------------------

// One random membership change, tried on whoever leads for up to two seconds, and left to the
// cluster if it has not completed by then (a later leader finishes or undoes it): a new server
// added (as a learner, then a voter), a voter or learner removed (the leader too; a removed server
// is never added back: its disk holds a configuration without it), a voter made a learner, or a
// learner made a voter. At most eight servers in all; never fewer than three voters.
// Returns whether the change completed in that time.
bool change_membership_at_random(cluster& c) {
  auto& rng = c.world().random();
  const std::optional<int> leader = claimed_leader(c);
  if (!leader) return false;
  const raft::node_status st = c.node(*leader)->status();
  if (!st.config_committed || raft::is_joint(st.config)) return false;
  const std::vector<raft::node_id> voters = voters_of(st.config);
  membership_change change;
  switch (rng.below(4)) {
    case 0: {
      if (c.size() >= 8) return false;
      const int fresh = c.add_server();
      const raft::member m = c.member_of(fresh, rng.chance(0.7) ? raft::member_role::voter
                                                                : raft::member_role::learner);
      change = [m](test::member& n) { return n.add_member(m); };
      break;
    }
    case 1: {
      if (voters.size() <= 3 && st.config.members.size() == voters.size()) return false;
      const raft::member& m = rng.pick(st.config.members);
      if (m.role == raft::member_role::voter && voters.size() <= 3) return false;
      change = [id = m.id](test::member& n) { return n.remove_member(id); };
      break;
    }
    default: {
      std::vector<raft::member> next = st.config.members;
      raft::member& m = rng.pick(next);
      if (m.role == raft::member_role::voter && voters.size() <= 3) return false;
      m.role = m.role == raft::member_role::voter ? raft::member_role::learner : raft::member_role::voter;
      change = [next](test::member& n) { return n.change_membership(next); };
      break;
    }
  }
  auto outcome = change_on(c, *leader, change, 2s);
  return outcome && outcome->has_value();
}

TEST_CASE("MembershipNemesis: changes of membership among crashes, partitions and disk faults; nothing acknowledged is lost") {
  std::uint64_t runs = 0, changes = 0, servers_added = 0, final_sizes = 0;
  for_each_seed("MembershipNemesis", [&](simulation sim) {
    cluster c(sim, 3);
    auto& rng = c.world().random();
    nemesis_log log;
    link_weather weather;
    {
      clients proposers(c);
      for (int me = 0; me < 3; ++me) proposers.spawn(nemesis_client(c, me, &log));
      const io::time_point end = c.world().now() + 30s;
      while (c.world().now() < end) {
        if (rng.chance(0.4)) changes += change_membership_at_random(c) ? 1 : 0;
        else inject_fault(c, weather);
        c.sleep(rng.uniform(io::duration(50ms), io::duration(1000ms)));
        proposers.check();
      }
      // The faults stop; every server runs again, the removed ones too (they stay out).
      stop_every_fault(c);
      await_progress(c, 10 * lab_options().election_timeout,
                     "every server healthy after the membership nemesis stopped");
      // A change left half-done is finished by whoever leads; then the cluster is whatever its
      // committed configuration says, and the servers it does not name are stopped for good.
      const raft::configuration final_config = reconfigure(
          c, "settling the configuration", [](test::member& n) { return n.change_membership(n.status().config.members); },
          [](const raft::configuration&) { return true; });
      for (int i = 0; i < c.size(); ++i)
        if (!raft::find_member(final_config, cluster::id(i))) c.stop(i);
      log.stop = true;
      proposers.join(30s);
      int members = 0;
      for (int i = 0; i < c.size(); ++i) members += c.running(i) ? 1 : 0;
      if (members != static_cast<int>(final_config.members.size()))
        c.fail("the configuration names servers that are not running");
      check_outcomes(c, log, members);
      ++runs;
      servers_added += static_cast<std::uint64_t>(c.size() - 3);
      final_sizes += static_cast<std::uint64_t>(members);
    }
    if (log.acknowledged_proposals.empty())
      c.fail("none of " + std::to_string(log.proposals) + " proposals committed amid the changes");
  }, seed_counts{20, 5});  // 30 simulated seconds each; CORAFT_SEEDS runs more
  MESSAGE("membership nemesis: " << runs << " runs clean, " << changes << " changes completed, "
                                 << servers_added << " servers added, " << final_sizes
                                 << " members at the end in all");
  // The nemesis tests what it says only if changes go through amid the faults.
  if (runs >= 5) CHECK(changes >= runs);
}

// ---- reads without the log -----------------------------------------------------------------------

struct read_log {
  std::uint64_t served_by_leaders = 0;
  std::uint64_t served_by_others = 0;
  std::uint64_t served_at_once = 0;  // by a leader, without simulated time passing: its lease
  std::uint64_t refused = 0;
};

// A reader: asks a random running server for a read index, one read at a time with a pause
// between. A read index must be at least every index a proposal was acknowledged at before the
// read began (linearizability: a read sees every write that completed before it); anything else
// fails the scenario. Ends once log->stop is set (or when cancelled).
co::task<void> nemesis_reader(cluster& c, const nemesis_log* log, read_log* reads) {
  auto& rng = c.world().random();
  while (!log->stop) {
    std::vector<int> up;
    for (int i = 0; i < c.size(); ++i)
      if (c.running(i)) up.push_back(i);
    if (!up.empty()) {
      const int i = up[rng.below(up.size())];
      const bool leads = c.node(i)->status().role == raft::role::leader;
      const raft::index_t floor = log->highest_acknowledged;
      const io::time_point asked = c.world().now();
      auto read = co_await read_on(c, i);
      if (!read) co_return;  // cancelled
      if (!*read) {
        ++reads->refused;
      } else {
        ++(leads ? reads->served_by_leaders : reads->served_by_others);
        if (leads && c.world().now() == asked) ++reads->served_at_once;
        if (**read < floor)
          c.fail("server " + std::to_string(i) + " read at index " + std::to_string(**read) +
                 ", below the write acknowledged at " + std::to_string(floor) + " before it began");
      }
    }
    if (!co_await pause(c, rng.uniform(io::duration(5ms), io::duration(50ms)))) co_return;
  }
}

// Readers beside writers among every fault. A third of the seeds run without CheckQuorum (and
// withholding), so that leaders cut off in a minority go on believing they lead: the reads they
// are asked for must not trust that. Another third run with lease reads; on the production stack,
// each machine's clock then runs at its own rate, up to 0.95 × lease_clock_drift apart.
TEST_CASE("ReadNemesis: reads on any member among every fault see every write completed before them") {
  read_log reads;
  std::uint64_t runs = 0;
  for_each_seed("ReadNemesis", [&](simulation sim) {
    raft::options o = lab_options();
    if (sim.seed % 3 == 1) {
      o.check_quorum = false;
      o.withhold_votes = false;
    } else if (sim.seed % 3 == 2) {
      o.lease_reads = true;
    }
    cluster c(sim, 5, false, o);
    auto& rng = c.world().random();
    if (o.lease_reads && c.production())
      for (int i = 0; i < c.size(); ++i)
        c.machine(i).set_clock_rate(1.0 + rng.unit() * 0.95 * o.lease_clock_drift);
    nemesis_log log;
    link_weather weather;
    {
      clients crowd(c);
      for (int me = 0; me < 3; ++me) crowd.spawn(nemesis_client(c, me, &log));
      for (int me = 0; me < 3; ++me) crowd.spawn(nemesis_reader(c, &log, &reads));
      const io::time_point end = c.world().now() + 30s;
      while (c.world().now() < end) {
        inject_fault(c, weather);
        c.sleep(rng.uniform(io::duration(50ms), io::duration(1500ms)));
        crowd.check();
      }
      stop_every_fault(c);
      await_progress(c, 10 * lab_options().election_timeout, "every server healthy after the read nemesis");
      log.stop = true;
      crowd.join(30s);
    }
    ++runs;
  }, seed_counts{20, 5});  // 30 simulated seconds each; CORAFT_SEEDS runs more
  MESSAGE("read nemesis: " << runs << " runs clean; reads served by leaders " << reads.served_by_leaders
                           << " (" << reads.served_at_once << " at once, from a lease), by followers and learners "
                           << reads.served_by_others << ", refused " << reads.refused);
  // It tests what it says only if reads are served, on leaders and on the others.
  if (runs >= 5) {
    CHECK(reads.served_by_leaders > 0);
    CHECK(reads.served_at_once > 0);
    CHECK(reads.served_by_others > 0);
  }
}
