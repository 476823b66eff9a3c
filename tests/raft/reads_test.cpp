// Reads without the log (thesis §6.4; node/reads.hpp): the read index that a leader confirms with
// a heartbeat round and that followers and learners ask it for. Every scenario runs on both stacks,
// many seeds each, with the safety checks after every step.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cluster.hpp"
#include "reads.hpp"
#include "reconfigure.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

// A read index, or the scenario fails saying why not.
raft::index_t read_or_fail(cluster& c, int i, const std::string& what) {
  auto read = read_now(c, i);
  if (!read) c.fail(what + ": the read did not end");
  if (!*read) c.fail(what + ": " + read->error().message());
  return **read;
}

// Whether a read on server i ends with an index within `at_most`.
bool read_succeeds(cluster& c, int i, io::duration at_most) {
  auto read = read_now(c, i, at_most);
  return read && read->has_value();
}

// Options without CheckQuorum (and so without vote withholding, which needs it): a leader cut off
// from its majority goes on believing it leads, which is what a read must not trust.
raft::options without_check_quorum() {
  raft::options o = lab_options();
  o.check_quorum = false;
  o.withhold_votes = false;
  return o;
}

}  // namespace

TEST_CASE("ReadAfterWrite: a read on any member, begun after a write completed, sees it") {
  for_each_seed("ReadAfterWrite", [](simulation sim) {
    cluster c(sim, 3);
    c.check_one_leader();
    for (int round = 0; round < 3; ++round) {
      const raft::index_t written = c.one(command(static_cast<std::uint64_t>(round)), 3, true);
      for (int i = 0; i < 3; ++i) {
        const raft::index_t read = read_or_fail(c, i, "a read on server " + std::to_string(i));
        if (read < written)
          c.fail("server " + std::to_string(i) + " read at " + std::to_string(read) +
                 ", before the write completed at " + std::to_string(written));
        if (read > c.node(i)->status().last_index + 1000)
          c.fail("a read index beyond any log");
      }
    }
  });
}

// A leader cut off with a minority, without CheckQuorum, still believes it leads while the
// majority elects another and writes. It never hands out a read index (no majority answers its
// round); nor does the follower cut off with it, which asks it. The majority's members read the
// new write.
TEST_CASE("DeposedLeader: a leader cut off in a minority never answers a read") {
  for_each_seed("DeposedLeader", [](simulation sim) {
    cluster c(sim, 5, false, without_check_quorum());
    const int old_leader = c.check_one_leader();
    c.one(command(1), 5, true);
    const int companion = (old_leader + 1) % 5;
    std::vector<std::vector<std::string>> groups(2);
    for (int i = 0; i < 5; ++i)
      groups[i == old_leader || i == companion ? 0 : 1].push_back(host_name(cluster::id(i)));
    c.network().partition(groups);
    // The majority elects a leader and commits a write the old leader never sees.
    raft::index_t written = 0;
    const io::time_point give_up = c.world().now() + 10s;
    while (written == 0) {
      if (c.world().now() > give_up) c.fail("the majority wrote nothing");
      c.sleep(100ms);
      for (int i = 0; i < 5; ++i) {
        if (i == old_leader || i == companion) continue;
        auto started = c.node(i)->start(command(2));
        if (!started.is_leader) continue;
        c.sleep(500ms);
        if (c.node(i)->status().commit_index >= started.index) written = started.index;
        break;
      }
    }
    if (c.node(old_leader)->status().role != raft::role::leader)
      c.fail("the old leader stepped down without CheckQuorum: the scenario tests nothing");
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (read_succeeds(c, old_leader, 1s)) c.fail("a deposed leader answered a read");
      if (read_succeeds(c, companion, 1s)) c.fail("a follower of a deposed leader answered a read");
    }
    for (int i = 0; i < 5; ++i) {
      if (i == old_leader || i == companion) continue;
      if (read_or_fail(c, i, "a read in the majority") < written)
        c.fail("a read in the majority missed the write");
    }
  });
}

// During a change of voters, the joint configuration needs a majority of each half for a read as
// for a commit. Two learners join, caught up; they are cut off and the voters change from the
// first three to the leader and the two learners: the old half answers the leader's rounds, the
// new half cannot, and no read is served until the learners are back. Without CheckQuorum, so
// that the leader stays (with it, it steps down: its new half is not heard either).
TEST_CASE("JointReads: in a joint configuration a read needs a majority of each half") {
  for_each_seed("JointReads", [](simulation sim) {
    cluster c(sim, 3, false, without_check_quorum());
    c.check_one_leader();
    const int a = c.add_server();
    const int b = c.add_server();
    for (int learner : {a, b}) {
      const raft::member m = c.member_of(learner, raft::member_role::learner);
      reconfigure(
          c, "adding a learner", [m](test::member& n) { return n.add_member(m); },
          [id = m.id](const raft::configuration& config) { return raft::find_member(config, id) != nullptr; });
    }
    c.one(command(1), 5, true);  // the learners hold the whole log
    const int leader = c.check_one_leader();
    c.disconnect(a);
    c.disconnect(b);
    std::vector<raft::member> next;
    for (raft::member m : c.node(leader)->status().config.members) {
      const bool stays = m.id == cluster::id(leader) || m.id == cluster::id(a) || m.id == cluster::id(b);
      m.role = stays ? raft::member_role::voter : raft::member_role::learner;
      next.push_back(m);
    }
    std::optional<co::result<raft::configuration>> changed;
    co::scope change(c.world());
    change.spawn([](test::member* n, std::vector<raft::member> next,
                    std::optional<co::result<raft::configuration>>* out) -> co::task<void> {
      *out = co_await n->change_membership(std::move(next));
    }(c.node(leader), next, &changed));
    c.sleep(300ms);
    if (!raft::is_joint(c.node(leader)->status().config)) c.fail("the change did not go joint");
    if (c.node(leader)->status().role != raft::role::leader) c.fail("the leader stepped down");
    if (read_succeeds(c, leader, 1s)) c.fail("a read was served without a majority of the new half");
    const int old_voter = (leader + 1) % 3;
    if (read_succeeds(c, old_voter, 1s)) c.fail("a follower read was served without the new half");
    c.connect(a);
    c.connect(b);
    const io::time_point give_up = c.world().now() + 10s;
    while (!changed && c.world().now() < give_up) c.step();
    change.request_stop();
    change.run_until_idle();
    if (!changed || !*changed) c.fail("the change did not complete once the new half was back");
    const int now_leading = c.check_one_leader();
    const raft::index_t written = c.one(command(2), 3, true);
    for (int i : {now_leading, a, b})
      if (read_or_fail(c, i, "a read after the change") < written) c.fail("a read missed a write");
  });
}
