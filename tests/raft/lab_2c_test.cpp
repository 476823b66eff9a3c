// The lab's part 2C scenarios: persistence across crashes, Figure 8, unreliable networks, churn.
//
// start(i) is the lab's start1 (a fresh run from what the disk held) and stop(i) its crash1 (what
// the disk had not synced is lost). A new leader's no-op (§8) moves command indexes: the checks
// use the indexes one() returns instead of the lab's literal numbers.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "clients.hpp"
#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

std::uint64_t random_value(cluster& c) { return c.world().random().next() >> 1; }

// The lab's choice of pause between two steps of Figure 8: mostly a few milliseconds, sometimes up
// to half an election timeout.
io::duration figure8_pause(cluster& c) {
  auto& rng = c.world().random();
  if (rng.below(1000) < 100) return std::chrono::milliseconds(rng.below(election_timeout / 1ms / 2));
  return std::chrono::milliseconds(rng.below(13));
}

}  // namespace

TEST_CASE("Persist1: state survives crashes and restarts of every server, the leader's included") {
  for_each_seed("Persist1", [](simulation sim) {
    const int servers = 3;
    cluster c(sim, servers);
    c.one(command(11), servers, true);
    // Crash and restart all.
    for (int i = 0; i < servers; ++i) c.start(i);
    for (int i = 0; i < servers; ++i) {
      c.disconnect(i);
      c.connect(i);
    }
    c.one(command(12), servers, true);

    int leader1 = c.check_one_leader();
    c.disconnect(leader1);
    c.start(leader1);
    c.connect(leader1);
    c.one(command(13), servers, true);

    int leader2 = c.check_one_leader();
    c.disconnect(leader2);
    raft::index_t index14 = c.one(command(14), servers - 1, true);
    c.start(leader2);
    c.connect(leader2);
    c.wait(index14, servers, std::nullopt);  // wait for leader2 to join before killing i3

    int i3 = (c.check_one_leader() + 1) % servers;
    c.disconnect(i3);
    c.one(command(15), servers - 1, true);
    c.start(i3);
    c.connect(i3);
    c.one(command(16), servers, true);
  });
}

TEST_CASE("Persist2: five rounds of partitions in which crashed servers must rejoin from disk") {
  for_each_seed("Persist2", [](simulation sim) {
    const int servers = 5;
    cluster c(sim, servers);
    std::uint64_t index = 1;
    for (int iteration = 0; iteration < 5; ++iteration) {
      c.one(command(10 + index++), servers, true);
      int leader1 = c.check_one_leader();
      c.disconnect((leader1 + 1) % servers);
      c.disconnect((leader1 + 2) % servers);
      c.one(command(10 + index++), servers - 2, true);

      c.disconnect((leader1 + 0) % servers);
      c.disconnect((leader1 + 3) % servers);
      c.disconnect((leader1 + 4) % servers);
      c.start((leader1 + 1) % servers);
      c.start((leader1 + 2) % servers);
      c.connect((leader1 + 1) % servers);
      c.connect((leader1 + 2) % servers);
      c.sleep(election_timeout);

      c.start((leader1 + 3) % servers);
      c.connect((leader1 + 3) % servers);
      c.one(command(10 + index++), servers - 2, true);

      c.connect((leader1 + 4) % servers);
      c.connect((leader1 + 0) % servers);
    }
    c.one(command(1000), servers, true);
  });
}

TEST_CASE("Persist3: a crashed leader and follower restart and agree with a reconnected server") {
  for_each_seed("Persist3", [](simulation sim) {
    const int servers = 3;
    cluster c(sim, servers);
    c.one(command(101), 3, true);
    int leader = c.check_one_leader();
    c.disconnect((leader + 2) % servers);
    c.one(command(102), 2, true);

    c.stop((leader + 0) % servers);
    c.stop((leader + 1) % servers);
    c.connect((leader + 2) % servers);
    c.start((leader + 0) % servers);
    c.connect((leader + 0) % servers);
    c.one(command(103), 2, true);

    c.start((leader + 1) % servers);
    c.connect((leader + 1) % servers);
    c.one(command(104), servers, true);
  });
}

