// coraft/raft/rules.hpp — Figure 2's decisions, as pure functions of a node's state and one message.
//
// Each function decides and nothing more: no coroutine, no storage, no transport, no clock. The
// node's handlers are the shell around them: they decide here, issue the writes the decision names,
// await their durability, confirm that the term still holds, and only then reply. Keeping the rules
// apart lets each be read beside the paper and tested one sentence at a time (tests/raft/rules_test).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "coraft/raft/configuration.hpp"
#include "coraft/raft/log.hpp"
#include "coraft/raft/messages.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

// ---- RequestVote (§5.2, §5.4.1) ------------------------------------------------------------------

// What a voter knows when a RequestVote arrives. The caller has already adopted a higher term from
// the request (§5.1), so args.term <= current_term, and a smaller one is a stale request.
struct voter_state {
  term_t current_term = 0;
  node_id voted_for = nobody;  // in current_term
  index_t last_log_index = 0;
  term_t last_log_term = 0;
};

enum class vote_verdict : std::uint8_t {
  grant,
  deny_stale_term,         // the candidate's term is older than ours (§5.1)
  deny_voted_for_another,  // one vote per term, first come first served (§5.2)
  deny_log_behind,         // the candidate's log is less up-to-date than ours (§5.4.1)
  deny_leader_alive,       // we heard from a live leader within the minimum election timeout
                           // (vote withholding, thesis §4.2.3)
};

// §5.4.1: of two logs whose last entries differ in term, the later term is more up-to-date; of two
// that end in the same term, the longer one is. A candidate's log exactly as up-to-date as ours is
// good enough: the voter's log holds nothing the candidate's lacks.
inline bool log_is_at_least_as_up_to_date(term_t their_last_term, index_t their_last_index,
                                          term_t our_last_term, index_t our_last_index) noexcept {
  if (their_last_term != our_last_term) return their_last_term > our_last_term;
  return their_last_index >= our_last_index;
}

// Whether to grant the vote. Voting again for the candidate already voted for is a grant: a
// duplicated or retried request must get the same answer.
inline vote_verdict vote_decision(const voter_state& voter, const request_vote_args& args) noexcept {
  if (args.term < voter.current_term) return vote_verdict::deny_stale_term;
  if (voter.voted_for != nobody && voter.voted_for != args.candidate)
    return vote_verdict::deny_voted_for_another;
  if (!log_is_at_least_as_up_to_date(args.last_log_term, args.last_log_index, voter.last_log_term,
                                     voter.last_log_index))
    return vote_verdict::deny_log_behind;
  return vote_verdict::grant;
}

// ---- PreVote and vote withholding (thesis §9.6, §4.2.3) ------------------------------------------

// Whether a member withholds its vote, real or pre-vote, from an election it is asked to join: it
// does while it has heard from the leader of its term within the minimum election timeout, since
// a live leader needs no successor. A leader withholds its own for as long as it leads. An election
// started by a leadership transfer is never withheld from (the caller does not ask).
inline bool leader_lease_holds(bool withhold_votes, bool leads, bool knows_leader,
                               std::chrono::nanoseconds since_heard_from_leader,
                               std::chrono::nanoseconds min_election_timeout) noexcept {
  if (!withhold_votes) return false;
  if (leads) return true;
  return knows_leader && since_heard_from_leader < min_election_timeout;
}

// ---- Leases (thesis §6.4.1; options::lease_reads) -----------------------------------------------

// How long after sending a request a leader may still count its answer toward its lease: voters
// that answered withhold their votes for a minimum election timeout on their own clocks from when
// the request arrived (after it was sent), so nobody else can be elected before then, as long as no
// voter's clock runs more than `clock_drift` faster than the leader's.
inline std::chrono::nanoseconds lease_duration(std::chrono::nanoseconds min_election_timeout,
                                               double clock_drift) noexcept {
  const double lasts = static_cast<double>(min_election_timeout.count()) / (1.0 + clock_drift);
  return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(lasts));
}

// Whether a member withholds its vote because it started less than a minimum election timeout
// ago, with lease reads on: before a restart it may have answered a leader whose lease still
// holds, and it forgot when it last heard from it.
inline bool withholds_after_start(bool lease_reads, std::chrono::nanoseconds since_start,
                                  std::chrono::nanoseconds min_election_timeout) noexcept {
  return lease_reads && since_start < min_election_timeout;
}

