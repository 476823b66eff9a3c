// Membership changes (§6 of the paper, chapter 4 of the thesis): members added as learners and
// promoted once caught up, removed, replaced; the joint configuration across leader crashes and
// partitions; one change at a time. Every scenario runs on both stacks — the production one over
// TCP, where a new member's address reaches the others through the log — many seeds each, with the
// safety checks (configuration-aware ones included, safety_checker.hpp) after every step.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "clients.hpp"
#include "cluster.hpp"
#include "reconfigure.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

using ids = std::vector<raft::node_id>;

// A client proposing a fresh command every few milliseconds to whoever leads, until cancelled: the
// load a change must not stop.
co::task<void> steady_load(cluster& c) {
  for (std::uint64_t k = 0;; ++k) {
    if (auto leader = claimed_leader(c)) c.node(*leader)->start(command(1'000'000 + k));
    if (!co_await pause(c, 5ms)) co_return;
  }
}

// Every running server in `servers` holds `config` as its latest configuration, committed, within
// `at_most`.
void await_configuration(cluster& c, const std::vector<int>& servers, const ids& voters,
                         io::duration at_most = 5s) {
  const io::time_point give_up = c.world().now() + at_most;
  for (;;) {
    bool all = true;
    for (int i : servers) {
      auto config = committed_configuration(c, i);
      all = all && config && !raft::is_joint(*config) && voters_of(*config) == voters;
    }
    if (all) return;
    if (c.world().now() > give_up) c.fail("the configuration did not reach every member");
    c.sleep(10ms);
  }
}

std::vector<int> all_of(cluster& c) {
  std::vector<int> out;
  for (int i = 0; i < c.size(); ++i) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("AddMember: a member added under load is a learner until caught up, then a voter that counts") {
  for_each_seed("AddMember", [](simulation sim) {
    cluster c(sim, 3);
    c.check_one_leader();
    clients load(c);
    load.spawn(steady_load(c));
    c.sleep(500ms);
    const int fresh = c.add_server();
    // A member waiting to join never campaigns, whatever its timer says.
    c.sleep(1s);
    if (c.node(fresh)->status().elections_started + c.node(fresh)->status().pre_votes_started != 0)
      c.fail("a member waiting to join campaigned");
    const raft::configuration after = add_voter(c, fresh);
    CHECK(voters_of(after) == ids{1, 2, 3, 4});
    await_configuration(c, all_of(c), {1, 2, 3, 4});
    // It counts: with one of the first three down, commits need the new member.
    const int leader = c.check_one_leader();
    const int down = leader == 0 ? 1 : 0;
    c.stop(down);
    c.one(command(7), 3, true);
    c.disconnect(fresh);
    // Now only two of four voters are reachable: once what was on its way has landed, nothing
    // commits, however long the load goes on.
    c.sleep(300ms);
    const auto before = c.checker().committed_count();
    c.sleep(2s);
    if (c.checker().committed_count() != before)
      c.fail("entries committed without a majority of the four voters");
  });
}

TEST_CASE("RemoveFollower: a removed follower stops counting and never campaigns") {
  for_each_seed("RemoveFollower", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    const int gone = (leader + 1) % 3;
    const raft::configuration after = remove_server(c, gone);
    CHECK(voters_of(after).size() == 2);
    c.sleep(200ms);
    // The removed member learnt of its removal, and never campaigns again.
    const raft::node_status removed = c.node(gone)->status();
    if (raft::is_voter(removed.config, cluster::id(gone)))
      c.fail("the removed member does not know it was removed");
    const auto campaigns = removed.elections_started + removed.pre_votes_started;
    c.sleep(3s);
    const raft::node_status later = c.node(gone)->status();
    if (later.elections_started + later.pre_votes_started != campaigns)
      c.fail("a removed member campaigned");
    // The two that remain commit by themselves.
    c.stop(gone);
    c.one(command(1), 2, true);
  });
}

