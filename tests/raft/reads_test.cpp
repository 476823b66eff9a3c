// Reads without the log (thesis §6.4; node/reads.hpp): the read index that a leader confirms with
// a heartbeat round and that followers and learners ask it for. Every scenario runs on both stacks,
// many seeds each, with the safety checks after every step.
#include <doctest/doctest.h>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
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

// A write committed by a leader among `among`, begun within `within`: its index, or 0 if none was
// committed in that time. Lets simulated time pass a millisecond at a time, so that whatever is
// done next happens right after the commit.
raft::index_t write_among(cluster& c, const std::vector<int>& among, std::uint64_t value,
                          io::duration within) {
  const io::time_point give_up = c.world().now() + within;
  std::optional<std::pair<int, raft::index_t>> started;
  while (c.world().now() < give_up) {
    c.sleep(1ms);
    if (started) {
      auto [i, index] = *started;
      if (!c.running(i)) return 0;
      if (c.node(i)->status().commit_index >= index) return index;
      if (c.node(i)->status().role != raft::role::leader) started.reset();
      continue;
    }
    for (int i : among) {
      if (!c.running(i) || c.node(i)->status().role != raft::role::leader) continue;
      auto begun = c.node(i)->start(command(value));
      if (begun.is_leader) started = {i, begun.index};
      break;
    }
  }
  return 0;
}

// Whether server i answers a read, within `at_most`, with an index below `written`: a stale read.
bool reads_stale(cluster& c, int i, raft::index_t written, io::duration at_most) {
  auto read = read_now(c, i, at_most);
  return read && read->has_value() && **read < written;
}

