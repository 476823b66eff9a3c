// The election timer (§5.2, Figure 2: "If election timeout elapses without receiving AppendEntries
// RPC from current leader or granting vote to candidate: convert to candidate"), checked on one node
// whose two peers are scripted: what restarts the timer, and what must not.
#include <doctest/doctest.h>

#include <optional>

#include "cluster.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

// The timer's own rules (§5.2), without PreVote and vote withholding: nobody behind the scripted
// peers answers a pre-vote, and these scenarios are about what real RequestVotes do to the timer.
raft::options timer_options() {
  raft::options o = lab_options();
  o.pre_vote = false;
  o.withhold_votes = false;
  return o;
}

// Node 1 under test; ids 2 and 3 are transports the test speaks through, with nobody behind them.
struct scripted_peers {
  sim::world world{3};
  sim::network network{world};
  raft_wires wires{&network};
  sim_board board{wires};
  raft::memory_disk disk;
  sim_storage storage{world, disk, 500us};
  sim_transport transport{board, world, 1, 100ms};
  sim_transport two{board, world, 2, 100ms};
  sim_transport three{board, world, 3, 100ms};
  sim_node node{world, transport, storage, 1, {2, 3}, timer_options()};
  co::scope life{world};
  // The requests the scripted peers send are of node 1's cluster, or node 1 would drop them.
  const raft::cluster_id cluster = raft::initial_configuration(1, {2, 3}).cluster;

  scripted_peers() {
    for (const char* host : {"n1", "n2", "n3"}) network.add_host(host);
    life.spawn(node.run());
  }
  ~scripted_peers() {
    life.request_stop();
    while (life.size() > 0) world.step();
  }
};

// Node 2, leading term 1, gives node 1 one entry; the outcome lands in *accepted.
co::task<void> lead_once(scripted_peers* p, std::optional<bool>* accepted) {
  raft::append_entries_args args;
  args.term = 1;
  args.leader = 2;
  args.cluster = p->cluster;
  args.entries.push_back(raft::log_entry{1, raft::entry_kind::command, raft::to_bytes("x")});
  auto reply = co_await p->two.call(1, args);
  *accepted = reply && reply->success;
}

// Node 3, whose log is empty, asks for a vote in a higher term every `every` until cancelled;
// counts the refusals.
co::task<void> campaign_stale(scripted_peers* p, io::duration every, int* refused) {
  for (raft::term_t term = 2;; ++term) {
    if (!co_await p->world.sleep_for(every)) co_return;
    raft::request_vote_args ask{term, 3, 0, 0};
    ask.cluster = p->cluster;
    auto reply = co_await p->three.call(1, ask);
    if (reply && !reply->vote_granted) ++*refused;
  }
}

}  // namespace

TEST_CASE("ElectionTimer: RequestVotes of higher terms that the follower refuses do not restart its timer (§5.2)") {
  // Node 3's log is behind node 1's, so node 1 refuses every vote; each request still raises node
  // 1's term. If each restarted node 1's timer, a candidate that cannot win, asking more often
  // than the election timeout, would keep node 1 (which could win) from ever standing.
  scripted_peers p;
  std::optional<bool> accepted;
  co::scope script(p.world);
  script.spawn(lead_once(&p, &accepted));
  p.world.run_for(20ms);
  REQUIRE(accepted == true);
  const io::time_point heard = p.world.now();
  int refused = 0;
  script.spawn(campaign_stale(&p, lab_options().election_timeout / 2, &refused));
  std::optional<io::time_point> stood;
  while (!stood && p.world.now() - heard < 2s) {
    p.world.step();
    if (p.node.status().role == raft::role::candidate) stood = p.world.now();
  }
  script.request_stop();
  while (script.size() > 0) p.world.step();
  REQUIRE(stood.has_value());
  CHECK(refused >= 2);
  // The longest election timeout is twice the option; the term's write takes a simulated sync.
  CHECK(*stood - heard <= 2 * lab_options().election_timeout + 1ms);
}

TEST_CASE("ElectionTimer: granting a vote restarts the timer; a follower that keeps granting never stands (§5.2)") {
  scripted_peers p;
  int refused = 0;
  co::scope script(p.world);
  // Node 3's log (empty) is as up to date as node 1's: each request is granted.
  script.spawn(campaign_stale(&p, lab_options().election_timeout / 2, &refused));
  bool stood = false;
  const io::time_point from = p.world.now();
  while (p.world.now() - from < 2s) {
    p.world.step();
    if (p.node.status().role == raft::role::candidate) stood = true;
  }
  script.request_stop();
  while (script.size() > 0) p.world.step();
  CHECK_FALSE(stood);
  CHECK(refused == 0);
  CHECK(p.node.status().term >= 10);
}
