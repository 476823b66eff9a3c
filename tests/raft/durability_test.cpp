// What a server promises in a reply is durable before the reply leaves (Figure 2, "Persistent state
// on all servers: updated on stable storage before responding to RPCs"), checked where breaking
// the rule shows: a power cut between a vote and its sync.
#include <doctest/doctest.h>

#include <string>

#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

// Steps until `done`; false if `at_most` passes first.
template <class Predicate>
bool step_until(cluster& c, Predicate done, io::duration at_most) {
  const io::time_point give_up = c.world().now() + at_most;
  while (!done()) {
    if (c.world().now() > give_up) return false;
    c.step();
  }
  return true;
}

bool leads_in(cluster& c, int i, raft::term_t term) {
  return c.running(i) && c.node(i)->status().role == raft::role::leader && c.node(i)->status().term == term;
}

}  // namespace

TEST_CASE("VoteDurableBeforeReply: a voter that loses power before its vote is synced never elected anyone with it") {
  // The leader crashes; candidate B asks voter A, whose disk takes 300 ms to sync. A power cut at
  // A 50 ms after it granted the vote loses the vote. Had A replied before its sync, B would lead
  // the new term with A's vote, and after A's restart the old leader L could win the same term
  // with A's vote again: two leaders in one term, which the safety checker reports (§5.2, Election
  // Safety). A that waits for its disk never told B anything.
  for_each_seed("VoteDurableBeforeReply", [](simulation sim) {
    const int servers = 3;
    cluster c(sim, servers);
    // Which follower campaigns first is a coin flip of the election timeouts (the candidate wins it
    // about 46% of the time, over 600 seeds), so the budget leaves no seed without the interleaving.
    for (int attempt = 0;; ++attempt) {
      if (attempt == 30) c.fail("the voter never received the candidate's request before campaigning itself");
      c.one(command(static_cast<std::uint64_t>(attempt)), servers, true);
      const int old_leader = c.check_one_leader();
      const raft::term_t term = c.node(old_leader)->status().term;
      const int voter = (old_leader + 1) % servers;
      const int candidate = (old_leader + 2) % servers;
      sim::disk_faults& voter_disk = c.machine(voter).disk().faults();
      voter_disk.slow_sync = 1.0;
      voter_disk.slow_sync_min = 300ms;
      voter_disk.slow_sync_max = 400ms;
      c.stop(old_leader);
      // The voter learns of the new term from the candidate's RequestVote, not as a candidate.
      if (!step_until(c, [&] { return c.node(voter)->status().term > term; }, 5s))
        c.fail("no election after the leader crashed");
      const bool voter_was_asked = c.node(voter)->status().role == raft::role::follower &&
                                   c.node(candidate)->status().role == raft::role::candidate &&
                                   c.node(candidate)->status().term == term + 1;
      if (!voter_was_asked) {
        voter_disk = sim::disk_faults{};
        c.start(old_leader);
        continue;
      }
      c.sleep(50ms);  // a reply sent before the sync would have reached the candidate by now
      c.disconnect(candidate);
      c.stop(voter);  // the power cut: the vote (and the new term) were not synced yet
      voter_disk = sim::disk_faults{};
      c.start(voter);
      // Its storage loads (a few directory syncs) before the node knows its term again.
      if (!step_until(c, [&] { return c.node(voter)->status().term != 0; }, 1s))
        c.fail("the voter did not recover its term");
      if (c.node(voter)->status().term != term) c.fail("the voter's new term survived the power cut");
      c.start(old_leader);
      // The old leader and the voter elect a leader of the next term, which may be term + 1 again.
      if (!step_until(c, [&] { return leads_in(c, voter, term + 1) || leads_in(c, old_leader, term + 1) ||
                                      c.node(voter)->status().term > term + 1; }, 5s))
        c.fail("the old leader and the voter elected nobody");
      c.connect(candidate);
      c.one(command(1000), servers, true);
      return;
    }
  }, seed_counts{.fast = 0, .production = 20});
}