TEST_CASE("RemoveLeader: a leader that removes itself leads until the change commits, then hands over") {
  for_each_seed("RemoveLeader", [](simulation sim) {
    cluster c(sim, 3);
    clients load(c);
    load.spawn(steady_load(c));
    const int leader = c.check_one_leader();
    const raft::node_id id = cluster::id(leader);
    auto outcome = change_on(c, leader, [id](test::member& n) { return n.remove_member(id); }, 10s);
    if (!outcome || !*outcome) c.fail("the leader's removal of itself did not complete");
    CHECK(voters_of(**outcome).size() == 2);
    c.sleep(1s);
    const int next = c.check_one_leader();
    if (next == leader) c.fail("the removed leader still leads");
    const raft::node_status old = c.node(leader)->status();
    if (old.role != raft::role::follower) c.fail("the removed leader did not step down");
    const auto campaigns = old.elections_started;
    c.sleep(2s);
    if (c.node(leader)->status().elections_started != campaigns) c.fail("the removed leader campaigned");
    c.stop(leader);
    c.one(command(1), 2, true);
  });
}

TEST_CASE("ReplaceCrashed: a crashed member is replaced by a new one; the cluster never stops") {
  for_each_seed("ReplaceCrashed", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    const int dead = (leader + 2) % 3;
    c.stop(dead);
    const int fresh = c.add_server();
    add_voter(c, fresh);  // 4 voters, 3 running: still a majority
    remove_server(c, dead);
    std::vector<int> alive;
    for (int i = 0; i < c.size(); ++i)
      if (i != dead) alive.push_back(i);
    ids voters;
    for (int i : alive) voters.push_back(cluster::id(i));
    await_configuration(c, alive, voters);
    c.one(command(1), 3, true);
  });
}

TEST_CASE("GrowShrink: one member to three to five, then back to three and one") {
  for_each_seed("GrowShrink", [](simulation sim) {
    cluster c(sim, 1);
    c.check_one_leader();
    c.one(command(1), 1, true);
    for (int k = 0; k < 4; ++k) {
      const int fresh = c.add_server();
      add_voter(c, fresh);
      c.one(command(10 + static_cast<std::uint64_t>(k)), c.size(), true);
    }
    await_configuration(c, all_of(c), {1, 2, 3, 4, 5});
    // Shrink, removing the leader on the way whenever it is the next to go.
    for (int gone : {4, 3, 0, 1}) {
      remove_server(c, gone);
      c.stop(gone);
      c.one(command(100 + static_cast<std::uint64_t>(gone)), 1, true);
    }
    await_configuration(c, {2}, {3});
    c.one(command(999), 1, true);
  });
}