namespace {

// Figure 8 (§5.4.2), driven at random: commands go to whoever leads, leaders crash soon after, and
// crashed servers restart whenever fewer than three run. The safety checker sees every step.
void figure8(simulation sim) {
  const int servers = 5;
  cluster c(sim, servers);
  c.one(command(random_value(c)), 1, true);
  int up = servers;
  for (int iteration = 0; iteration < 1000; ++iteration) {
    int leader = -1;
    for (int i = 0; i < servers; ++i) {
      if (c.running(i) && c.node(i)->start(command(random_value(c))).is_leader) leader = i;
    }
    c.sleep(figure8_pause(c));
    if (leader != -1) {
      c.stop(leader);
      --up;
    }
    if (up < 3) {
      int s = static_cast<int>(c.world().random().below(servers));
      if (!c.running(s)) {
        c.start(s);
        c.connect(s);
        ++up;
      }
    }
  }
  for (int i = 0; i < servers; ++i) {
    if (!c.running(i)) {
      c.start(i);
      c.connect(i);
    }
  }
  c.one(command(random_value(c)), servers, true);
}

}  // namespace

TEST_CASE("Figure8: leaders crash right after accepting commands; old-term entries never commit unsafely") {
  for_each_seed("Figure8", [](simulation sim) { figure8(sim); });
}

namespace {

// Step the cluster until `done()` holds; fails with `what` if that takes longer than `at_most`.
template <class Predicate>
void step_until(cluster& c, Predicate done, io::duration at_most, const std::string& what) {
  const io::time_point give_up = c.world().now() + at_most;
  while (!done()) {
    if (c.world().now() > give_up) c.fail("timed out waiting until " + what);
    c.step();
  }
}

// Whether server i's log holds the command `payload` at `index`.
bool holds(cluster& c, int i, raft::index_t index, const raft::bytes& payload) {
  const raft::log_window& log = c.node(i)->log();
  if (!log.contains(index)) return false;
  return log.at(index).kind == raft::entry_kind::command && log.at(index).payload == payload;
}

}  // namespace

