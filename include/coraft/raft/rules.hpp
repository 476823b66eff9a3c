// coraft/raft/rules.hpp — Figure 2's decisions, as pure functions of a node's state and one message.
//
// Each function decides and nothing more: no coroutine, no storage, no transport, no clock. The
// node's handlers are the shell around them: they decide here, issue the writes the decision names,
// await their durability, confirm that the term still holds, and only then reply. Keeping the rules
// apart lets each be read beside the paper and tested one sentence at a time (tests/raft/rules_test).
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <variant>

#include "coraft/raft/log.hpp"
#include "coraft/raft/messages.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

// ---- RequestVote (§5.2, §5.4.1) ------------------------------------------------------------------

// What a voter knows when a RequestVote arrives; a higher term in the request has already been
// adopted (§5.1), so current_term >= args.term unless the request is stale.
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
};

// §5.4.1: "If the logs have last entries with different terms, then the log with the later term is
// more up-to-date. If the logs end with the same term, then whichever log is longer is more
// up-to-date." A candidate's log that is exactly as up-to-date as ours is good enough.
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
      accepted.truncate_from = index;
      break;
    }
  }
  accepted.first_new = k;
  // Figure 2: "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new
  // entry)". Bounded by what this request proves we hold: beyond it our log may still differ from
  // the leader's.
  const index_t learned = std::min(args.leader_commit, last_new);
  if (learned > commit_index) accepted.commit_index = learned;
  return accepted;
}

}  // namespace coraft::raft