// Every server but `except`.
std::vector<int> others(const cluster& c, std::initializer_list<int> except) {
  std::vector<int> rest;
  for (int i = 0; i < c.size(); ++i)
    if (std::find(except.begin(), except.end(), i) == except.end()) rest.push_back(i);
  return rest;
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
        // A read index is some leader's commit index: never beyond what any member knows committed.
        raft::index_t highest_commit = 0;
        for (int j = 0; j < 3; ++j)
          highest_commit = std::max(highest_commit, c.node(j)->status().commit_index);
        if (read > highest_commit)
          c.fail("server " + std::to_string(i) + " read at " + std::to_string(read) +
                 ", beyond every member's commit index (" + std::to_string(highest_commit) + ")");
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
    const raft::index_t written = write_among(c, others(c, {old_leader, companion}), 2, 10s);
    if (written == 0) c.fail("the majority wrote nothing");
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

// ---- leases (options::lease_reads) ----------------------------------------------------------------

namespace {

raft::options with_leases() {
  raft::options o = lab_options();
  o.lease_reads = true;
  return o;
}

}  // namespace

TEST_CASE("LeaseReads: a leader whose lease holds answers at once, and reads see completed writes") {
  for_each_seed("LeaseReads", [](simulation sim) {
    cluster c(sim, 3, false, with_leases());
    for (int round = 0; round < 3; ++round) {
      const int leader = c.check_one_leader();
      const raft::index_t written = c.one(command(static_cast<std::uint64_t>(round)), 3, true);
      const io::time_point asked = c.world().now();
      if (read_or_fail(c, leader, "a lease read") < written) c.fail("a lease read missed a write");
      if (c.world().now() != asked) c.fail("a leader holding its lease waited for a round");
      for (int i = 0; i < 3; ++i)
        if (read_or_fail(c, i, "a read through the leader's lease") < written)
          c.fail("server " + std::to_string(i) + " missed a write");
    }
  });
}

// A transfer's target is voted for at once, however recently the voters heard the old leader: the
// lease must end when TimeoutNow leaves. The old leader is cut off as soon as the target
// campaigns, before it hears of the new term; the target wins with the third member's vote and
// writes; the old leader, still believing it leads, must not answer from its commit index.
TEST_CASE("LeaseEndsWithTransfer: a leader that sent TimeoutNow no longer reads from its lease") {
  for_each_seed("LeaseEndsWithTransfer", [](simulation sim) {
    cluster c(sim, 3, false, with_leases());
    const int old_leader = c.check_one_leader();
    c.one(command(1), 3, true);
    const int target = (old_leader + 1) % 3;
    const raft::term_t term = c.node(old_leader)->status().term;
    c.spawn_on(old_leader, [](test::member* n, raft::node_id to) -> co::task<void> {
      (void)co_await n->transfer_leadership(to);
    }(c.node(old_leader), cluster::id(target)));
    const io::time_point give_up = c.world().now() + 2s;
    while (c.node(target)->status().term == term) {
      if (c.world().now() > give_up) c.fail("the target never campaigned");
      c.step();
    }
    c.disconnect(old_leader);
    const raft::index_t written = write_among(c, {target}, 2, 2s);
    if (written == 0) c.fail("the target did not write after the transfer");
    if (c.node(old_leader)->status().role != raft::role::leader)
      c.fail("the old leader stepped down before the read: the scenario tests nothing");
    if (reads_stale(c, old_leader, written, 100ms))
      c.fail("the old leader read from its lease after sending TimeoutNow");
  });
}

// A voter that answered the leader and restarted has forgotten when; it must still withhold its
// vote for as long as the leader's lease may hold. Five members: two are cut off from the leader
// (their logs stay as long as everyone's, so they can win), then the leader is cut off from all
// and the two that gave it its lease restart at once. The two cut off first campaign as soon as
// their timers fire; the restarted voters must refuse them until the lease is over. A write by a
// new leader while the old one still believes it leads must not be missed by a read on the old.
TEST_CASE("LeaseAfterRestart: a restarted voter withholds its vote for as long as a lease may hold") {
  std::uint64_t contested = 0, runs = 0;
  for_each_seed("LeaseAfterRestart", [&](simulation sim) {
    cluster c(sim, 5, false, with_leases());
    const int leader = c.check_one_leader();
    c.one(command(1), 5, true);
    const int a = (leader + 1) % 5, b = (leader + 2) % 5, d = (leader + 3) % 5, e = (leader + 4) % 5;
    auto hosts = [](std::initializer_list<int> servers) {
      std::vector<std::string> names;
      for (int i : servers) names.push_back(host_name(cluster::id(i)));
      return names;
    };
    c.network().partition({hosts({leader, a, b}), hosts({d, e})});
    c.sleep(c.world().random().uniform(io::duration(300ms), io::duration(600ms)));
    c.network().partition({hosts({leader}), hosts({a, b, d, e})});
    c.stop(a);
    c.stop(b);
    c.start(a);
    c.start(b);
    const raft::index_t written = write_among(c, {a, b, d, e}, 2, 1s);
    ++runs;
    if (written == 0 || c.node(leader)->status().role != raft::role::leader) return;
    ++contested;
    if (reads_stale(c, leader, written, 50ms))
      c.fail("a new leader wrote while the old one's lease held, and the old one read below it");
  });
  MESSAGE("lease after restart: " << runs << " runs; in " << contested
                                  << " a new leader wrote while the old one still led");
  if (runs >= 10) CHECK(contested > 0);
}

namespace {

// What a leader cut off from the others answered, asked to read right after they wrote.
enum class cut_off_read { stale, not_stale, stepped_down_first };

// A lease is only as good as the clocks measuring it (options::lease_reads). Three members; the
// leader is cut off, and from then on its clock and the others' run at the rates given (a
// machine's clock, sim/clock.hpp, on the production stack, where each server is a machine); the
// others elect a successor, which writes; the old leader, if it still believes it leads, is asked
// to read right after. Fails if nobody wrote.
cut_off_read read_after_drift(simulation sim, std::optional<raft::options> leases,
                              double leader_rate, double others_rate) {
  cluster c(sim, 3, false, leases ? *leases : lab_options());
  const int leader = c.check_one_leader();
  c.one(command(1), 3, true);
  c.sleep(c.world().random().uniform(io::duration(100ms), io::duration(200ms)));
  // The clocks drift from the moment the leader is cut off, after the heartbeats its lease rests on.
  for (int i = 0; i < 3; ++i) c.machine(i).set_clock_rate(i == leader ? leader_rate : others_rate);
  c.disconnect(leader);
  const raft::index_t written = write_among(c, others(c, {leader}), 2, 3s);
  if (written == 0) c.fail("the majority wrote nothing");
  if (c.node(leader)->status().role != raft::role::leader) return cut_off_read::stepped_down_first;
  return reads_stale(c, leader, written, 20ms) ? cut_off_read::stale : cut_off_read::not_stale;
}

constexpr seed_counts production_only{0, 20};

}  // namespace

// Within the bound: the others' clocks run 0.95 × lease_clock_drift faster than the leader's, so
// they give up on it just after its lease ends, and it never reads stale. (CheckQuorum often makes
// the leader step down first; the runs where it did not are counted, and must be some. Electing a
// successor takes longer than the drift margin itself — the first pre-vote usually finds the
// other voter still withholding — so this scenario would not catch a lease that ignored the bound;
// the next one shows what a clock far outside it does.)
TEST_CASE("LeaseClockDrift: within the drift bound, a cut-off leader's lease ends before a successor writes") {
  std::uint64_t still_leading = 0, runs = 0;
  for_each_seed("LeaseClockDrift", [&](simulation sim) {
    const raft::options o = with_leases();
    const cut_off_read read = read_after_drift(sim, o, 1.0, 1.0 + 0.95 * o.lease_clock_drift);
    if (read == cut_off_read::stale) throw std::runtime_error("a stale lease read within the drift bound");
    ++runs;
    if (read == cut_off_read::not_stale) ++still_leading;
  }, production_only);
  MESSAGE("lease within the drift bound: " << runs << " runs; in " << still_leading
                                           << " the old leader still led when asked to read");
  if (runs >= 10) CHECK(still_leading > 0);
}

// Beyond the bound, the warning beside the option is real: a leader whose clock runs at a tenth of
// the others' speed believes its lease holds long after they elected a successor (and CheckQuorum,
// on the same clock, is as late), and reads below its write, on every seed. The same cluster
// reading through ReadIndex (no lease) never does.
TEST_CASE("LeaseBeyondDrift: beyond the clock drift bound, lease reads break; ReadIndex does not") {
  for_each_seed("LeaseBeyondDrift", [](simulation sim) {
    const cut_off_read with_lease = read_after_drift(sim, with_leases(), 0.1, 1.0);
    if (with_lease != cut_off_read::stale)
      throw std::runtime_error(std::string("a leader whose clock runs at a tenth of the others' ") +
                               (with_lease == cut_off_read::stepped_down_first
                                    ? "stepped down before it was asked to read"
                                    : "did not read stale") +
                               ": the scenario no longer shows the lease's assumption");
    if (read_after_drift(sim, std::nullopt, 0.1, 1.0) == cut_off_read::stale)
      throw std::runtime_error("a ReadIndex read was stale under clock drift");
  }, production_only);
}

// A follower answers a request that writes nothing (a heartbeat) at once, claiming only the part
// of its log that is durable: a sync that does not complete delays no read's round. Both
// followers' disks fail after the leader appends an entry they cannot make durable; reads on the
// leader are still confirmed, below that entry, and the leader keeps its majority's evidence
// (CheckQuorum) without committing anything; repaired, the followers sync the entry they hold
// (nobody sends them anything new) and it commits.
TEST_CASE("ReadsBesideStuckSync: a follower's stuck sync delays no heartbeat, and no read") {
  for_each_seed("ReadsBesideStuckSync", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    const raft::index_t written = c.one(command(1), 3, true);
    for (int i = 0; i < 3; ++i)
      if (i != leader) c.break_disk(i, std::errc::io_error);
    const auto stuck = c.node(leader)->start(command(2));
    if (!stuck.is_leader) c.fail("the leader refused the entry");
    c.sleep(3 * lab_options().election_timeout);
    for (int round = 0; round < 3; ++round) {
      const raft::index_t read = read_or_fail(c, leader, "a read while the followers' syncs fail");
      if (read < written || read >= stuck.index)
        c.fail("a read at " + std::to_string(read) + ", not between the write at " +
               std::to_string(written) + " and the entry nobody could sync at " +
               std::to_string(stuck.index));
      c.sleep(100ms);
    }
    if (c.node(leader)->status().role != raft::role::leader)
      c.fail("the leader lost its majority's evidence while their syncs failed");
    // Repaired, the followers sync the entry without being sent anything new, and it commits.
    for (int i = 0; i < 3; ++i) c.repair_disk(i);
    const io::time_point give_up = c.world().now() + 5s;
    while (c.node(leader)->status().commit_index < stuck.index) {
      if (c.world().now() > give_up) c.fail("the entry never committed once the disks were repaired");
      c.sleep(10ms);
    }
    c.one(command(3), 3, true);
  });
}
