// node::metrics() in simulated clusters: each counter, gauge and histogram moves as the events it
// counts happen (elections, proposals, a follower cut off and healed, logs that conflict, reads).
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "clients.hpp"
#include "cluster.hpp"
#include "reads.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

void expect(cluster& c, bool holds, const std::string& what) {
  if (!holds) c.fail("metrics: expected " + what);
}

std::string of(int i) { return " (server " + std::to_string(cluster::id(i)) + ")"; }

// Proposes `command` on server i through node::propose and lets simulated time pass until it is
// settled; fails unless it committed.
raft::index_t propose_now(cluster& c, int i, raft::bytes command) {
  struct outcome {
    std::optional<co::result<raft::proposal>> result;
  };
  auto shared = std::make_shared<outcome>();
  c.spawn_on(i, [](test::member* n, raft::bytes cmd, std::shared_ptr<outcome> out) -> co::task<void> {
    out->result = co_await n->propose(std::move(cmd));
  }(c.node(i), std::move(command), shared));
  const io::time_point give_up = c.world().now() + 3s;
  while (!shared->result && c.world().now() < give_up) c.step();
  if (!shared->result || !*shared->result) c.fail("a proposal on" + of(i) + " did not commit");
  return (**shared->result).index;
}

}  // namespace

TEST_CASE("Metrics: an election counts the pre-vote and the candidacy, and every member's leader change") {
  for_each_seed("Metrics election", [](simulation sim) {
    cluster c(sim, 3);
    for (int i = 0; i < c.size(); ++i) {
      const raft::node_metrics m = c.node(i)->metrics();
      expect(c, m.elections_started == 0 && m.leader_changes == 0 && m.leader == raft::nobody,
             "nothing counted before any election" + of(i));
    }
    const int leader = c.check_one_leader();
    c.sleep(100ms);
    const raft::node_metrics led = c.node(leader)->metrics();
    expect(c, led.role == raft::role::leader && led.leader == cluster::id(leader), "a leader's role");
    expect(c, led.elections_started >= 1 && led.pre_votes_started >= 1, "the leader campaigned");
    expect(c, led.term == c.node(leader)->status().term, "the term of status()");
    for (int i = 0; i < c.size(); ++i) {
      const raft::node_metrics m = c.node(i)->metrics();
      expect(c, m.leader_changes >= 1 && m.leader == cluster::id(leader), "the leader known" + of(i));
    }
    // The leader goes: each other member counts one more leader change, and one more candidacy
    // among them.
    c.disconnect(leader);
    const int next = c.check_one_leader();
    c.sleep(100ms);
    for (int i = 0; i < c.size(); ++i) {
      if (i == leader) continue;
      const raft::node_metrics m = c.node(i)->metrics();
      expect(c, m.leader == cluster::id(next) && m.leader_changes >= 2,
             "a second leader change" + of(i));
    }
    expect(c, c.node(next)->metrics().elections_started >= 1, "the new leader campaigned");
    expect(c, c.node(next)->metrics().term > led.term, "a higher term");
  }, {5, 2});
}

TEST_CASE("Metrics: proposals raise the commit and applied indexes, the log, traffic and latencies") {
  for_each_seed("Metrics proposals", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    const raft::node_metrics before = c.node(leader)->metrics();
    const int proposals = 20;
    const std::size_t command_bytes = 16;
    raft::index_t last = 0;
    for (int k = 0; k < proposals; ++k) last = propose_now(c, leader, random_command(c, command_bytes));
    c.sleep(500ms);
    const raft::node_metrics m = c.node(leader)->metrics();
    expect(c, m.commit_index >= last && m.commit_index >= before.commit_index + proposals,
           "the commit index past every proposal");
    expect(c, m.last_applied == m.commit_index && m.apply_lag == 0, "everything applied when idle");
    expect(c, m.log_entries == m.last_index - m.first_index + 1, "the entries in memory");
    expect(c, m.log_bytes >= proposals * command_bytes, "the commands' bytes in the log");
    // file_storage (the production stack's) says what its files hold: at least the log in memory,
    // each record more than its payload. memory_storage says nothing.
    expect(c, m.log_on_disk_known == c.production(), "the log on disk known where files hold it");
    if (c.production()) {
      expect(c, m.disk_log_entries >= m.log_entries, "every entry in memory in the files");
      expect(c, m.disk_log_bytes > m.log_bytes, "records larger than their payloads");
    }
    // Proposed one after another, each is timed, unless an entry the leader appended itself (the
    // record of incarnations) took one's turn.
    expect(c, m.commit_latency.count() >= before.commit_latency.count() + proposals - 1,
           "a commit latency per proposal");
    expect(c, m.commit_latency.sum().count() > 0, "commits that took time");
    expect(c, m.sync_latency.count() > before.sync_latency.count(), "the leader's syncs timed");
    expect(c, m.peers.size() == 2, "two peers");
    for (const raft::peer_metrics& p : m.peers) {
      expect(c, p.match_index == m.last_index && p.match_lag == 0, "a peer caught up");
      expect(c, p.requests_in_flight == 0, "nothing in flight when idle");
      expect(c, p.traffic.entries_sent >= before.traffic.at(p.id).entries_sent + proposals,
             "every proposal sent to each peer");
      expect(c, p.traffic.entry_bytes_sent >= proposals * command_bytes, "the commands' bytes sent");
      expect(c, p.traffic.append_entries_sent >= p.traffic.entries_sent / 4, "requests sent");
    }
    expect(c, m.append_entries_sent == m.peers[0].traffic.append_entries_sent +
                                           m.peers[1].traffic.append_entries_sent,
           "the node's requests sent are its peers'");
    for (int i = 0; i < c.size(); ++i) {
      if (i == leader) continue;
      const raft::node_metrics f = c.node(i)->metrics();
      expect(c, f.commit_index >= last && f.last_applied == f.commit_index, "a follower applied" + of(i));
      expect(c, f.append_entries_received > 0, "requests received" + of(i));
      expect(c, f.sync_latency.count() > 0, "a follower's syncs timed" + of(i));
      expect(c, f.peers.empty(), "no peers listed by a follower" + of(i));
    }
  }, {5, 2});
}