// Throws std::invalid_argument, naming the option, unless the lease options are coherent: a lease
// rests on vote withholding, which rests on CheckQuorum, and on a clock drift bound that leaves
// the lease longer than a heartbeat interval (else it would never hold between two heartbeats).
inline void check_lease_options(bool lease_reads, bool withhold_votes, bool check_quorum,
                                double clock_drift, std::chrono::nanoseconds min_election_timeout,
                                std::chrono::nanoseconds heartbeat_interval) {
  auto refuse = [](const char* why) {
    throw std::invalid_argument(std::string("coraft::raft::node: ") + why);
  };
  if (!lease_reads) return;
  if (!withhold_votes || !check_quorum)
    refuse("lease_reads needs withhold_votes and check_quorum: without them another member can "
           "be elected while the lease holds");
  if (!(clock_drift >= 0.0) || !(clock_drift < 1.0))
    refuse("lease_clock_drift must be at least 0 and below 1");
  if (lease_duration(min_election_timeout, clock_drift) <= heartbeat_interval)
    refuse("lease_reads: the lease (election_timeout / (1 + lease_clock_drift)) must outlast "
           "heartbeat_interval");
}

// Whether a voter would grant its vote in the election the pre-candidate would start, in
// args.term. Nothing changes on the voter's side: no term adopted, no vote recorded. A request for
// a term older than the voter's is refused, and the reply's term (the voter's own) tells the
// stranded pre-candidate which term the cluster is in. For a term newer than the voter's, the
// voter has voted for nobody yet; for its own term, one vote per term still holds.
inline vote_verdict pre_vote_decision(const voter_state& voter, bool leader_alive,
                                      const pre_vote_args& args) noexcept {
  if (args.term < voter.current_term) return vote_verdict::deny_stale_term;
  if (leader_alive) return vote_verdict::deny_leader_alive;
  voter_state in_that_term = voter;
  if (args.term > voter.current_term) {
    in_that_term.current_term = args.term;
    in_that_term.voted_for = nobody;
  }
  return vote_decision(in_that_term, request_vote_args{args.term, args.candidate,
                                                       args.last_log_index, args.last_log_term});
}

// ---- CheckQuorum (thesis §6.2) -------------------------------------------------------------------

// Whether a leader still has a majority behind it: itself and every peer that answered any request
// of its term within the last election timeout (`heard_recently`), counted against the cluster.
// A leader that has not stays leader of nobody: it steps down, so that its clients go elsewhere
// and a member that a majority reaches can lead.
inline bool leader_keeps_quorum(std::size_t peers_heard_recently, std::size_t cluster_size) noexcept {
  return (peers_heard_recently + 1) * 2 > cluster_size;
}

// ---- AppendEntries (§5.3) ------------------------------------------------------------------------

// The log does not hold prev_log_index with prev_log_term. The hint tells the leader where to back
// up to in one step (the "fast backup" of §5.3): conflict_term is the term of our entry at
// prev_log_index (0 if our log is shorter), conflict_index the first index we hold of that term (or
// our last index + 1).
struct append_rejected {
  term_t conflict_term = 0;
  index_t conflict_index = 0;
  friend bool operator==(const append_rejected&, const append_rejected&) = default;
};

// The log matches the leader's at prev_log_index (§5.3); what to do with the request's entries.
struct append_accepted {
  // Our entries from this index on conflict with the request's (same index, another term): cut
  // them before appending. Empty when nothing conflicts.
  std::optional<index_t> truncate_from;
  // args.entries[first_new..] are to be appended after our last entry (after the cut, if any); the
  // ones before are already in our log or covered by our snapshot. == args.entries.size(): none.
  std::size_t first_new = 0;
  // The commit index learned from the leader, min(leader_commit, index of the last new entry),
  // only when it is higher than ours. Empty: ours stays.
  std::optional<index_t> commit_index;
  // What the reply acknowledges: prev_log_index + the number of entries in the request.
  index_t match_index = 0;
  // Every entry the request names lies inside our snapshot, so there is nothing to write, nor to
  // wait for: the reply can go at once.
  bool covered_by_snapshot = false;
  friend bool operator==(const append_accepted&, const append_accepted&) = default;
};

using append_decision = std::variant<append_rejected, append_accepted>;

