// Leader stability: PreVote, vote withholding and CheckQuorum (thesis §9.6, §4.2.3, §6.2), and
// leadership transfer (§3.10). A member that was cut off, paused or slowed must not depose a
// healthy leader; a leader cut off from its majority must step down; a transfer must hand the
// leadership over within an election timeout, or fail cleanly and leave the old leader serving.
// Every scenario runs on both stacks, many seeds each, with the safety checks after every step.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "clients.hpp"
#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

std::string host(int i) { return host_name(cluster::id(i)); }

// The longest election timeout a member can draw, 2T with the lab's T.
constexpr io::duration longest_election_timeout = 300ms;


// Holds every message to and from server i back by `delay`: the member looks paused to the others,
// and once the delay ends, what it sent arrives all at once, late.
void delay_both_ways(cluster& c, int i, io::duration delay) {
  sim::link_faults slow;
  slow.min_delay = delay;
  slow.max_delay = delay + 5ms;
  for (int j = 0; j < c.size(); ++j) {
    if (j == i) continue;
    c.network().set_faults(host(i), host(j), slow);
    c.network().set_faults(host(j), host(i), slow);
  }
}

int some_follower(cluster& c, int leader) { return (leader + 1) % c.size(); }

// The leader, its term, and every running member's term and elections started, to compare before
// and after a disturbance.
struct leadership {
  int leader = -1;
  raft::term_t term = 0;
};
leadership settle(cluster& c) {
  const int leader = c.check_one_leader();
  c.sleep(100ms);  // followers learn the term from the first heartbeats
  return {leader, c.check_terms()};
}

// The leader and the term are what they were, on every connected member, and the cluster commits.
void expect_undisturbed(cluster& c, const leadership& before, const std::string& after) {
  const int leader = c.check_one_leader();
  if (leader != before.leader) c.fail(after + ": the leader changed");
  if (c.check_terms() != before.term) c.fail(after + ": the term changed");
  c.one(raft::to_bytes("after: " + after), c.size(), true);
}

// Runs `transfer_leadership(target)` on server `from` as a client coroutine; the outcome lands in
// *outcome once it resumes.
co::task<void> transfer(cluster* c, int from, raft::node_id target,
                        std::optional<co::result<void>>* outcome) {
  *outcome = co_await c->node(from)->transfer_leadership(target);
}

std::string describe(const std::optional<co::result<void>>& outcome) {
  if (!outcome) return "still waiting";
  return *outcome ? "ok" : outcome->error().message();
}

// Fails unless the transfer ended with `wanted`.
void expect_error(cluster& c, const std::optional<co::result<void>>& outcome, raft::errc wanted,
                  const std::string& what) {
  if (!outcome || *outcome || outcome->error() != wanted) c.fail(what + ": " + describe(outcome));
}

// The leader reaches follower a, whose replies are lost, and neither way reaches follower b; a and
// b reach each other. Returns a.
int cut_one_way_leader(cluster& c, int leader) {
  const int a = some_follower(c, leader);
  const int b = some_follower(c, a);
  c.cut_link(a, leader);
  c.cut_link(leader, b);
  c.cut_link(b, leader);
  return a;
}

}  // namespace

// ---- PreVote ---------------------------------------------------------------------------------------

TEST_CASE("PartitionedFollowerRejoins: a follower cut off for many election timeouts rejoins without raising the term") {
  for_each_seed("PartitionedFollowerRejoins", [](simulation sim) {
    for (int n : {3, 5}) {
      cluster c(sim, n);
      const leadership before = settle(c);
      const int follower = some_follower(c, before.leader);
      const raft::node_status was = c.node(follower)->status();
      c.disconnect(follower);
      c.one(raft::to_bytes("while it was away"), n - 1, true);
      c.sleep(10 * longest_election_timeout);
      // Its pre-votes found no majority, so it never raised its term.
      if (c.node(follower)->status().term != before.term)
        c.fail("the cut-off follower raised its term");
      if (c.node(follower)->status().pre_votes_started < was.pre_votes_started + 5)
        c.fail("the cut-off follower did not keep holding pre-votes");
      if (c.node(follower)->status().elections_started != was.elections_started)
        c.fail("the cut-off follower started an election");
      c.connect(follower);
      c.sleep(2 * longest_election_timeout);
      expect_undisturbed(c, before, "the follower rejoined");
    }
  });
}

