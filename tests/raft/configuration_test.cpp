// The configuration's rules alone (configuration.hpp): quorums of simple and joint configurations
// (§6), the change a leader may start, and the configurations a log holds as it is appended to, cut
// and compacted. No node, no cluster: crafted configurations handed to pure functions.
#include <doctest/doctest.h>

#include <map>
#include <vector>

#include "coraft/raft/configuration.hpp"
#include "coraft/wire/decode.hpp"
#include "coraft/wire/encode.hpp"

using namespace coraft::raft;

namespace {

member voter(node_id id) {
  std::string address = "h";
  address += std::to_string(id);
  return member{id, member_role::voter, to_bytes(address), {}};
}
member learner(node_id id) { return member{id, member_role::learner, {}, {}}; }

configuration simple(std::vector<member> members) { return configuration{7, std::move(members), {}}; }
configuration joint(std::vector<member> next, std::vector<member> old) {
  return configuration{7, std::move(next), std::move(old)};
}

auto among(std::vector<node_id> ids) {
  return [ids](node_id id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
}

}  // namespace

TEST_CASE("Quorum: a majority of the voters, learners not counted") {
  const configuration c = simple({voter(1), voter(2), voter(3), learner(4), learner(5)});
  CHECK(has_quorum(c, among({1, 2})));
  CHECK_FALSE(has_quorum(c, among({1, 4, 5})));  // learners never make a majority
  CHECK_FALSE(has_quorum(c, among({3})));
  CHECK(is_voter(c, 3));
  CHECK_FALSE(is_voter(c, 4));
  CHECK(others(c, 1) == std::vector<node_id>{2, 3, 4, 5});
  CHECK(other_voters(c, 1) == std::vector<node_id>{2, 3});
}

TEST_CASE("Quorum: a joint configuration needs a majority of C_old and one of C_new, separately (§6)") {
  // C_old = {1,2,3}, C_new = {3,4,5}.
  const configuration c = joint({voter(3), voter(4), voter(5)}, {voter(1), voter(2), voter(3)});
  CHECK(is_joint(c));
  CHECK_FALSE(has_quorum(c, among({1, 2, 4})));     // C_old only, and one of C_new
  CHECK_FALSE(has_quorum(c, among({4, 5, 1})));     // C_new, and one of C_old
  CHECK(has_quorum(c, among({1, 3, 4})));           // 1,3 of C_old; 3,4 of C_new
  CHECK(has_quorum(c, among({1, 2, 4, 5})));
  CHECK(others(c, 3) == std::vector<node_id>{1, 2, 4, 5});
}

TEST_CASE("Commitment: the index a quorum holds is the smaller of the two majorities' under joint consensus") {
  std::map<node_id, index_t> match{{1, 10}, {2, 9}, {3, 4}, {4, 3}, {5, 2}};
  auto of = [&](node_id id) { return match[id]; };
  CHECK(quorum_match_index(simple({voter(1), voter(2), voter(3)}), of) == 9);
  CHECK(quorum_match_index(simple({voter(3), voter(4), voter(5)}), of) == 3);
  CHECK(quorum_match_index(joint({voter(3), voter(4), voter(5)}, {voter(1), voter(2), voter(3)}), of) == 3);
  // A learner far ahead does not lift the index.
  match[6] = 100;
  CHECK(quorum_match_index(simple({voter(3), voter(4), voter(5), learner(6)}), of) == 3);
  // A leader outside C_new (removing itself) does not count there: only the voters do.
  CHECK(quorum_match_index(joint({voter(2), voter(3)}, {voter(1), voter(2), voter(3)}), of) == 4);
}

TEST_CASE("Ballot: a candidate wins with the votes of both halves of a joint configuration") {
  ballot b{joint({voter(1), voter(4), voter(5)}, {voter(1), voter(2), voter(3)}), {1}};
  CHECK_FALSE(b.won());
  b.granted.push_back(2);  // C_old has its majority
  CHECK_FALSE(b.won());
  b.granted.push_back(4);  // and now C_new
  CHECK(b.won());
  ballot alone{simple({voter(1)}), {1}};
  CHECK(alone.won());
  ballot nobody_to_count{configuration{}, {1}};  // a member with no configuration never wins
  CHECK_FALSE(nobody_to_count.won());
}

TEST_CASE("Change: validated against the latest configuration, which must be committed and simple") {
  const configuration c = simple({voter(1), voter(2), voter(3), learner(4)});
  const catch_up_view view{100, 10};
  std::map<node_id, index_t> match{{1, 100}, {2, 100}, {3, 100}, {4, 95}, {5, 20}};
  auto of = [&](node_id id) { return match[id]; };
  auto decide = [&](const configuration& latest, bool committed, std::vector<member> next) {
    return membership_change_decision(latest, committed, next, view, of);
  };
  CHECK(decide(c, true, {voter(1), voter(2), voter(3), voter(4)}) == change_refusal::none);
  CHECK(decide(c, false, {voter(1), voter(2)}) == change_refusal::in_progress);
  CHECK(decide(joint({voter(1)}, {voter(1), voter(2)}), true, {voter(1)}) ==
        change_refusal::in_progress);
  CHECK(decide(c, true, {learner(1), learner(2)}) == change_refusal::no_voter_left);
  CHECK(decide(c, true, {}) == change_refusal::no_voter_left);
  // A new voter straight away, not a learner first: refused, whatever its log.
  CHECK(decide(c, true, {voter(1), voter(2), voter(3), voter(5)}) == change_refusal::learner_behind);
  match[4] = 89;  // 11 behind, one more than allowed
  CHECK(decide(c, true, {voter(1), voter(2), voter(3), voter(4)}) == change_refusal::learner_behind);
  // A learner never heard from is not caught up, however short the leader's log.
  match[4] = 0;
  CHECK(membership_change_decision(c, true, {voter(1), voter(2), voter(3), voter(4)},
                                   catch_up_view{3, 10}, of) == change_refusal::learner_behind);
  match[4] = 1;
  CHECK(membership_change_decision(c, true, {voter(1), voter(2), voter(3), voter(4)},
                                   catch_up_view{3, 10}, of) == change_refusal::none);
  CHECK(decide(c, true, {voter(1), voter(1)}) == change_refusal::duplicate_member);
  CHECK(decide(c, true, {voter(0)}) == change_refusal::duplicate_member);
  // Removing members, or a voter becoming a learner, needs no catch-up.
  CHECK(decide(c, true, {voter(1)}) == change_refusal::none);
  CHECK(decide(c, true, {voter(1), learner(2), voter(3)}) == change_refusal::none);
  CHECK(changes_voters(c.members, {voter(1), voter(2), voter(4)}));
  CHECK(changes_voters(c.members, {voter(1), voter(2), voter(3), voter(4)}));
  CHECK_FALSE(changes_voters(c.members, {voter(1), voter(2), voter(3)}));  // a learner removed
  CHECK_FALSE(changes_voters(c.members, {voter(1), voter(2), voter(3), learner(4), learner(6)}));
}

TEST_CASE("ConfigurationLog: in force when appended, gone when cut, the base when compacted (§4.1)") {
  const configuration a = simple({voter(1)});
  const configuration b = joint({voter(1), voter(2), voter(3)}, {voter(1)});
  const configuration d = simple({voter(1), voter(2), voter(3)});
  configuration_log log;
  log.reset(0, a);
  log.appended(5, b);
  log.appended(8, d);
  CHECK(log.latest() == d);
  CHECK(log.latest_index() == 8);
  CHECK(log.at(4) == a);
  CHECK(log.at(5) == b);
  CHECK(log.at(7) == b);
  CHECK(log.at(100) == d);
  std::vector<configuration> since;
  log.for_each_since(6, [&](const configuration& c) { since.push_back(c); });
  CHECK(since == std::vector<configuration>{b, d});
  // A conflicting suffix from 8 on is cut: the joint configuration is in force again.
  log.truncated_from(8);
  CHECK(log.latest() == b);
  CHECK(log.latest_index() == 5);
  CHECK_THROWS_AS(log.appended(5, d), std::logic_error);
  log.appended(9, d);
  // Compacted through 6: the joint configuration becomes the base; 9's stays.
  log.compacted(6);
  CHECK(log.at(6) == b);
  CHECK(log.latest() == d);
  log.truncated_from(7);  // the base is never cut
  CHECK(log.latest() == b);
  log.compacted(12);
  CHECK(log.latest() == b);
}

TEST_CASE("Configuration: round-trips through the wire codec, addresses and all") {
  const configuration c = joint({voter(1), learner(4)}, {voter(1), voter(2)});
  auto decoded = coraft::wire::decode<configuration>(coraft::wire::encode(c));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == c);
}

TEST_CASE("Change: an entry that only records incarnations is the leader's bookkeeping") {
  auto with = [](member m, incarnation_t i) {
    m.incarnation = i;
    return m;
  };
  const configuration before = simple({voter(1), voter(2), learner(3)});
  CHECK(records_incarnations(before, simple({with(voter(1), 7), voter(2), with(learner(3), 9)})));
  CHECK(records_incarnations(before, before));
  // A recorded incarnation replaced, a role or an address changed, a member more: a real change.
  const configuration bound = simple({with(voter(1), 7), voter(2), learner(3)});
  CHECK_FALSE(records_incarnations(bound, simple({with(voter(1), 8), voter(2), learner(3)})));
  CHECK_FALSE(records_incarnations(before, simple({voter(1), voter(2), voter(3)})));
  member moved = voter(2);
  moved.address = to_bytes("elsewhere");
  CHECK_FALSE(records_incarnations(before, simple({voter(1), moved, learner(3)})));
  CHECK_FALSE(records_incarnations(before, simple({voter(1), voter(2), learner(3), learner(4)})));
  CHECK_FALSE(records_incarnations(before, joint({voter(1), voter(2)}, {voter(1), voter(2), learner(3)})));
}