TEST_CASE("Metrics: a follower cut off lags on the leader by what it missed, and catches up once healed") {
  for_each_seed("Metrics match lag", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    const int cut = (leader + 1) % c.size();
    const raft::node_id cut_id = cluster::id(cut);
    c.disconnect(cut);
    const raft::index_t missed = 10;
    for (raft::index_t k = 0; k < missed; ++k) c.one(random_command(c, 8), 2, true);
    const raft::node_metrics lagging = c.node(leader)->metrics();
    const raft::peer_metrics* behind = lagging.peer(cut_id);
    expect(c, behind != nullptr, "the cut-off follower listed");
    expect(c, behind->match_lag >= missed, "a lag of at least the entries missed");
    expect(c, behind->match_lag == lagging.last_index - behind->match_index, "lag = last - match");
    expect(c, behind->requests_in_flight <= lab_options().max_appends_in_flight, "a bounded window");
    expect(c, lagging.commit_latency.count() + 1 >= missed, "commands appended by start() timed too");
    c.connect(cut);
    c.sleep(1s);
    const raft::node_metrics healed = c.node(leader)->metrics();
    expect(c, healed.role == raft::role::leader, "the leader kept its role");
    expect(c, healed.peer(cut_id)->match_lag == 0, "no lag once healed");
    expect(c, c.node(cut)->metrics().commit_index == healed.commit_index, "the follower's commit index");
  }, {5, 2});
}

TEST_CASE("Metrics: AppendEntries refused for a conflicting log are counted on both sides") {
  for_each_seed("Metrics rejected", [](simulation sim) {
    cluster c(sim, 3);
    const int old_leader = c.check_one_leader();
    c.one(random_command(c, 8), 3, true);
    // The leader, cut off, appends entries nobody else gets; the others elect a second leader,
    // whose log then differs from the old leader's past their common prefix.
    c.disconnect(old_leader);
    for (int k = 0; k < 5; ++k) c.node(old_leader)->start(random_command(c, 8));
    const int second_leader = c.check_one_leader();
    for (int k = 0; k < 3; ++k) c.one(random_command(c, 8), 2, true);
    expect(c, c.node(old_leader)->metrics().append_entries_rejected == 0, "nothing refused yet");
    // The second leader goes as the old one returns: the third member leads, and its first request
    // to the old leader starts past the end of its own log (a leader that had failed to reach a
    // peer would start at the peer's match instead, where the logs agree).
    c.disconnect(second_leader);
    c.connect(old_leader);
    const int new_leader = c.check_one_leader();
    expect(c, new_leader != old_leader, "the old leader, with an older log, does not win");
    c.one(random_command(c, 8), 2, true);
    c.sleep(1s);
    const raft::node_metrics refused = c.node(old_leader)->metrics();
    expect(c, refused.append_entries_rejected >= 1, "the old leader refused a request");
    expect(c, refused.append_entries_received > refused.append_entries_rejected,
           "then accepted the new leader's");
    const raft::node_metrics led = c.node(new_leader)->metrics();
    expect(c, led.traffic.at(cluster::id(old_leader)).append_entries_rejected >= 1,
           "the new leader counted the refusal");
    expect(c, led.peer(cluster::id(old_leader))->match_lag == 0, "the old leader caught up");
  }, {5, 2});
}

TEST_CASE("Metrics: read_index latencies are counted where reads are asked, snapshots where taken") {
  for_each_seed("Metrics reads and snapshots", [](simulation sim) {
    cluster c(sim, 3);
    c.set_snapshot_interval(10);
    const int leader = c.check_one_leader();
    for (int k = 0; k < 25; ++k) c.one(random_command(c, 8), 3, true);
    const int follower = (leader + 1) % c.size();
    const auto on_leader = read_now(c, leader);
    const auto on_follower = read_now(c, follower);
    expect(c, on_leader && *on_leader && on_follower && *on_follower, "both reads served");
    const raft::node_metrics m = c.node(leader)->metrics();
    expect(c, m.read_index_latency.count() >= 1, "the leader's read timed (the follower asks it too)");
    expect(c, c.node(follower)->metrics().read_index_latency.count() == 1, "the follower's read timed");
    expect(c, m.snapshot_index >= 20 && m.snapshot_bytes > 0, "the latest snapshot");
    expect(c, m.first_index == m.snapshot_index + 1, "the log starts after the snapshot");
  }, {5, 2});
}
