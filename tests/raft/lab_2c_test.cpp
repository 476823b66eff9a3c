// The lab's part 2C scenarios: persistence across crashes, Figure 8, unreliable networks, churn.
//
// start(i) is the lab's start1 (a fresh run from what the disk held) and stop(i) its crash1 (what
// the disk had not synced is lost). A new leader's no-op (§8) moves command indexes: the checks
// use the indexes one() returns instead of the lab's literal numbers.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
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
  for_each_seed("Persist1", [](std::uint64_t seed) {
    const int servers = 3;
    cluster c(seed, servers);
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
  for_each_seed("Persist2", [](std::uint64_t seed) {
    const int servers = 5;
    cluster c(seed, servers);
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
  for_each_seed("Persist3", [](std::uint64_t seed) {
    const int servers = 3;
    cluster c(seed, servers);
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
void figure8(std::uint64_t seed, int iterations) {
  const int servers = 5;
  cluster c(seed, servers);
  c.one(command(random_value(c)), 1, true);
  int up = servers;
  for (int iteration = 0; iteration < iterations; ++iteration) {
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
  for_each_seed("Figure8", [](std::uint64_t seed) { figure8(seed, 1000); });
}

namespace {

// A client that gets one command committed by at least one server (a goroutine of the lab's test).
co::task<void> agree(cluster& c, raft::bytes cmd) { (void)co_await one_async(c, std::move(cmd), 1, true); }

}  // namespace

TEST_CASE("UnreliableAgree: five servers on a lossy network agree on concurrent commands") {
  for_each_seed("UnreliableAgree", [](std::uint64_t seed) {
    const int servers = 5;
    cluster c(seed, servers, true);
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
  for_each_seed("Figure8Unreliable", [](std::uint64_t seed) {
    const int servers = 5;
    cluster c(seed, servers, true);
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
void churn(std::uint64_t seed, bool unreliable) {
  const int servers = 5;
  cluster c(seed, servers, unreliable);
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

TEST_CASE("ReliableChurn: servers crash, restart and disconnect under three clients; nothing committed is lost") {
  for_each_seed("ReliableChurn", [](std::uint64_t seed) { churn(seed, false); });
}

TEST_CASE("UnreliableChurn: churn on a lossy network; nothing committed is lost") {
  for_each_seed("UnreliableChurn", [](std::uint64_t seed) { churn(seed, true); });
}
