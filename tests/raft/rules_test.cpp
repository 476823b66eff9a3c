// Raft's rules alone (rules.hpp), one sentence of the paper per test: no node, no cluster, no
// clock, only crafted logs and messages handed to the decision functions.
#include <doctest/doctest.h>

#include <deque>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "coraft/raft/rules.hpp"
#include "logs.hpp"

using namespace coraft::raft;

namespace {

using coraft::test::log_of;

std::vector<log_entry> entries_of(std::vector<term_t> terms) {
  std::vector<log_entry> entries;
  for (term_t t : terms) entries.push_back(log_entry{t, entry_kind::command, {}});
  return entries;
}

append_entries_args append(index_t prev_index, term_t prev_term, std::vector<term_t> terms,
                           index_t leader_commit = 0, term_t term = 8) {
  return append_entries_args{term, 1, prev_index, prev_term, entries_of(std::move(terms)), leader_commit};
}

std::vector<term_t> terms_of(const log_window& log) {
  std::vector<term_t> terms;
  for (index_t i = log.first_index(); i <= log.last_index(); ++i) terms.push_back(log.term_at(i));
  return terms;
}

append_accepted accepted(const append_decision& d) {
  REQUIRE(std::holds_alternative<append_accepted>(d));
  return std::get<append_accepted>(d);
}
append_rejected rejected(const append_decision& d) {
  REQUIRE(std::holds_alternative<append_rejected>(d));
  return std::get<append_rejected>(d);
}

// Applies an acceptance to the log as the follower's handler does.
void apply(log_window& log, const append_accepted& a, const append_entries_args& args) {
  if (a.truncate_from) log.truncate_from(*a.truncate_from);
  for (std::size_t k = a.first_new; k < args.entries.size(); ++k) log.append(args.entries[k]);
}

install_snapshot_args last_chunk(index_t last_index, term_t last_term) {
  install_snapshot_args args;
  args.term = 8;
  args.leader = 1;
  args.last_index = last_index;
  args.last_term = last_term;
  args.done = true;
  return args;
}

}  // namespace

// ---- RequestVote ---------------------------------------------------------------------------------

TEST_CASE("§5.1: a voter denies its vote to a candidate whose term is older than its own") {
  const voter_state voter{5, nobody, 3, 2};
  CHECK(vote_decision(voter, request_vote_args{4, 2, 10, 4}) == vote_verdict::deny_stale_term);
  CHECK(vote_decision(voter, request_vote_args{5, 2, 10, 4}) == vote_verdict::grant);
}

TEST_CASE("§5.2: each server votes for at most one candidate in a term, first come first served") {
  const voter_state voted{5, 3, 3, 2};
  CHECK(vote_decision(voted, request_vote_args{5, 2, 3, 2}) == vote_verdict::deny_voted_for_another);
  // A better log does not buy the vote either.
  CHECK(vote_decision(voted, request_vote_args{5, 2, 9, 5}) == vote_verdict::deny_voted_for_another);
}

TEST_CASE("§5.2: a voter asked again by the candidate it voted for grants again (a retried request)") {
  const voter_state voted{5, 3, 3, 2};
  const request_vote_args again{5, 3, 3, 2};
  CHECK(vote_decision(voted, again) == vote_verdict::grant);
  CHECK(vote_decision(voted, again) == vote_verdict::grant);
}

TEST_CASE("§5.4.1: a voter denies its vote if its own log is more up-to-date than the candidate's") {
  // By term: the voter's last entry has the later term, however long the candidate's log is.
  CHECK(vote_decision(voter_state{6, nobody, 3, 5}, request_vote_args{6, 2, 9, 4}) ==
        vote_verdict::deny_log_behind);
  // By index: the logs end in the same term and the voter's is longer.
  CHECK(vote_decision(voter_state{6, nobody, 7, 5}, request_vote_args{6, 2, 6, 5}) ==
        vote_verdict::deny_log_behind);
}