TEST_CASE("PausedFollower: a follower whose messages are held back a second both ways leaves leader and term alone") {
  for_each_seed("PausedFollower", [](simulation sim) {
    cluster c(sim, 3);
    const leadership before = settle(c);
    const int follower = some_follower(c, before.leader);
    for (int pause = 0; pause < 3; ++pause) {
      delay_both_ways(c, follower, 1s);
      c.sleep(1500ms);
      c.network().clear_link_faults();
      c.sleep(1500ms);  // the late messages arrive, all of them stale
    }
    expect_undisturbed(c, before, "three pauses of a second");
  });
}

TEST_CASE("StrandedPreCandidate: a member left in an older term learns the term from refused pre-votes and rejoins") {
  for_each_seed("StrandedPreCandidate", [](simulation sim) {
    cluster c(sim, 3);
    const leadership first = settle(c);
    // The leader is cut off; the others elect a new one in a newer term and commit.
    c.disconnect(first.leader);
    const int second = c.check_one_leader();
    const raft::term_t newer = c.node(second)->status().term;
    c.one(raft::to_bytes("in the newer term"), 2, true);
    // The old leader comes back, but the new leader's heartbeats still do not reach it: only the
    // third member's refusals of its pre-votes can tell it the newer term.
    c.cut_link(second, first.leader);
    c.connect(first.leader);
    c.sleep(4 * longest_election_timeout);
    const raft::node_status stranded = c.node(first.leader)->status();
    if (stranded.role == raft::role::leader) c.fail("the old leader still claims to lead");
    if (stranded.term != newer) c.fail("the stranded member did not learn the newer term from refused pre-votes");
    if (c.node(second)->status().role != raft::role::leader || c.node(second)->status().term != newer)
      c.fail("the stranded member deposed the new leader");
    c.network().clear_link_faults();
    c.sleep(2 * longest_election_timeout);
    if (c.check_one_leader() != second) c.fail("the returning member deposed the new leader");
    if (c.check_terms() != newer) c.fail("the term changed once the link healed");
    c.one(raft::to_bytes("everyone agrees"), 3, true);
  });
}

TEST_CASE("CutOffCandidate: a candidate cut off once it won its pre-vote raises its term once, not each timeout") {
  for_each_seed("CutOffCandidate", [](simulation sim) {
    cluster c(sim, 5);
    const leadership first = settle(c);
    // The leader goes; the first member to win a pre-vote is cut off as soon as it is seen to be a
    // candidate (polled each 100 us), so that most or all of its RequestVotes are lost.
    c.disconnect(first.leader);
    int candidate = -1;
    for (io::duration waited{}; candidate < 0 && waited < 20 * longest_election_timeout;
         waited += 100us) {
      c.sleep(100us);
      for (int i = 0; i < c.size(); ++i)
        if (i != first.leader && c.node(i)->status().role == raft::role::candidate) candidate = i;
    }
    if (candidate < 0) c.fail("nobody became a candidate");
    const raft::node_status was = c.node(candidate)->status();
    c.disconnect(candidate);
    // The other three elect a leader; the candidate's timeouts send it back to pre-votes, which
    // nobody hears, so its term stays the one it campaigned in.
    c.sleep(10 * longest_election_timeout);
    const raft::node_status cut_off = c.node(candidate)->status();
    if (cut_off.term != was.term) c.fail("the cut-off candidate raised its term again");
    if (cut_off.elections_started != was.elections_started)
      c.fail("the cut-off candidate started another election");
    if (cut_off.pre_votes_started < was.pre_votes_started + 5)
      c.fail("the cut-off candidate did not go back to pre-votes");
    const int leader = c.check_one_leader();
    const raft::term_t term = c.node(leader)->status().term;
    c.one(raft::to_bytes("without the candidate"), 3, true);
    // Back, it follows the new leader, whose term is at least its own.
    c.connect(candidate);
    c.sleep(2 * longest_election_timeout);
    if (c.check_one_leader() != leader) c.fail("the former candidate deposed the new leader");
    if (c.check_terms() != term) c.fail("the term changed once the candidate rejoined");
    c.connect(first.leader);
    c.one(raft::to_bytes("everyone agrees"), 5, true);
  });
}

