// coraft/raft/rules.hpp — Figure 2's decisions, as pure functions of a node's state and one message.
//
// Each function decides and nothing more: no coroutine, no storage, no transport, no clock. The
// node's handlers are the shell around them: they decide here, issue the writes the decision names,
// await their durability, confirm that the term still holds, and only then reply. Keeping the rules
// apart lets each be read beside the paper and tested one sentence at a time (tests/raft/rules_test).
#pragma once

#include <algorithm>
#include <cstddef>

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

}  // namespace coraft::raft