TEST_CASE("§5.4.1: if the last entries' terms differ, the log with the later term is more up-to-date") {
  // The candidate's log is shorter, but ends in a later term: it wins the comparison.
  CHECK(vote_decision(voter_state{6, nobody, 9, 4}, request_vote_args{6, 2, 3, 5}) == vote_verdict::grant);
}

TEST_CASE("§5.4.1: if the logs end in the same term, the longer is more up-to-date; as long is enough") {
  CHECK(vote_decision(voter_state{6, nobody, 7, 5}, request_vote_args{6, 2, 8, 5}) == vote_verdict::grant);
  CHECK(vote_decision(voter_state{6, nobody, 7, 5}, request_vote_args{6, 2, 7, 5}) == vote_verdict::grant);
  // Two empty logs are as up-to-date as each other.
  CHECK(vote_decision(voter_state{1, nobody, 0, 0}, request_vote_args{1, 2, 0, 0}) == vote_verdict::grant);
}

// ---- PreVote, vote withholding, CheckQuorum (thesis §9.6, §4.2.3, §6.2) --------------------------

TEST_CASE("§9.6: a pre-vote is granted as the real vote would be, in the term the candidate would use") {
  // The voter is in term 5 and voted for 3 there; the pre-candidate asks about term 6.
  const voter_state voted{5, 3, 3, 2};
  CHECK(pre_vote_decision(voted, false, pre_vote_args{6, 2, 3, 2}) == vote_verdict::grant);
  // Its log must be as up-to-date as the voter's, as for a real vote (§5.4.1).
  CHECK(pre_vote_decision(voted, false, pre_vote_args{6, 2, 2, 2}) == vote_verdict::deny_log_behind);
  CHECK(pre_vote_decision(voted, false, pre_vote_args{6, 2, 9, 1}) == vote_verdict::deny_log_behind);
}

TEST_CASE("§9.6: a pre-vote for the voter's own term respects the vote it cast there") {
  const voter_state voted{6, 3, 3, 2};
  CHECK(pre_vote_decision(voted, false, pre_vote_args{6, 2, 3, 2}) ==
        vote_verdict::deny_voted_for_another);
  CHECK(pre_vote_decision(voted, false, pre_vote_args{6, 3, 3, 2}) == vote_verdict::grant);
}

TEST_CASE("§9.6: a pre-vote for a term older than the voter's is refused (the reply's term tells the stranded node)") {
  const voter_state voter{7, nobody, 3, 2};
  CHECK(pre_vote_decision(voter, false, pre_vote_args{6, 2, 9, 9}) == vote_verdict::deny_stale_term);
  CHECK(pre_vote_decision(voter, false, pre_vote_args{7, 2, 9, 9}) == vote_verdict::grant);
}

TEST_CASE("§4.2.3: a member that heard from its leader within the minimum election timeout withholds its pre-vote") {
  using namespace std::chrono_literals;
  const voter_state voter{5, 1, 3, 2};
  // The follower of a live leader, the leader itself: both withhold.
  CHECK(leader_lease_holds(true, false, true, 149ms, 150ms));
  CHECK(leader_lease_holds(true, true, false, 10s, 150ms));
  // The leader was last heard too long ago, or is unknown (a pre-candidate forgot it): no lease.
  CHECK_FALSE(leader_lease_holds(true, false, true, 150ms, 150ms));
  CHECK_FALSE(leader_lease_holds(true, false, false, 1ms, 150ms));
  // Withholding turned off.
  CHECK_FALSE(leader_lease_holds(false, true, true, 1ms, 150ms));
  CHECK(pre_vote_decision(voter, true, pre_vote_args{6, 2, 9, 9}) == vote_verdict::deny_leader_alive);
  // A stale request is refused as stale first, so that the reply's term is what the caller learns.
  CHECK(pre_vote_decision(voter, true, pre_vote_args{4, 2, 9, 9}) == vote_verdict::deny_stale_term);
}

TEST_CASE("§6.4.1: a lease lasts the minimum election timeout shrunk by the clock drift bound") {
  using namespace std::chrono_literals;
  CHECK(lease_duration(150ms, 0.0) == 150ms);
  CHECK(lease_duration(150ms, 0.5) == 100ms);
  // A voter whose clock runs 1 + drift times faster withholds for T / (1 + drift) of the leader's
  // time: exactly the lease.
  CHECK(lease_duration(1s, 0.25) == 800ms);
}