// ---- vote withholding --------------------------------------------------------------------------------

TEST_CASE("AsymmetricPartition: a follower that hears the leader but is not heard, or the reverse, deposes nobody") {
  for_each_seed("AsymmetricPartition", [](simulation sim) {
    for (bool follower_heard : {false, true}) {
      cluster c(sim, 3);
      const leadership before = settle(c);
      const int follower = some_follower(c, before.leader);
      // Either its replies to the leader are lost, or the leader's requests to it are.
      if (follower_heard) c.cut_link(before.leader, follower);
      else c.cut_link(follower, before.leader);
      c.sleep(10 * longest_election_timeout);
      const int leader = c.check_one_leader();
      if (leader != before.leader) c.fail("a one-way link deposed the leader");
      c.one(raft::to_bytes("over the one-way link"), 2, true);
      if (follower_heard && c.node(follower)->status().term != before.term)
        c.fail("the follower that no longer hears the leader raised its term");
      c.network().clear_link_faults();
      c.sleep(2 * longest_election_timeout);
      expect_undisturbed(c, before, "the link healed");
    }
  });
}

TEST_CASE("FlappingLink: a follower whose link flaps for ten seconds never deposes the leader") {
  // The figures: elections started and time without a leader, with the stability options on and
  // with all three off, on the same seeds.
  std::uint64_t elections[2] = {0, 0};
  io::duration leaderless[2] = {};
  std::uint64_t runs = 0;
  for_each_seed(
      "FlappingLink", [&](simulation sim) {
    ++runs;
    for (bool stable : {true, false}) {
      raft::options o = lab_options();
      o.pre_vote = o.withhold_votes = o.check_quorum = stable;
      cluster c(sim, 3, false, o);
      const leadership before = settle(c);
      const int follower = some_follower(c, before.leader);
      auto& rng = c.world().random();
      const io::time_point end = c.world().now() + 10s;
      while (c.world().now() < end) {
        c.disconnect(follower);
        const io::time_point down_until = c.world().now() + 100ms + rng.below(400) * 1ms;
        while (c.world().now() < down_until) {
          c.sleep(10ms);
          bool led = false;
          for (int i = 0; i < c.size(); ++i)
            led = led || (c.running(i) && c.connected(i) && c.node(i)->status().role == raft::role::leader);
          if (!led) leaderless[stable ? 0 : 1] += 10ms;
        }
        c.connect(follower);
        c.sleep(50ms + rng.below(300) * 1ms);
      }
      for (int i = 0; i < c.size(); ++i) elections[stable ? 0 : 1] += c.node(i)->status().elections_started;
      if (stable) expect_undisturbed(c, before, "ten seconds of flapping");
      else c.one(raft::to_bytes("after the flapping"), c.size(), true);
    }
  }, {.fast = 10, .production = 5});
  MESSAGE("flapping follower link, " << runs << " runs of 10 s: elections started "
          << elections[0] << " with PreVote, withholding and CheckQuorum, " << elections[1]
          << " without; time without a leader "
          << std::chrono::duration_cast<std::chrono::milliseconds>(leaderless[0]).count() << " ms and "
          << std::chrono::duration_cast<std::chrono::milliseconds>(leaderless[1]).count() << " ms");
}

// ---- CheckQuorum ---------------------------------------------------------------------------------------

TEST_CASE("IsolatedLeaderStepsDown: a leader cut off from its majority steps down within two election timeouts") {
  for_each_seed("IsolatedLeaderStepsDown", [](simulation sim) {
    cluster c(sim, 5);
    const leadership before = settle(c);
    // The leader keeps one follower: two of five, no majority.
    const int kept = some_follower(c, before.leader);
    std::vector<std::vector<std::string>> groups(2);
    for (int i = 0; i < c.size(); ++i)
      groups[i == before.leader || i == kept ? 0 : 1].push_back(host(i));
    c.network().partition(groups);
    c.sleep(2 * longest_election_timeout);
    if (c.node(before.leader)->status().role == raft::role::leader)
      c.fail("the leader cut off from its majority still leads");
    // The majority elects and commits.
    c.one(raft::to_bytes("in the majority"), 3, true);
    c.network().heal();
    c.one(raft::to_bytes("healed"), 5, true);
  });
}