TEST_CASE("ChangeRacingCrash: the leader crashes at each step of the joint change; the change ends whole") {
  // Step 0: the joint configuration appended, not yet replicated. 1: the joint configuration
  // committed, C_new appended. 2: C_new committed.
  for (int crash_at = 0; crash_at <= 2; ++crash_at) {
    for_each_seed("ChangeRacingCrash", [crash_at](simulation sim) {
      cluster c(sim, 3);
      const int fresh = c.add_server();
      // A learner first, caught up, so that the change to voters is one joint step.
      reconfigure(
          c, "adding a learner",
          [m = c.member_of(fresh, raft::member_role::learner)](test::member& n) { return n.add_member(m); },
          [](const raft::configuration& config) { return config.members.size() == 4; });
      c.sleep(300ms);
      const int leader = *claimed_leader(c);
      std::vector<raft::member> next;
      for (int i : {(leader + 1) % 3, (leader + 2) % 3, fresh}) next.push_back(c.member_of(i));
      next.push_back(c.member_of(leader));  // four voters; the leader stays
      // Start the change and run until the step, then crash the leader (the call is cancelled
      // first: it belongs to the node being crashed).
      std::optional<co::result<raft::configuration>> outcome;
      {
        co::scope call(c.world());
        call.spawn([](test::member* n, std::vector<raft::member> members,
                      std::optional<co::result<raft::configuration>>* out) -> co::task<void> {
          *out = co_await n->change_membership(std::move(members));
        }(c.node(leader), next, &outcome));
        auto reached = [&] {
          const raft::node_status st = c.node(leader)->status();
          if (crash_at == 0) return raft::is_joint(st.config);
          if (crash_at == 1) return !raft::is_joint(st.config) && st.config.members.size() == 4 &&
                                    voters_of(st.config).size() == 4;
          return outcome.has_value();
        };
        const io::time_point give_up = c.world().now() + 5s;
        while (!reached() && c.world().now() < give_up && !outcome) c.step();
        if (!reached()) c.fail("the change never reached step " + std::to_string(crash_at));
        call.request_stop();
        call.run_until_idle();
      }
      c.stop(leader);
      // Whatever was in flight, the cluster ends in one simple configuration that every member
      // agrees on, and commits.
      c.sleep(2s);
      c.start(leader);
      const io::time_point give_up = c.world().now() + 10s;
      for (;;) {
        std::optional<raft::configuration> agreed;
        bool same = true;
        for (int i = 0; i < c.size(); ++i) {
          auto config = committed_configuration(c, i);
          if (!config || raft::is_joint(*config)) same = false;
          else if (!agreed) agreed = config;
          else same = same && voters_of(*config) == voters_of(*agreed);
        }
        if (same && agreed) {
          if (crash_at >= 1 && voters_of(*agreed).size() != 4)
            c.fail("a change whose joint configuration committed was undone");
          break;
        }
        if (c.world().now() > give_up) c.fail("no simple configuration agreed after the crash");
        c.sleep(20ms);
      }
      c.one(command(1), 4, true);
    });
  }
}

TEST_CASE("ChangeInPartition: a leader cut off from its majority completes no change; the majority does") {
  for_each_seed("ChangeInPartition", [](simulation sim) {
    cluster c(sim, 5);
    const int leader = c.check_one_leader();
    c.disconnect(leader);
    const raft::node_id drop = cluster::id((leader + 1) % 5);
    auto cut_off = change_on(c, leader, [drop](test::member& n) { return n.remove_member(drop); }, 2s);
    if (cut_off && *cut_off) c.fail("a leader without its majority completed a change");
    // The majority elects a leader and removes that same member.
    remove_server(c, (leader + 1) % 5);
    c.connect(leader);
    std::vector<int> rest;
    ids voters;
    for (int i = 0; i < 5; ++i) {
      if (i == (leader + 1) % 5) continue;
      rest.push_back(i);
      voters.push_back(cluster::id(i));
    }
    await_configuration(c, rest, voters);
    c.one(command(1), 4, true);
  });
}

TEST_CASE("OneChangeAtATime: a second change while the first is under way is refused, nothing appended") {
  for_each_seed("OneChangeAtATime", [](simulation sim) {
    cluster c(sim, 3);
    const int leader = c.check_one_leader();
    // The followers stop answering, so that the first change cannot commit.
    c.disconnect((leader + 1) % 3);
    c.disconnect((leader + 2) % 3);
    std::optional<co::result<raft::configuration>> first, second;
    co::scope calls(c.world());
    const raft::node_id a = cluster::id((leader + 1) % 3);
    calls.spawn([](test::member* n, raft::node_id id,
                   std::optional<co::result<raft::configuration>>* out) -> co::task<void> {
      *out = co_await n->remove_member(id);
    }(c.node(leader), a, &first));
    c.sleep(10ms);
    const raft::index_t last = c.node(leader)->log().last_index();
    const raft::node_id b = cluster::id((leader + 2) % 3);
    calls.spawn([](test::member* n, raft::node_id id,
                   std::optional<co::result<raft::configuration>>* out) -> co::task<void> {
      *out = co_await n->remove_member(id);
    }(c.node(leader), b, &second));
    c.sleep(10ms);
    REQUIRE(second.has_value());
    CHECK_FALSE(second->has_value());
    CHECK(second->error() == raft::errc::change_in_progress);
    CHECK(second->error() == raft::proposal_outcome::not_committed);
    CHECK(c.node(leader)->log().last_index() == last);
    // Unknown members and configurations without voters are refused too.
    auto unknown = change_on(c, leader, [](test::member& n) { return n.remove_member(42); }, 1s);
    REQUIRE(unknown.has_value());
    CHECK(unknown->error() == raft::errc::unknown_member);
    calls.request_stop();
    calls.run_until_idle();
    c.connect((leader + 1) % 3);
    c.connect((leader + 2) % 3);
    c.one(command(1), 2, true);
    // Healed, the first change completes (on whoever leads now), and then a change with no voter
    // left is refused.
    remove_server(c, (leader + 1) % 3);
    c.sleep(500ms);  // if the member removed led, it has handed over by now
    const int now = c.check_one_leader();
    auto none = change_on(c, now, [](test::member& n) { return n.change_membership({}); }, 1s);
    REQUIRE(none.has_value());
    CHECK_MESSAGE(none->error() == raft::errc::no_voter_left, none->error().message());
    auto straight = change_on(
        c, now,
        [m = raft::member{9, raft::member_role::voter, {}, {}},
         config = c.node(now)->status().config](test::member& n) {
          std::vector<raft::member> members = config.members;
          members.push_back(m);
          return n.change_membership(members);
        },
        1s);
    REQUIRE(straight.has_value());
    CHECK_MESSAGE(straight->error() == raft::errc::learner_behind, straight->error().message());  // a learner first
  });
}