TEST_CASE("§6.4.1: with leases, a member withholds its vote for an election timeout after it starts") {
  using namespace std::chrono_literals;
  CHECK(withholds_after_start(true, 149ms, 150ms));
  CHECK_FALSE(withholds_after_start(true, 150ms, 150ms));
  CHECK_FALSE(withholds_after_start(false, 0ms, 150ms));
}

TEST_CASE("§6.4.1: lease options are refused unless withholding, CheckQuorum and the drift bound allow a lease") {
  using namespace std::chrono_literals;
  CHECK_NOTHROW(check_lease_options(false, false, false, 5.0, 150ms, 50ms));  // off: nothing to check
  CHECK_NOTHROW(check_lease_options(true, true, true, 0.1, 150ms, 50ms));
  auto refusal = [](auto&& call) {
    try {
      call();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(refusal([] { check_lease_options(true, false, true, 0.1, 150ms, 50ms); })
            .find("lease_reads needs withhold_votes and check_quorum") != std::string::npos);
  CHECK(refusal([] { check_lease_options(true, true, false, 0.1, 150ms, 50ms); })
            .find("lease_reads needs withhold_votes and check_quorum") != std::string::npos);
  CHECK(refusal([] { check_lease_options(true, true, true, -0.1, 150ms, 50ms); })
            .find("lease_clock_drift") != std::string::npos);
  CHECK(refusal([] { check_lease_options(true, true, true, 1.0, 150ms, 50ms); })
            .find("lease_clock_drift") != std::string::npos);
  CHECK(refusal([] { check_lease_options(true, true, true, 0.5, 150ms, 100ms); })
            .find("must outlast heartbeat_interval") != std::string::npos);
}

TEST_CASE("§6.2: a leader keeps its quorum only while it and the peers heard from are a majority") {
  CHECK(leader_keeps_quorum(1, 3));
  CHECK_FALSE(leader_keeps_quorum(0, 3));
  CHECK(leader_keeps_quorum(2, 5));
  CHECK_FALSE(leader_keeps_quorum(1, 5));
  // Four members: the leader and one peer are half, not a majority.
  CHECK_FALSE(leader_keeps_quorum(1, 4));
  CHECK(leader_keeps_quorum(2, 4));
  CHECK(leader_keeps_quorum(0, 1));
}

// ---- AppendEntries -------------------------------------------------------------------------------

TEST_CASE("§5.3: a follower rejects AppendEntries whose previous index is beyond its log, hinting its end") {
  const log_window log = log_of({1, 1, 2});
  const append_rejected r = rejected(append_entries_decision(log, 0, append(5, 2, {3})));
  CHECK(r == append_rejected{0, 4});
}

TEST_CASE("§5.3: a follower rejects AppendEntries whose previous term differs, hinting its conflicting term") {
  // Our entries 3..5 are of term 2; the leader's entry 5 is of term 3. The hint names term 2 and
  // the first index we hold of it, so the leader can skip the whole term in one step.
  const log_window log = log_of({1, 1, 2, 2, 2});
  const append_rejected r = rejected(append_entries_decision(log, 0, append(5, 3, {3})));
  CHECK(r == append_rejected{2, 3});
  // At the snapshot's base the term is the base's, and the run of a term stops at the window.
  const log_window compacted = log_of({2, 2}, 4, 2);
  CHECK(rejected(append_entries_decision(compacted, 4, append(6, 3, {}))) == append_rejected{2, 5});
}

TEST_CASE("§5.3: a follower appends the new entries after the matching previous one") {
  const log_window log = log_of({1, 1});
  const append_entries_args args = append(2, 1, {1, 2, 2});
  const append_accepted a = accepted(append_entries_decision(log, 0, args));
  CHECK_FALSE(a.truncate_from);
  CHECK(a.first_new == 0);
  CHECK(a.match_index == 5);
  CHECK_FALSE(a.covered_by_snapshot);
}

TEST_CASE("§5.3: an existing entry that conflicts with a new one is deleted, with all that follow it") {
  const log_window log = log_of({1, 1, 2, 2, 2});
  const append_entries_args args = append(2, 1, {2, 3, 3});
  const append_accepted a = accepted(append_entries_decision(log, 0, args));
  REQUIRE(a.truncate_from);
  CHECK(*a.truncate_from == 4);  // entry 3 matches (term 2): it stays
  CHECK(a.first_new == 1);       // args.entries[1] is entry 4
  CHECK(a.match_index == 5);
}

TEST_CASE("§5.4.3: a follower never cuts a committed entry; a leader that conflicts with one is a bug") {
  const log_window log = log_of({1, 1, 2, 2, 2});
  CHECK_THROWS_AS(append_entries_decision(log, 4, append(2, 1, {2, 3})), std::logic_error);
  // Above the commit index the same conflict is an ordinary cut.
  CHECK(accepted(append_entries_decision(log, 3, append(2, 1, {2, 3}))).truncate_from == index_t{4});
}

TEST_CASE("§5.3: a duplicated AppendEntries changes nothing the first one did") {
  log_window log = log_of({1, 1});
  const append_entries_args args = append(2, 1, {1, 2});
  apply(log, accepted(append_entries_decision(log, 0, args)), args);
  REQUIRE(terms_of(log) == std::vector<term_t>{1, 1, 1, 2});
  const append_accepted again = accepted(append_entries_decision(log, 0, args));
  CHECK_FALSE(again.truncate_from);
  CHECK(again.first_new == args.entries.size());
  CHECK(again.match_index == 4);
}

TEST_CASE("§5.3: a delayed shorter AppendEntries does not cut the entries that match it") {
  // The leader sent entries 3..4, then 3..6; the longer one arrived first. The shorter one must
  // acknowledge only up to 4, and leave 5..6 in place: the leader may already count them.
  const log_window log = log_of({1, 1, 2, 2, 2, 2});
  const append_accepted a = accepted(append_entries_decision(log, 0, append(2, 1, {2, 2})));
  CHECK_FALSE(a.truncate_from);
  CHECK(a.first_new == 2);
  CHECK(a.match_index == 4);
}

TEST_CASE("§7: entries at or below the follower's snapshot are committed, so they are skipped") {
  // Snapshot through 5 (term 2), entries 6..7 after it.
  const log_window log = log_of({3, 3}, 5, 2);
  // Entries 4..8: 4 and 5 are in the snapshot, 6 and 7 match, 8 is new.
  const append_entries_args across = append(3, 1, {2, 2, 3, 3, 3});
  const append_accepted a = accepted(append_entries_decision(log, 5, across));
  CHECK_FALSE(a.truncate_from);
  CHECK(a.first_new == 4);
  CHECK(a.match_index == 8);
  CHECK_FALSE(a.covered_by_snapshot);
  // The previous term named in the request is not checked below the snapshot: the base's is used.
  const append_accepted other_prev = accepted(append_entries_decision(log, 5, append(3, 9, {2, 2, 3})));
  CHECK(other_prev.first_new == 3);
  // A request wholly inside the snapshot is acknowledged without anything to write.
  const append_accepted inside = accepted(append_entries_decision(log, 5, append(2, 1, {1, 2, 2}, 9)));
  CHECK(inside.covered_by_snapshot);
  CHECK(inside.first_new == 3);
  CHECK(inside.match_index == 5);
  CHECK_FALSE(inside.commit_index);
}

TEST_CASE("Figure 2: the commit index learned from AppendEntries is bounded by the last new entry") {
  // A heartbeat anchored at 3, from a leader that has committed 10: the follower holds 1..5, but
  // only 1..3 are known to match the leader's, so it commits 3.
  const log_window log = log_of({1, 1, 1, 1, 1});
  const append_accepted heartbeat = accepted(append_entries_decision(log, 0, append(3, 1, {}, 10)));
  REQUIRE(heartbeat.commit_index);
  CHECK(*heartbeat.commit_index == 3);
  CHECK(heartbeat.match_index == 3);
  // With entries, the bound is the last of them; below it, the leader's commit index.
  CHECK(accepted(append_entries_decision(log, 0, append(3, 1, {1, 1}, 10))).commit_index == index_t{5});
  CHECK(accepted(append_entries_decision(log, 0, append(3, 1, {1, 1}, 4))).commit_index == index_t{4});
}

TEST_CASE("Figure 2: a follower's commit index only grows, whatever AppendEntries says") {
  const log_window log = log_of({1, 1, 1, 1, 1});
  CHECK_FALSE(accepted(append_entries_decision(log, 4, append(5, 1, {}, 3))).commit_index);
  CHECK_FALSE(accepted(append_entries_decision(log, 4, append(5, 1, {}, 4))).commit_index);
  // A delayed request carrying a higher leader commit, anchored below ours, teaches nothing.
  CHECK_FALSE(accepted(append_entries_decision(log, 4, append(2, 1, {}, 9))).commit_index);
}

// Figure 7 of the paper: the leader of term 8 has entries 1..10 (and appends its no-op at 11);
// each follower log is one that could exist. The leader probes from its last entry and backs up
// on each rejection as the leader's replication does (to the end of its own run of the follower's
// conflicting term, or to the follower's hint); once accepted, the follower's log is the leader's.
TEST_CASE("§5.3, Figure 7: followers (a)-(f) converge to the leader's log, backing up on hints") {
  struct follower_case {
    std::string name;
    log_window log;
    std::vector<append_rejected> rejections;  // the hints, in order, before the acceptance
    std::optional<index_t> truncate_from;     // where the acceptance cuts the follower's log
  };
  const std::vector<term_t> leader_terms{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8};
  log_window leader;
  for (term_t t : leader_terms) leader.append(log_entry{t, entry_kind::command, {}});
  const std::vector<follower_case> cases{
      {"(a) missing entry 10", log_of({1, 1, 1, 4, 4, 5, 5, 6, 6}), {{0, 10}}, std::nullopt},
      {"(b) missing 5..10", log_of({1, 1, 1, 4}), {{0, 5}}, std::nullopt},
      {"(c) an extra entry of term 6", log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}), {}, 11},
      {"(d) extra entries of term 7", log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}), {}, 11},
      {"(e) more of term 4, none of 5 or 6", log_of({1, 1, 1, 4, 4, 4, 4}), {{0, 8}, {4, 4}}, 6},
      {"(f) terms 2 and 3 the leader never had", log_of({1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}),
       {{3, 7}, {2, 4}}, 4},
  };
  for (const follower_case& c : cases) {
    CAPTURE(c.name);
    log_window follower = c.log;
    std::vector<append_rejected> hints;
    index_t next = leader.last_index();
    for (int round = 0; round < 10; ++round) {
      std::vector<term_t> sent(leader_terms.begin() + static_cast<std::ptrdiff_t>(next - 1),
                               leader_terms.end());
      const append_entries_args args = append(next - 1, leader.term_at(next - 1), sent);
      const append_decision d = append_entries_decision(follower, 0, args);
      if (const auto* r = std::get_if<append_rejected>(&d)) {
        hints.push_back(*r);
        next = r->conflict_index;
        if (r->conflict_term != 0) {
          const index_t ours = leader.last_index_of_term(r->conflict_term);
          if (ours != 0) next = ours + 1;
        }
        REQUIRE(next >= 1);
        continue;
      }
      const append_accepted a = std::get<append_accepted>(d);
      CHECK(a.truncate_from == c.truncate_from);
      CHECK(a.match_index == leader.last_index());
      apply(follower, a, args);
      break;
    }
    CHECK(hints == c.rejections);
    CHECK(terms_of(follower) == leader_terms);
  }
}