TEST_CASE("OneWayLeader: a leader heard by one follower but hearing nobody does not stall the cluster") {
  // Three members cut as cut_one_way_leader() says. Withholding keeps a from voting while it hears
  // the leader, so only CheckQuorum (the leader steps down) lets the cluster elect again.
  for_each_seed("OneWayLeader", [](simulation sim) {
    cluster c(sim, 3);
    const leadership before = settle(c);
    cut_one_way_leader(c, before.leader);
    c.sleep(4 * longest_election_timeout);
    c.one(raft::to_bytes("a and b elect"), 2, true);
    if (c.node(before.leader)->status().role == raft::role::leader &&
        c.node(before.leader)->status().term == before.term)
      c.fail("the one-way leader kept leading");
  });
}

TEST_CASE("OneWayLeader without CheckQuorum: withholding alone stalls the cluster (why the two go together)") {
  // The fast stack only: its messages are independent datagrams, so the one-way cut is exact. On
  // the production stack a stream whose replies never come back is torn down by the transport.
  for_each_seed("OneWayLeaderWithoutCheckQuorum", [](simulation sim) {
    raft::options o = lab_options();
    o.check_quorum = false;
    cluster c(sim, 3, false, o);
    const leadership before = settle(c);
    const int a = cut_one_way_leader(c, before.leader);
    const int b = some_follower(c, a);
    c.sleep(20 * longest_election_timeout);
    if (c.node(before.leader)->status().role != raft::role::leader)
      c.fail("without CheckQuorum the leader stepped down");
    if (c.node(a)->status().term != before.term || c.node(b)->status().term != before.term)
      c.fail("a or b raised the term although a withholds its vote");
    const auto r = c.node(before.leader)->start(raft::to_bytes("stuck"));
    c.sleep(2s);
    if (r.is_leader && c.n_committed(r.index).first > 0) c.fail("the stalled leader committed");
  }, {.fast = 10, .production = 0});
}

// ---- slow disks -----------------------------------------------------------------------------------------

TEST_CASE("SlowLeaderDisk: a leader whose syncs take 50 ms and more, spiking to 250 ms, is not deposed") {
  // The leader's own syncs delay commitment alone, never its heartbeats nor the replies to them.
  for_each_seed("SlowLeaderDisk", [](simulation sim) {
    cluster c(sim, 3);
    const leadership before = settle(c);
    sim::disk_faults& faults = c.machine(before.leader).disk().faults();
    faults.min_sync_latency = 50ms;
    faults.max_sync_latency = 80ms;
    faults.slow_sync = 0.1;
    faults.slow_sync_min = 100ms;
    faults.slow_sync_max = 250ms;
    clients load(c);
    for (int k = 0; k < 4; ++k) {
      load.spawn([](cluster* c, int k) -> co::task<void> {
        for (int j = 0; j < 40; ++j) {
          for (int i = 0; i < c->size(); ++i) {
            if (c->node(i)->status().role != raft::role::leader) continue;
            (void)co_await c->node(i)->propose(raft::to_bytes(std::to_string(k) + "/" + std::to_string(j)));
            break;
          }
          if (!co_await c->world().sleep_for(20ms)) co_return;
        }
      }(&c, k));
    }
    load.join(30s);
    expect_undisturbed(c, before, "a slow disk on the leader");
  }, {.fast = 0, .production = 20});
}

// ---- leadership transfer ---------------------------------------------------------------------------------