// What an application does when it learns that its member leads (coraft-kv publishes its client
// address so): a change asked the moment role_change() says leader, before the role's coroutines
// ran, waits for the leader's state and completes — not_leader there would be a lie the caller
// could spin on.
TEST_CASE("ChangeAtElection: a change asked as soon as the role says leader completes") {
  for_each_seed("ChangeAtElection", [](simulation sim) {
    cluster c(sim, 3);
    std::vector<std::optional<co::result<raft::configuration>>> outcomes(3);
    co::scope watchers(c.world());
    for (int i = 0; i < 3; ++i) {
      watchers.spawn([](test::member* n, std::optional<co::result<raft::configuration>>* out)
                         -> co::task<void> {
        raft::node_status seen = n->status();
        while (seen.role != raft::role::leader) {
          auto changed = co_await n->role_change(seen);
          if (!changed) co_return;
          seen = *changed;
        }
        std::vector<raft::member> members = seen.config.members;
        for (raft::member& m : members)
          if (m.id == seen.id) m.info = raft::to_bytes("leads");
        *out = co_await n->change_membership(std::move(members));
      }(c.node(i), &outcomes[i]));
    }
    const int leader = c.check_one_leader();
    c.sleep(1s);
    watchers.request_stop();
    watchers.run_until_idle();
    REQUIRE(outcomes[leader].has_value());
    REQUIRE_MESSAGE(outcomes[leader]->has_value(), outcomes[leader]->error().message());
    const raft::member* mine = raft::find_member((**outcomes[leader]).members, cluster::id(leader));
    REQUIRE(mine != nullptr);
    CHECK(raft::to_string(mine->info) == "leads");
  });
}

// A new leader records the members' incarnations in one configuration entry of its own
// (bind_incarnations). A change asked while that entry commits is no concurrent change: it waits
// for it and completes, rather than being refused with change_in_progress.
TEST_CASE("ChangeBesideIncarnationRecord: a change asked while the leader's own record commits completes") {
  for_each_seed("ChangeBesideIncarnationRecord", [](simulation sim) {
    cluster c(sim, 3);
    const io::time_point give_up = c.world().now() + 10s;
    std::optional<int> leader;
    for (;;) {
      leader = claimed_leader(c);
      if (leader) {
        const raft::configuration_log& configs = c.node(*leader)->configurations();
        if (configs.latest_index() > c.node(*leader)->status().commit_index &&
            raft::records_incarnations(configs.before_latest(), configs.latest()))
          break;
      }
      if (c.world().now() > give_up) c.fail("no leader appended its record of incarnations");
      c.step();
    }
    const raft::node_id gone = cluster::id((*leader + 1) % 3);
    auto outcome = change_on(c, *leader, [gone](test::member& n) { return n.remove_member(gone); }, 5s);
    REQUIRE(outcome.has_value());
    REQUIRE_MESSAGE(outcome->has_value(), outcome->error().message());
    CHECK(voters_of(**outcome).size() == 2);
    CHECK_FALSE(raft::is_voter_in((**outcome).members, gone));
  });
}