// ---- InstallSnapshot -----------------------------------------------------------------------------

TEST_CASE("§7: a snapshot no newer than the follower's commit index or snapshot changes nothing") {
  const log_window log = log_of({1, 1, 2, 2, 2, 3});
  CHECK(snapshot_decision(log, 5, last_chunk(5, 2)) == snapshot_verdict::already_covered);
  CHECK(snapshot_decision(log, 5, last_chunk(4, 2)) == snapshot_verdict::already_covered);
  // Even one that conflicts with an uncommitted entry does not go below the commit index.
  CHECK(snapshot_decision(log, 5, last_chunk(3, 9)) == snapshot_verdict::already_covered);
  CHECK(snapshot_decision(log_of({3}, 5, 2), 5, last_chunk(5, 2)) == snapshot_verdict::already_covered);
  CHECK(snapshot_decision(log, 5, last_chunk(6, 3)) != snapshot_verdict::already_covered);
}

TEST_CASE("§7: if the follower holds the snapshot's last entry, the entries following it are kept") {
  const log_window log = log_of({1, 1, 2, 2, 2, 3});
  CHECK(snapshot_decision(log, 2, last_chunk(4, 2)) == snapshot_verdict::keep_suffix);
  CHECK(snapshot_decision(log, 2, last_chunk(6, 3)) == snapshot_verdict::keep_suffix);
}