TEST_CASE("Transfer: to an up-to-date member and to a lagging one, within an election timeout") {
  for_each_seed("Transfer", [](simulation sim) {
    cluster c(sim, 5);
    clients calls(c);
    const leadership first = settle(c);
    c.one(raft::to_bytes("before"), 5, true);

    // Up to date: the follower holds everything the leader has.
    const int target = some_follower(c, first.leader);
    const std::uint64_t target_pre_votes = c.node(target)->status().pre_votes_started;
    std::optional<co::result<void>> outcome;
    const io::time_point asked = c.world().now();
    calls.spawn(transfer(&c, first.leader, cluster::id(target), &outcome));
    calls.join(2 * longest_election_timeout);
    if (!outcome || !*outcome) c.fail("transfer to an up-to-date member: " + describe(outcome));
    if (c.world().now() - asked > 150ms) c.fail("the transfer took longer than an election timeout");
    if (c.node(target)->status().role != raft::role::leader) c.fail("the target does not lead");
    if (c.node(target)->status().pre_votes_started != target_pre_votes)
      c.fail("the target held a pre-vote instead of campaigning at once");
    c.one(raft::to_bytes("under the new leader"), 5, true);

    // Lagging: the new leader's requests to it take 40 ms, and the leader has just appended 20
    // entries it does not hold yet.
    const int lagging = some_follower(c, target);
    sim::link_faults slow;
    slow.min_delay = 40ms;
    slow.max_delay = 45ms;
    c.network().set_faults(host(target), host(lagging), slow);
    c.sleep(100ms);
    for (int k = 0; k < 20; ++k) {
      if (!c.node(target)->start(raft::to_bytes("appended " + std::to_string(k))).is_leader)
        c.fail("the new leader stopped leading");
    }
    c.sleep(1ms);
    if (c.node(lagging)->status().last_index >= c.node(target)->status().last_index)
      c.fail("the target is not behind");
    outcome.reset();
    calls.spawn(transfer(&c, target, cluster::id(lagging), &outcome));
    calls.join(2 * longest_election_timeout);
    if (!outcome || !*outcome) c.fail("transfer to a lagging member: " + describe(outcome));
    if (c.node(lagging)->status().role != raft::role::leader) c.fail("the lagging target does not lead");
    c.network().clear_link_faults();
    c.one(raft::to_bytes("under the lagging target"), 5, true);
  });
}

TEST_CASE("TransferToCrashedMember: the transfer times out and the old leader serves again") {
  for_each_seed("TransferToCrashedMember", [](simulation sim) {
    cluster c(sim, 3);
    clients calls(c);
    const leadership before = settle(c);
    const int target = some_follower(c, before.leader);
    c.stop(target);
    std::optional<co::result<void>> outcome;
    calls.spawn(transfer(&c, before.leader, cluster::id(target), &outcome));
    // While the transfer runs, the leader appends nothing.
    c.sleep(10ms);
    const auto refused = c.node(before.leader)->start(raft::to_bytes("during the transfer"));
    if (refused.error != raft::errc::transferring_leadership)
      c.fail("a proposal during the transfer: " + refused.error.message());
    if (c.node(before.leader)->status().transfer_target != cluster::id(target))
      c.fail("status() does not show the transfer");
    calls.join(2 * longest_election_timeout);
    expect_error(c, outcome, raft::errc::transfer_timed_out, "transfer to a crashed member");
    if (c.node(before.leader)->status().role != raft::role::leader ||
        c.node(before.leader)->status().term != before.term)
      c.fail("the old leader does not serve again");
    if (c.node(before.leader)->status().transfer_target != raft::nobody)
      c.fail("the transfer is still shown after it failed");
    c.one(raft::to_bytes("accepted again"), 2, false);
    c.start(target);
    c.one(raft::to_bytes("all back"), 3, true);
  });
}

TEST_CASE("TransferErrors: to itself, to a stranger, from a follower, while one runs") {
  for_each_seed("TransferErrors", [](simulation sim) {
    cluster c(sim, 3);
    clients calls(c);
    const leadership before = settle(c);
    const int follower = some_follower(c, before.leader);
    std::optional<co::result<void>> self, stranger, from_follower, first, second;
    calls.spawn(transfer(&c, before.leader, cluster::id(before.leader), &self));
    calls.spawn(transfer(&c, before.leader, 99, &stranger));
    calls.spawn(transfer(&c, follower, cluster::id(before.leader), &from_follower));
    calls.join(10ms);
    expect_error(c, self, raft::errc::already_leader, "transfer to itself");
    expect_error(c, stranger, raft::errc::unknown_member, "transfer to a stranger");
    expect_error(c, from_follower, raft::errc::not_leader, "transfer from a follower");
    // Two at once: the target is cut off, so the first is still running when the second comes.
    c.disconnect(follower);
    calls.spawn(transfer(&c, before.leader, cluster::id(follower), &first));
    calls.spawn(transfer(&c, before.leader, cluster::id((follower + 1) % 3), &second));
    calls.join(2 * longest_election_timeout);
    expect_error(c, second, raft::errc::transfer_in_progress, "a second transfer");
    expect_error(c, first, raft::errc::transfer_timed_out, "a transfer to a cut-off member");
  });
}
