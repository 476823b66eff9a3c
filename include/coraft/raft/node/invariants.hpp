// coraft/raft/node/invariants.hpp — what one node's state must satisfy between any two steps.
//
// Each invariant is also asserted where the state it constrains changes; this function checks them
// all at once, so that the simulator can call it after every step and catch a break the moment it
// happens, wherever it came from. What spans nodes (one leader per term, logs that match, the same
// entry committed everywhere) is the cross-node checker's, in the tests.
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/roles.hpp"

namespace coraft::raft {

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::check_invariants() const {
  // Figure 2's volatile state: the application is never ahead of the commit index, which is never
  // beyond the log; what a snapshot covers is committed (§7), and the log starts where it ends.
  CORAFT_ASSERT(last_applied_ <= commit_index_, "last_applied <= commit_index");
  CORAFT_ASSERT(commit_index_ <= log_.last_index(), "commit_index <= the log's last index");
  CORAFT_ASSERT(log_.base_index() <= commit_index_, "a snapshot covers committed entries only");
  CORAFT_ASSERT(snapshot_.last_index == log_.base_index() && snapshot_.last_term == log_.base_term(),
                "the log begins where the latest snapshot ends");

  // The term only grows (§5.1), and so does the commit index.
  CORAFT_ASSERT(current_term_ >= watched_.term, "the term never decreases");
  CORAFT_ASSERT(commit_index_ >= watched_.commit_index, "the commit index never decreases");
  watched_ = {current_term_, commit_index_};

  // Roles: a leader won its term with its own vote among the others (§5.2), and knows it leads; a
  // candidate knows of no leader (its vote for itself comes with the term campaign() raises, a
  // step after become()); leader-only state exists only while leading.
  if (role_ == role::leader) {
    CORAFT_ASSERT(voted_for_ == id_, "a leader voted for itself in its term");
    CORAFT_ASSERT(leader_ == id_, "a leader is its own leader");
  }
  if (role_ == role::candidate) CORAFT_ASSERT(leader_ == nobody, "a candidate knows of no leader");
  if (leading_) {
    CORAFT_ASSERT(role_ == role::leader, "leader state only while leading");
    CORAFT_ASSERT(leading_->own_durable_index <= log_.last_index(),
                  "the leader's disk holds no entry its log lacks");
  }
}

}  // namespace coraft::raft