TEST_CASE("§7: otherwise the snapshot replaces the whole log, a conflicting suffix cut first") {
  const log_window log = log_of({1, 1, 2, 2, 2, 3});
  // Our entry 4 is of term 2, the snapshot's of term 3: 4..6 are from another history.
  CHECK(snapshot_decision(log, 2, last_chunk(4, 3)) == snapshot_verdict::cut_then_replace_log);
  // Our log ends before the snapshot does: nothing of ours is at its index to cut.
  CHECK(snapshot_decision(log, 2, last_chunk(7, 3)) == snapshot_verdict::replace_log);
  CHECK(snapshot_decision(log_of({}), 0, last_chunk(1, 1)) == snapshot_verdict::replace_log);
}

// ---- Commitment ----------------------------------------------------------------------------------

TEST_CASE("§5.3: with 3 members an entry commits once 2 hold it, the leader's own disk among them") {
  CHECK(majority_match_index({5, 3, 1}) == 3);
  CHECK(majority_match_index({1, 5, 3}) == 3);
  CHECK(majority_match_index({5, 5, 0}) == 5);
  // The leader's disk counts like any other member: 7 appended but 2 durable is 2.
  CHECK(majority_match_index({2, 7, 0}) == 2);
}

TEST_CASE("§5.3: with 5 members an entry commits once 3 hold it") {
  CHECK(majority_match_index({10, 9, 8, 2, 1}) == 8);
  CHECK(majority_match_index({1, 10, 2, 9, 2}) == 2);
  CHECK(majority_match_index({4, 4, 4, 4, 4}) == 4);
}