// The random Figure8 rarely reaches the paper's exact situation here, because a new leader's no-op
// usually travels in the same AppendEntries as the older entries before it. This replays it step
// by step, with one entry per AppendEntries so that the two travel apart:
//  (a) S1 leads term a and replicates X at index k to S2 only;
//  (b) S5 is elected in term b by S3 and S4, appends its no-op at k, and is cut off at once;
//  (c) S1 is elected in term c by S3 and S4 and gets X onto both: X is on a majority, but it is of
//      an older term, so S1 must not count it committed (§5.4.2); S1 is cut off before its own
//      no-op reaches them;
//  (d) S5 is elected again by S3 and S4 and overwrites X: counting it committed would have lost it.
TEST_CASE("Figure8Replay: an old-term entry on a majority is not committed until the new term's is") {
  for_each_seed("Figure8Replay", [](simulation sim) {
    const int servers = 5;
    raft::options opts = lab_options();
    opts.max_entries_per_append = 1;
    cluster c(sim, servers, false, opts);
    const raft::index_t k = c.one(command(1), servers, true) + 1;
    const int s1 = c.check_one_leader(), s2 = (s1 + 1) % servers;

    // (a) X reaches S2 only.
    for (int i = 0; i < servers; ++i)
      if (i != s1 && i != s2) c.disconnect(i);
    const raft::bytes x = command(2);
    if (c.node(s1)->start(x).index != k) c.fail("setup: X is not at index " + std::to_string(k));
    step_until(c, [&] { return holds(c, s2, k, x); }, 1s, "S2 holds X");
    c.disconnect(s1);
    c.disconnect(s2);

    // (b) One of the other three is elected, and is cut off before it sends its no-op.
    std::vector<int> rest;
    for (int i = 0; i < servers; ++i)
      if (i != s1 && i != s2) rest.push_back(i);
    for (int i : rest) c.connect(i);
    int s5 = -1;
    step_until(c, [&] {
      for (int i : rest)
        if (c.node(i)->status().role == raft::role::leader) s5 = i;
      return s5 != -1;
    }, 10s, "one of S3, S4, S5 is elected");
    c.disconnect(s5);
    std::vector<int> s34;
    for (int i : rest)
      if (i != s5) s34.push_back(i);
    c.sleep(10ms);  // S5 takes office, alone
    if (!c.node(s5)->log().contains(k) || c.node(s5)->log().at(k).kind != raft::entry_kind::no_op)
      c.fail("setup: S5 has no no-op at index " + std::to_string(k));
    for (int i : s34)
      if (c.node(i)->status().last_index >= k) c.fail("setup: S5's no-op escaped before it was cut off");

    // (c) S1 is elected by S3 and S4. As soon as one of them holds X, S1's further messages to it
    // are lost, while its acknowledgement still reaches S1.
    c.connect(s1);
    std::set<int> reached;
    step_until(c, [&] {
      for (int i : s34) {
        if (!reached.contains(i) && holds(c, i, k, x)) {
          sim::link_faults cut;
          cut.drop = 1.0;
          c.network().set_faults(host_name(cluster::id(s1)), host_name(cluster::id(i)), cut);
          reached.insert(i);
        }
      }
      return reached.size() == s34.size();
    }, 10s, "S1 is elected and replicates X to S3 and S4");
    c.sleep(100ms);  // their acknowledgements arrive
    for (int i : s34)
      if (c.node(i)->status().last_index != k) c.fail("setup: S1's no-op reached S3 or S4");
    if (c.node(s1)->status().commit_index >= k)
      c.fail("S1 counted X, an entry of an older term, committed by its replicas (Figure 8)");
    c.disconnect(s1);
    c.network().clear_link_faults();

    // (d) S5 returns, is elected by S3 and S4, and replaces X.
    c.connect(s5);
    step_until(c, [&] {
      for (int i : s34) {
        const raft::log_window& log = c.node(i)->log();
        if (log.contains(k) && log.at(k).kind == raft::entry_kind::no_op) return true;
      }
      return false;
    }, 10s, "S5 is elected again and overwrites X");

    // Everyone back: the cluster agrees, and X was never committed.
    for (int i = 0; i < servers; ++i) c.connect(i);
    c.one(command(3), servers, true);
    if (c.checker().committed(k).kind != raft::entry_kind::no_op)
      c.fail("index " + std::to_string(k) + " is not S5's no-op");
  });
}

namespace {

// A client that gets one command committed by at least one server (a goroutine of the lab's test).
co::task<void> agree(cluster& c, raft::bytes cmd) { (void)co_await one_async(c, std::move(cmd), 1, true); }

}  // namespace

TEST_CASE("UnreliableAgree: five servers on a lossy network agree on concurrent commands") {
  for_each_seed("UnreliableAgree", [](simulation sim) {
    const int servers = 5;
    cluster c(sim, servers, true);
    {
      clients concurrent(c);
      for (std::uint64_t iteration = 1; iteration < 50; ++iteration) {
        for (std::uint64_t j = 0; j < 4; ++j) {
          concurrent.spawn(agree(c, command(100 * iteration + j)));
        }
        c.one(command(iteration), 1, true);
        concurrent.check();
      }
      c.set_unreliable(false);
      concurrent.join(60s);
    }
    c.one(command(100), servers, true);
  });
}

TEST_CASE("Figure8Unreliable: Figure 8 by disconnection, on a lossy network that reorders a lot") {
  for_each_seed("Figure8Unreliable", [](simulation sim) {
    const int servers = 5;
    cluster c(sim, servers, true);
    auto& rng = c.world().random();
    c.one(command(rng.below(10000)), 1, true);
    int up = servers;
    for (int iteration = 0; iteration < 1000; ++iteration) {
      if (iteration == 200) c.set_long_reordering(true);
      int leader = -1;
      for (int i = 0; i < servers; ++i) {
        if (c.node(i)->start(command(rng.below(10000))).is_leader && c.connected(i)) leader = i;
      }
      c.sleep(figure8_pause(c));
      if (leader != -1 && rng.below(1000) < election_timeout / 1ms / 2) {
        c.disconnect(leader);
        --up;
      }
      if (up < 3) {
        int s = static_cast<int>(rng.below(servers));
        if (!c.connected(s)) {
          c.connect(s);
          ++up;
        }
      }
    }
    for (int i = 0; i < servers; ++i)
      if (!c.connected(i)) c.connect(i);
    c.one(command(rng.below(10000)), servers, true);
  });
}