// Every running member's committed configuration records every member's incarnation.
void await_incarnations_bound(cluster& c, io::duration at_most = 5s) {
  const io::time_point give_up = c.world().now() + at_most;
  for (;;) {
    bool all = true;
    for (int i = 0; i < c.size(); ++i) {
      if (!c.running(i)) continue;
      auto config = committed_configuration(c, i);
      all = all && config;
      if (config)
        for (const raft::member& m : config->members) all = all && m.incarnation != 0;
    }
    if (all) return;
    if (c.world().now() > give_up) c.fail("the members' incarnations were not recorded");
    c.sleep(10ms);
  }
}

// A member whose data directory was lost, started again with the flags it had, has forgotten its
// vote and its log: it must not take part under the identity the cluster knows. The cluster
// drops its requests and it drops the cluster's (they name its earlier incarnation): no term
// moves, the leader keeps leading, it is never caught up. Removed and started again as a new
// member waiting to join, it is added back and counts. The lost one is the leader on odd seeds.
TEST_CASE("WipedMember: a member that lost its data takes no part until it is added back as new") {
  for_each_seed("WipedMember", [](simulation sim) {
    cluster c(sim, 3);
    clients load(c);
    load.spawn(steady_load(c));
    const int first = c.check_one_leader();
    await_incarnations_bound(c);
    const int lost = sim.seed % 2 == 1 ? first : (first + 1) % 3;
    c.wipe(lost);
    c.sleep(1s);
    const int leader = c.check_one_leader();
    if (leader == lost) c.fail("the member that lost its data leads");
    std::vector<raft::term_t> terms;
    for (int i = 0; i < 3; ++i) terms.push_back(c.node(i)->status().term);
    c.sleep(3s);
    for (int i = 0; i < 3; ++i)
      if (i != lost && c.node(i)->status().term != terms[i]) c.fail("the lost member moved a term");
    if (c.check_one_leader() != leader) c.fail("the lost member disturbed the leader");
    const raft::node_status gone = c.node(lost)->status();
    if (gone.commit_index != 0) c.fail("the lost member was caught up under its old identity");
    if (gone.requests_for_lost_incarnation == 0)
      c.fail("the lost member was not told apart from the member it was");
    std::uint64_t refused = 0;
    for (int i = 0; i < 3; ++i)
      if (i != lost) refused += c.node(i)->status().requests_from_lost_incarnation;
    if (refused == 0) c.fail("the lost member's campaigns were not refused");
    c.one(command(1), 2, true);
    // The way back: remove the identity, start the member as a new one, add it.
    remove_server(c, lost);
    c.wipe(lost, true);
    add_voter(c, lost);
    await_configuration(c, all_of(c), {1, 2, 3});
    await_incarnations_bound(c);
    c.stop((lost + 1) % 3);  // with one of the others down, commits need the member added back
    c.one(command(2), 2, true);
  });
}

TEST_CASE("LearnerSnapshot: a member added after the log was compacted catches up from the snapshot") {
  for_each_seed("LearnerSnapshot", [](simulation sim) {
    cluster c(sim, 3);
    c.set_snapshot_interval(10);
    c.check_one_leader();
    for (std::uint64_t k = 0; k < 60; ++k) c.one(command(k), 3, true);
    // Every member has compacted its log: the entries from 1 are gone everywhere, so the new
    // member can only catch up from a snapshot.
    for (int i = 0; i < 3; ++i)
      if (c.node(i)->log().base_index() == 0) c.fail("a member kept its whole log");
    const int fresh = c.add_server();
    add_voter(c, fresh);
    c.one(command(100), 4, true);
    await_configuration(c, all_of(c), {1, 2, 3, 4});
  });
}