TEST_CASE("§5.3: with an even number of members a majority is more than half, not half") {
  CHECK(majority_match_index({10, 9, 1, 1}) == 1);
  CHECK(majority_match_index({10, 9, 8, 1}) == 8);
  CHECK(majority_match_index({7, 3}) == 3);
  CHECK(majority_match_index({4}) == 4);
}

TEST_CASE("§5.4.2, Figure 8: an entry of an older term is not committed by counting replicas") {
  // Figure 8 (c)-(e): S1 leads term 4 with entries 1 (term 1), 2 (term 2), 3 (term 4). Entry 2 on
  // a majority does not commit: S5 (term 3) could still be elected and overwrite it.
  const log_window s1 = log_of({1, 2, 4});
  CHECK_FALSE(leader_commit_decision(s1, 4, 1, 2));
  // Once entry 3, of the leader's term, is on a majority, it commits, and entry 2 with it.
  CHECK(leader_commit_decision(s1, 4, 1, 3) == index_t{3});
}

TEST_CASE("§5.3: the leader's commit index only grows") {
  const log_window log = log_of({4, 4, 4, 4});
  CHECK_FALSE(leader_commit_decision(log, 4, 3, 3));
  CHECK_FALSE(leader_commit_decision(log, 4, 3, 2));
  CHECK(leader_commit_decision(log, 4, 3, 4) == index_t{4});
}