namespace {

struct committed_value {
  raft::index_t index;
  raft::bytes value;
};

// One of churn's clients: starts random commands on whoever claims to lead and records those it
// sees committed where they were started; ends when *stop is set (or when cancelled).
co::task<void> churn_client(cluster& c, int me, const bool* stop, std::vector<committed_value>* values) {
  static constexpr io::duration patience[] = {10ms, 20ms, 50ms, 100ms, 200ms};
  while (!*stop) {
    raft::bytes x = command(random_value(c));
    std::optional<raft::index_t> index;
    for (int i = 0; i < c.size(); ++i) {
      // Try them all: maybe one of them leads.
      if (!c.running(i)) continue;
      auto r = c.node(i)->start(x);
      if (r.is_leader) index = r.index;
    }
    if (index) {
      // Maybe the leader commits the command, maybe not; don't wait forever.
      for (io::duration wait : patience) {
        auto [count, value] = c.n_committed(*index);
        if (count > 0) {
          if (value == x) values->push_back({*index, x});
          break;
        }
        if (!co_await pause(c, wait)) co_return;
      }
    } else {
      if (!co_await pause(c, std::chrono::milliseconds(79 + me * 17))) co_return;
    }
  }
}

// Servers crash, restart, disconnect and reconnect at random while three clients keep proposing;
// afterwards every command a client saw committed is in every server's log, where it was seen.
void churn(simulation sim, bool unreliable) {
  const int servers = 5;
  cluster c(sim, servers, unreliable);
  auto& rng = c.world().random();
  bool stop = false;
  std::vector<committed_value> values;
  {
    clients churners(c);
    for (int me = 0; me < 3; ++me) churners.spawn(churn_client(c, me, &stop, &values));
    for (int iteration = 0; iteration < 20; ++iteration) {
      if (rng.below(1000) < 200) c.disconnect(static_cast<int>(rng.below(servers)));
      if (rng.below(1000) < 500) {
        int i = static_cast<int>(rng.below(servers));
        if (!c.running(i)) c.start(i);
        c.connect(i);
      }
      if (rng.below(1000) < 200) {
        int i = static_cast<int>(rng.below(servers));
        if (c.running(i)) c.stop(i);
      }
      // Crashes and restarts infrequent enough that the peers often keep up, but not so
      // infrequent that everything has settled from one change to the next.
      c.sleep(election_timeout * 7 / 10);
      churners.check();
    }
    c.sleep(election_timeout);
    c.set_unreliable(false);
    for (int i = 0; i < servers; ++i) {
      if (!c.running(i)) c.start(i);
      c.connect(i);
    }
    stop = true;
    churners.join(10s);
  }
  c.sleep(election_timeout);
  const raft::index_t last_index = c.one(command(random_value(c)), servers, true);
  std::map<raft::index_t, raft::bytes> really;
  for (raft::index_t index = 1; index <= last_index; ++index) {
    if (c.checker().committed(index).kind != raft::entry_kind::command) continue;  // a leader's no-op
    really[index] = *c.wait(index, servers, std::nullopt);
  }
  for (const committed_value& v : values) {
    auto found = really.find(v.index);
    if (found == really.end() || found->second != v.value)
      c.fail("didn't find value " + raft::to_string(v.value) + " at index " + std::to_string(v.index));
  }
}

}  // namespace

TEST_CASE("ReliableChurn: servers crash, restart and disconnect under clients; nothing committed is lost") {
  // Its clients commit thousands of entries per run: ten seeds by default keep the suite quick
  // under the sanitizers (CORAFT_SEEDS runs more).
  for_each_seed("ReliableChurn", [](simulation sim) { churn(sim, false); });
}

TEST_CASE("UnreliableChurn: churn on a lossy network; nothing committed is lost") {
  for_each_seed("UnreliableChurn", [](simulation sim) { churn(sim, true); });
}