// AppendEntries acceptance, for a request of the current term from its leader (the caller has
// already answered a stale one and adopted a newer term). Reads the log, never changes it.
inline append_decision append_entries_decision(const log_window& log, index_t commit_index,
                                               const append_entries_args& args) {
  index_t prev_index = args.prev_log_index;
  term_t prev_term = args.prev_log_term;
  std::size_t first = 0;  // the first of args.entries after prev_index
  const index_t last_new = args.prev_log_index + args.entries.size();

  // Entries up to our snapshot are committed, so they match the leader's (§5.4): skip them.
  if (prev_index < log.base_index()) {
    const index_t covered = log.base_index() - prev_index;
    if (covered >= args.entries.size()) {
      append_accepted inside;
      inside.first_new = args.entries.size();
      inside.match_index = last_new;
      inside.covered_by_snapshot = true;
      return inside;
    }
    first = static_cast<std::size_t>(covered);
    prev_index = log.base_index();
    prev_term = log.base_term();
  }

  // Consistency check (§5.3): our log must hold prev_log_index with prev_log_term.
  if (prev_index > log.last_index()) return append_rejected{0, log.last_index() + 1};
  if (log.term_at(prev_index) != prev_term) {
    return append_rejected{log.term_at(prev_index), log.first_index_of_term_ending_at(prev_index)};
  }

  // Skip the entries we already hold; at the first conflict, drop our suffix and append the rest.
  // An entry that matches is never removed: a delayed or duplicated request changes nothing.
  append_accepted accepted;
  accepted.match_index = last_new;
  index_t index = prev_index;
  std::size_t k = first;
  for (; k < args.entries.size(); ++k) {
    ++index;
    if (index > log.last_index()) break;
    if (log.term_at(index) != args.entries[k].term) {
      // A committed entry is in every later leader's log (§5.4.3, Leader Completeness): a leader
      // that disagrees with one is a broken invariant, never a suffix to cut.
      if (index <= commit_index)
        throw std::logic_error("coraft::raft: the leader's log conflicts with a committed entry");
      accepted.truncate_from = index;
      break;
    }
  }
  accepted.first_new = k;
  // Figure 2: the leader's commit index, bounded by the last entry this request proves we hold
  // (beyond it our log may still differ from the leader's), and taken only if it is higher.
  const index_t learned = std::min(args.leader_commit, last_new);
  if (learned > commit_index) accepted.commit_index = learned;
  return accepted;
}

// ---- InstallSnapshot (§7) ------------------------------------------------------------------------

enum class snapshot_verdict : std::uint8_t {
  // The snapshot is not newer than our commit index or our own snapshot: it tells us nothing, and
  // nothing changes (the chunk is still acknowledged).
  already_covered,
  // Our log holds the snapshot's last entry: the entries after it are kept, the ones it covers go.
  keep_suffix,
  // Our log ends before the snapshot's last index: the snapshot supersedes the whole log.
  replace_log,
  // Our entry at the snapshot's last index has another term, so every entry of ours from there on
  // is from another history and can never commit. They are cut first, as a write of their own: a
  // crash between the cut and the snapshot leaves an older log, never the new snapshot followed by
  // entries of an older term. Then the snapshot replaces the whole log.
  cut_then_replace_log,
};

// What the last chunk of a snapshot (last_index, last_term) does to the log.
inline snapshot_verdict snapshot_decision(const log_window& log, index_t commit_index,
                                          const install_snapshot_args& args) {
  if (args.last_index <= commit_index || args.last_index <= log.base_index())
    return snapshot_verdict::already_covered;
  if (log.last_index() < args.last_index) return snapshot_verdict::replace_log;
  if (log.term_at(args.last_index) == args.last_term) return snapshot_verdict::keep_suffix;
  return snapshot_verdict::cut_then_replace_log;
}

// ---- Commitment (§5.3, §5.4.2) -------------------------------------------------------------------

// The highest index that a majority of one set of voters holds, given each voter's match index
// (the leader's own is what its disk holds, not what it has appended): the (n/2 + 1)-th largest.
// Under joint consensus (§6) an index must be held by a majority of each configuration: the caller
// then takes the smallest of this function's answers over the configurations in force.
inline index_t majority_match_index(std::vector<index_t> match_indexes) {
  return majority_match(match_indexes);
}

// The leader's new commit index, once a majority holds `majority_index`, or empty when it stays.
// §5.4.2: counting replicas commits only an entry of the leader's current term; the entries before
// it then commit with it, by the Log Matching Property. An entry of an older term held by a majority
// can still be overwritten (Figure 8), so counting alone is not enough.
inline std::optional<index_t> leader_commit_decision(const log_window& log, term_t current_term,
                                                     index_t commit_index, index_t majority_index) {
  if (majority_index <= commit_index) return std::nullopt;
  if (log.term_at(majority_index) != current_term) return std::nullopt;
  return majority_index;
}

}  // namespace coraft::raft
