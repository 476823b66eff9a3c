// The lab's part 2A scenarios: leader election.
#include <doctest/doctest.h>

#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

TEST_CASE("InitialElection: three servers elect one leader and keep it while nothing fails") {
  for_each_seed("InitialElection", [](simulation sim) {
    cluster c(sim, 3);
    c.check_one_leader();
    // Let followers learn of the election before comparing terms.
    c.sleep(50ms);
    raft::term_t term1 = c.check_terms();
    if (term1 < 1) c.fail("term is " + std::to_string(term1) + ", but should be at least 1");
    // Without a failure the leader stays and the term does not change.
    c.sleep(2 * election_timeout);
    raft::term_t term2 = c.check_terms();
    if (term1 != term2) c.fail("term changed although there were no failures");
    c.check_one_leader();
  });
}

TEST_CASE("ReElection: a new leader is elected when the leader disconnects, none without a majority") {
  for_each_seed("ReElection", [](simulation sim) {
    const int n = 3;
    cluster c(sim, n);
    int leader1 = c.check_one_leader();
    // The leader disconnects: a new one is elected.
    c.disconnect(leader1);
    c.check_one_leader();
    // The old leader rejoins: it must not disturb the new one.
    c.connect(leader1);
    int leader2 = c.check_one_leader();
    // Without a quorum no leader may be elected.
    c.disconnect(leader2);
    c.disconnect((leader2 + 1) % n);
    c.sleep(2 * election_timeout);
    c.check_no_leader();
    // A quorum returns: a leader is elected.
    c.connect((leader2 + 1) % n);
    c.check_one_leader();
    // The last server rejoins: still one leader.
    c.connect(leader2);
    c.check_one_leader();
  });
}

TEST_CASE("ManyElections: seven servers, three disconnected at random ten times, a leader each time") {
  for_each_seed("ManyElections", [](simulation sim) {
    const int n = 7;
    cluster c(sim, n);
    c.check_one_leader();
    for (int iteration = 0; iteration < 10; ++iteration) {
      auto& rng = c.world().random();
      int i1 = static_cast<int>(rng.below(n)), i2 = static_cast<int>(rng.below(n)),
          i3 = static_cast<int>(rng.below(n));
      c.disconnect(i1);
      c.disconnect(i2);
      c.disconnect(i3);
      // Either the current leader is still alive, or the remaining four elect a new one.
      c.check_one_leader();
      c.connect(i1);
      c.connect(i2);
      c.connect(i3);
    }
    c.check_one_leader();
  });
}
