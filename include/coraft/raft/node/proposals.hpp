// coraft/raft/node/proposals.hpp — commands proposed to the leader, and how each learns its outcome.
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/roles.hpp"

namespace coraft::raft {

// A proposal waiting in its proposer's frame (propose(), propose_entry()) for its entry to commit.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
struct node<E, T, S>::pending_proposal {
  index_t index = 0;
  term_t term = 0;
  std::error_code outcome;  // set when settled: ok (committed) or why not
  co::event settled;
  node* listed_in = nullptr;  // the node whose list holds it, while waiting
  pending_proposal* earlier = nullptr;  // its neighbours there
  pending_proposal* later = nullptr;

  pending_proposal() = default;
  pending_proposal(const pending_proposal&) = delete;
  pending_proposal& operator=(const pending_proposal&) = delete;
  // A proposer's frame destroyed while it waits takes its proposal out of the list.
  ~pending_proposal() {
    if (listed_in) listed_in->delist_proposal(*this);
  }
};

// Each proposer below is one coroutine frame, holding its pending_proposal: admit() appends the
// entry and records the proposal, settle_proposals() settles it, outcome() reads what it became.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<proposal>> node<E, T, S>::propose(shared_bytes command) {
  // Refused whatever the role, and nothing appended: an entry over max_entry_bytes could never be
  // sent to a follower, so it would never commit.
  if (command.size() > options_.max_entry_bytes) co_return make_error_code(errc::entry_too_large);
  // A named local, not a braced temporary inside the co_await (g++ 12 destroys those twice).
  log_entry entry{current_term_, entry_kind::command, std::move(command)};
  pending_proposal pending;
  if (const std::error_code refused = admit(std::move(entry), pending)) co_return refused;
  auto waited = co_await pending.settled.wait();
  co_return outcome(pending, waited);
}

// Appends `entry` (any kind) and awaits its outcome, as propose() does a command.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<proposal>> node<E, T, S>::propose_entry(log_entry entry) {
  pending_proposal pending;
  if (const std::error_code refused = admit(std::move(entry), pending)) co_return refused;
  auto waited = co_await pending.settled.wait();
  co_return outcome(pending, waited);
}

// Appends `entry` in the current term if this node leads and is not handing its leadership over,
// and records `pending` (which must stay put until settled) as waiting for it; or says why not.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
std::error_code node<E, T, S>::admit(log_entry entry, pending_proposal& pending) {
  if (role_ != role::leader) return make_error_code(errc::not_leader);
  if (transfer_target_ != nobody) return make_error_code(errc::transferring_leadership);
  pending.term = current_term_;
  entry.term = current_term_;
  pending.index = append_local(std::move(entry));
  enlist_proposal(pending);
  return {};
}

// Links `pending` into the list of waiting proposals, which stays in index order. A new entry's
// index is the highest, except in a later term after a former leader's log was cut below proposals
// still waiting: then it walks back past those.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::enlist_proposal(pending_proposal& pending) noexcept {
  pending_proposal* before = last_proposal_;
  while (before && before->index > pending.index) before = before->earlier;
  CORAFT_ASSERT(!pending.listed_in, "a proposal is listed once");
  pending.listed_in = this;
  pending.earlier = before;
  pending.later = before ? before->later : first_proposal_;
  (before ? before->later : first_proposal_) = &pending;
  (pending.later ? pending.later->earlier : last_proposal_) = &pending;
}

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::delist_proposal(pending_proposal& pending) noexcept {
  (pending.earlier ? pending.earlier->later : first_proposal_) = pending.later;
  (pending.later ? pending.later->earlier : last_proposal_) = pending.earlier;
  pending.earlier = pending.later = nullptr;
  pending.listed_in = nullptr;
}

// What an admitted proposal became, once its wait for settled ended with `waited`. Cancelled
// before it was settled: nobody will settle it any more, so it leaves the list. Settled and
// cancelled before its proposer ran again: settle_proposals() has erased it already, and its
// outcome is known.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::result<proposal> node<E, T, S>::outcome(pending_proposal& pending, co::result<void> waited) {
  if (!waited && !pending.settled.is_set()) {
    delist_proposal(pending);
    return waited.error();
  }
  if (pending.outcome) return pending.outcome;
  return proposal{pending.index, pending.term};
}

// Append to the leader's own log: issue the storage write and wake the replicators at once; the
// leader counts itself in a majority only once persist_own_log() has seen the write durable.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
index_t node<E, T, S>::append_local(log_entry entry) {
  const bool reconfigures = entry.kind == entry_kind::configuration;
  index_t index = log_.append(std::move(entry));
  if (timed_entry_.index == 0) timed_entry_ = {index, current_term_, executor_.now()};
  (void)storage_.append(log_, index);
  if (reconfigures) {
    follow_log_configurations(index);  // in force at once, on the leader too (§4.1)
    configuration_changed();
  }
  if (leading_) leading_->wake_all();
  return index;
}

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::set_commit_index(index_t index) {
  if (index <= commit_index_) return;  // the commit index only grows
  CORAFT_ASSERT(index <= log_.last_index(), "commit_index <= the log's last index");
  commit_index_ = index;
  if (timed_entry_.index != 0 && timed_entry_.index <= index) time_commit();
  commit_advanced_.set();
  settle_proposals({});
  if (leading_) after_commit_as_leader(*leading_);
}

// Settle the proposals whose fate is known, in any role: once the commit index reaches a proposal's
// index, the committed entry there is its own (same term: committed) or another's (overwritten).
// Where a snapshot has replaced the log there, the term is no longer known: leadership_lost, the
// outcome is unknown. All others are settled with `if_not_committed` when it is set (and are
// otherwise left: the list is in index order, so the first beyond the commit index ends the look).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::settle_proposals(std::error_code if_not_committed) {
  while (pending_proposal* first = first_proposal_) {
    pending_proposal& p = *first;
    if (p.index <= commit_index_) {
      if (p.index < log_.base_index()) {
        p.outcome = make_error_code(errc::leadership_lost);
      } else {
        const bool ours = log_.term_at(p.index) == p.term;
        p.outcome = ours ? std::error_code{} : make_error_code(errc::entry_overwritten);
      }
    } else if (if_not_committed) {
      p.outcome = if_not_committed;
    } else {
      break;
    }
    delist_proposal(p);
    p.settled.set();
  }
}

}  // namespace coraft::raft
