// coraft/raft/node/reads.hpp — linearizable reads without the log (thesis §6.4).
//
// The leader's read index is its commit index, taken once an entry of its own term has committed
// (before that, its commit index may lag the one its predecessor reached), and handed out once a
// majority — of each half of a joint configuration — has answered a request of its term sent
// after the read began: then no other leader had been elected when the read began, and every
// write that completed before it is at or below that index. The requests that confirm it are the
// replicators' own; a read asks each replicator for one more heartbeat, at most one in flight per
// peer, so that every read that arrives meanwhile shares the next round. A follower or a learner
// asks the leader for its read index (read_index_args) and serves the read from its own state.
//
// With options::lease_reads, a leader skips the round while its lease holds: a majority answered
// requests it sent within the lease's duration, so those voters still withhold their votes and no
// other leader can have been elected (rules.hpp, lease_duration; the option says what it assumes).
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/membership.hpp"
#include "coraft/raft/node/roles.hpp"

namespace coraft::raft {

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<index_t>> node<E, T, S>::read_index() {
  if (stopped_.is_set() || !life_) co_return make_error_code(errc::shut_down);
  const io::time_point began = executor_.now();
  auto reading = role_ == role::leader ? leader_read_index() : ask_leader_read_index();
  co::result<index_t> read = co_await std::move(reading);
  if (read) counters_.read_index_latency.record(executor_.now() - began);
  co_return read;
}

// The leader's read index, as the header says. Ends with it; with leadership_lost if this node
// stops leading, or if no majority confirmed it within an election timeout; not_leader if it does
// not lead; shut_down, or cancelled().
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<index_t>> node<E, T, S>::leader_read_index() {
  if (auto ready = co_await await_leader_state(); !ready) co_return ready.error();
  const term_t term = current_term_;
  const io::time_point give_up =
      executor_.now() + std::chrono::duration_cast<io::duration>(options_.election_timeout);
  // Whether to go on waiting: the same leadership, no later than give_up.
  auto still_leading = [&]() -> std::error_code {
    if (stopped_.is_set()) return make_error_code(errc::shut_down);
    if (!still_in(role::leader, term) || !leading_) return make_error_code(errc::leadership_lost);
    if (executor_.now() >= give_up) return make_error_code(errc::leadership_lost);
    return {};
  };
  while (commit_index_ < leading_->term_start) {
    commit_advanced_.reset();
    auto woken = co_await co::with_deadline(executor_, give_up, commit_advanced_.wait());
    if (!woken.timed_out() && !*woken) co_return (*woken).error();  // cancelled
    if (auto why = still_leading()) co_return why;
  }
  const index_t read = commit_index_;
  if (lease_holds(*leading_)) co_return read;
  const std::uint64_t after = leading_->requests_sent;
  leading_->ask_for_round();
  for (;;) {
    if (leadership_confirmed(*leading_, after)) co_return read;
    auto woken = co_await co::with_deadline(executor_, give_up, leader_heard_.wait());
    if (!woken.timed_out() && !*woken) co_return (*woken).error();  // cancelled
    if (auto why = still_leading()) co_return why;
  }
}

// Whether a majority of the latest configuration (of each half, when joint) answered requests
// of this term numbered after `after`: the leader counts itself.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::leadership_confirmed(const leader_state& leading, std::uint64_t after) const {
  return has_quorum(configs_.latest(), [&](node_id id) {
    if (id == id_) return true;
    const peer_replication* p = leading.find(id);
    return p && p->answered_request > after;
  });
}

// Whether the lease holds (options::lease_reads): no TimeoutNow sent in this term, and a majority
// of the latest configuration (of each half, when joint) answered requests sent within the last
// lease_duration. The leader counts itself.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::lease_holds(const leader_state& leading) const {
  if (!options_.lease_reads || leading.lease_ended) return false;
  const io::time_point since =
      executor_.now() - std::chrono::duration_cast<io::duration>(
                            lease_duration(options_.election_timeout, options_.lease_clock_drift));
  return has_quorum(configs_.latest(), [&](node_id id) {
    if (id == id_) return true;
    const peer_replication* p = leading.find(id);
    return p && p->answered_request > 0 && p->answered_sent_at > since;
  });
}

// A follower's or a learner's read index: the leader's, asked for. Ends with it; with not_leader
// when no leader is known or the one asked does not lead (any more); with the transport's error
// when the leader cannot be reached; shut_down, or cancelled().
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<index_t>> node<E, T, S>::ask_leader_read_index() {
  const node_id leader = leader_;
  if (leader == nobody || leader == id_ || role_ == role::candidate)
    co_return make_error_code(errc::not_leader);
  read_index_args args{current_term_, id_};
  address(args, leader);
  auto reply = co_await transport_.call(leader, std::move(args));
  if (!reply) co_return reply.error();
  if (observe_term(reply->term) || !reply->success) co_return make_error_code(errc::not_leader);
  co_return reply->read_index;
}

// The leader's side of a follower's read: its read index, or a refusal (not the leader, or not
// confirmed). A request of an older term is refused with this node's term, which the sender
// adopts.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<std::optional<read_index_reply>> node<E, T, S>::on_read_index(read_index_args args) {
  observe_term(args.term);
  const term_t term = current_term_;
  if (args.term < term || role_ != role::leader) co_return read_index_reply{term, false, 0};
  auto read = co_await leader_read_index();
  if (!still_in(term)) co_return read_index_reply{current_term_, false, 0};
  co_return read_index_reply{term, read.has_value(), read ? *read : 0};
}

}  // namespace coraft::raft
