// coraft/raft/node/handlers.hpp — the receiver's side of the two RPCs (Figure 2), in every role.
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/roles.hpp"

namespace coraft::raft {

// Pulls requests from the transport and handles each in its own child coroutine, so a follower
// waiting for its disk before one reply keeps answering others; ends when the node stops.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::serve() {
  co::scope handlers(co_await co::current_context());
  for (;;) {
    auto rpc = co_await transport_.receive();
    if (!rpc) break;
    handlers.spawn(handle(std::move(*rpc)));
  }
  handlers.request_stop();
  co_await handlers.join();
}

// Handles one request and sends its reply; ends after replying, or without a reply when the node
// stops first (the caller then sees a timeout, as if the message had been lost).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::handle(inbound_rpc rpc) {
  co::context ctx = co_await co::current_context();
  if (!belongs_to_cluster(rpc.request) || !from_and_for_known_incarnations(rpc.request)) co_return;
  std::optional<rpc_reply> reply;
  if (auto* vote = std::get_if<request_vote_args>(&rpc.request)) {
    if (auto r = co_await on_request_vote(std::move(*vote))) reply = std::move(*r);
  } else if (auto* append = std::get_if<append_entries_args>(&rpc.request)) {
    if (auto r = co_await on_append_entries(std::move(*append))) reply = std::move(*r);
  } else if (auto* snapshot = std::get_if<install_snapshot_args>(&rpc.request)) {
    if (auto r = co_await on_install_snapshot(std::move(*snapshot))) reply = std::move(*r);
  } else if (auto* pre_vote = std::get_if<pre_vote_args>(&rpc.request)) {
    if (auto r = co_await on_pre_vote(std::move(*pre_vote))) reply = std::move(*r);
  } else if (auto* timeout_now = std::get_if<timeout_now_args>(&rpc.request)) {
    if (auto r = co_await on_timeout_now(std::move(*timeout_now))) reply = std::move(*r);
  } else {
    auto& read = std::get<read_index_args>(rpc.request);
    if (auto r = co_await on_read_index(std::move(read))) reply = std::move(*r);
  }
  if (!reply) co_return;
  // No reply carries a term or a vote that is not durable, rejections included: a member whose
  // disk fails stays silent rather than depose a leader with a term it could forget.
  if (!co_await storage_.durable(term_write_)) co_return;
  // A leader learns a follower's incarnation from its replies, and records it (bind_incarnations).
  if (auto* appended = std::get_if<append_entries_reply>(&*reply)) appended->incarnation = incarnation_;
  if (auto* installed = std::get_if<install_snapshot_reply>(&*reply)) installed->incarnation = incarnation_;
  if (!ctx.stop.stop_requested()) rpc.respond(std::move(*reply));
}

// Whether a request is this member's to answer: one of its own cluster. A member waiting to join
// (no cluster yet) answers only a leader's AppendEntries and InstallSnapshot, whose cluster it
// takes: it has no vote to give and nothing to say to a candidate. Others are dropped unanswered,
// as if lost, so that a member of another cluster (a wiped member started with its old peer list
// bootstraps a cluster of its own) disturbs nobody.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::belongs_to_cluster(const rpc_request& request) const {
  const cluster_id theirs = std::visit([](const auto& args) { return args.cluster; }, request);
  if (cluster_ != 0) return theirs == cluster_;
  return theirs != 0 && (std::holds_alternative<append_entries_args>(request) ||
                         std::holds_alternative<install_snapshot_args>(request));
}

// Whether a request comes from the incarnation of its sender that the latest configuration
// records, and is meant for this incarnation of this member (configuration.hpp); 0 stands for
// "not recorded yet" on either side. Others are dropped unanswered and counted: a member whose
// data was lost never votes or acknowledges under its old identity, and one that lost its data
// disturbs nobody with its campaigns.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::from_and_for_known_incarnations(const rpc_request& request) {
  return std::visit(
      [this](const auto& args) {
        if (args.receiver_incarnation != 0 && args.receiver_incarnation != incarnation_) {
          ++requests_for_lost_incarnation_;
          return false;
        }
        node_id sender = nobody;
        if constexpr (requires { args.candidate; }) sender = args.candidate;
        else if constexpr (requires { args.reader; }) sender = args.reader;
        else sender = args.leader;
        const member* known = find_member(configs_.latest(), sender);
        if (known && known->incarnation != 0 && known->incarnation != args.sender_incarnation) {
          ++requests_from_lost_incarnation_;
          return false;
        }
        return true;
      },
      request);
}

// Any message with a higher term makes the receiver adopt it and become a follower (§5.1). The
// new term (and the cleared vote) is written at once; whoever relies on it awaits durability.
// Returns whether the term was raised.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::observe_term(term_t term) {
  if (term <= current_term_) return false;
  raise_term(term, nobody);
  become(role::follower);
  return true;
}

// The one place the term changes: it only grows, the vote goes with it, and the write is issued at
// once (its id kept in term_write_ for whoever must await it).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::raise_term(term_t term, node_id vote) {
  if (term <= current_term_) throw std::logic_error("coraft::raft: the term must only grow");
  current_term_ = term;
  voted_for_ = vote;
  leader_ = nobody;
  term_write_ = storage_.save_term_and_vote(current_term_, voted_for_);
  announce_role_change();
}

// Records a vote in the current term, issuing its write at once.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::persist_vote(node_id candidate) {
  if (voted_for_ != nobody && voted_for_ != candidate)
    throw std::logic_error("coraft::raft: two votes in one term");
  voted_for_ = candidate;
  term_write_ = storage_.save_term_and_vote(current_term_, voted_for_);
}

// Awaits the durability of write w; after a failure (EIO, ENOSPC) awaits a pause, from first_pause
// doubling up to max_storage_retry_interval, and tries again: the storage performs the failed
// writes anew. Ends true once w is durable, false when cancelled.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<bool> node<E, T, S>::retry_until_durable(write_id w, io::duration first_pause) {
  io::backoff pause(first_pause,
                    std::chrono::duration_cast<io::duration>(options_.max_storage_retry_interval));
  for (;;) {
    const io::time_point sync_began = executor_.now();
    auto done = co_await storage_.durable(w);
    if (done) counters_.sync_latency.record(executor_.now() - sync_began);
    if (done) co_return true;
    if (co::is_cancelled(done.error())) co_return false;
    if (!co_await executor_.sleep_for(pause.next())) co_return false;
  }
}

// RequestVote receiver (Figure 2). The vote is durable before the reply says it was granted. A
// member that withholds its vote (a live leader, rules.hpp) refuses a newer term without adopting
// it, so the candidate deposes nobody; unless the leader itself asked for the election.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<std::optional<request_vote_reply>> node<E, T, S>::on_request_vote(request_vote_args args) {
  if (args.term > current_term_ && !args.leadership_transfer && withholds_votes())
    co_return request_vote_reply{current_term_, false};
  observe_term(args.term);
  const voter_state voter{current_term_, voted_for_, log_.last_index(), log_.last_term()};
  const bool grant = vote_decision(voter, args) == vote_verdict::grant;
  if (grant) {
    persist_vote(args.candidate);
    restart_election_timer();  // granting a vote does (§5.2)
  }
  // Whatever this handler changed (term, vote) is durable before anyone hears of it.
  if (!co_await storage_.durable(term_write_)) co_return std::nullopt;
  co_return request_vote_reply{grant ? args.term : current_term_, grant};
}

// AppendEntries receiver (Figure 2), with the conflict hint for fast backup. The entries are durable
// before the reply acknowledges them; a request that writes nothing is answered at once, with the
// durable part of its match.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<std::optional<append_entries_reply>> node<E, T, S>::on_append_entries(append_entries_args args) {
  ++counters_.append_entries_received;
  observe_term(args.term);
  append_entries_reply reply;
  reply.term = current_term_;
  if (args.term < current_term_) co_return reply;  // a stale leader: the reply's term deposes it
  heard_from_leader(args.leader);
  if (cluster_ == 0) cluster_ = args.cluster;  // a joining member learns its cluster

  const append_decision decision = append_entries_decision(log_, commit_index_, args);
  if (const auto* rejected = std::get_if<append_rejected>(&decision)) {
    ++counters_.append_entries_rejected;
    reply.conflict_term = rejected->conflict_term;
    reply.conflict_index = rejected->conflict_index;
    co_return reply;
  }
  const append_accepted accepted = std::get<append_accepted>(decision);
  if (accepted.covered_by_snapshot) {  // committed entries, all in our snapshot: nothing to write
    reply.success = true;
    reply.match_index = accepted.match_index;
    co_return reply;
  }
  const bool writes = accepted.truncate_from || accepted.first_new < args.entries.size();
  if (!writes) {
    // Nothing to write (a heartbeat, or entries held already): answered at once, claiming only
    // the part of the match that is durable, so that a sync under way for earlier entries delays
    // no heartbeat — neither a read's round nor CheckQuorum's evidence. The reply that follows
    // that sync claims the rest.
    if (accepted.commit_index) set_commit_index(*accepted.commit_index);
    if (durable_log_index_ < accepted.match_index) make_log_durable();
    reply.success = true;
    reply.match_index = std::min(accepted.match_index, durable_log_index_);
    co_return reply;
  }
  bool configuration_moved = false;
  if (accepted.truncate_from) {
    rewrite_log_tail();
    log_.truncate_from(*accepted.truncate_from);
    configs_.truncated_from(*accepted.truncate_from);  // a configuration cut goes out of force
    configuration_moved = true;
  }
  if (accepted.first_new < args.entries.size()) {
    const index_t from = log_.last_index() + 1;
    for (std::size_t k = accepted.first_new; k < args.entries.size(); ++k)
      log_.append(std::move(args.entries[k]));
    (void)storage_.append(log_, from);
    configuration_moved |= follow_log_configurations(from);  // in force once appended (§4.1)
  }
  if (configuration_moved) configuration_changed();
  if (accepted.commit_index) set_commit_index(*accepted.commit_index);

  // Everything up to the match index is durable before we say so (the term change too, if there
  // was one).
  const std::uint64_t rewrites = log_rewrites_;
  const io::time_point sync_began = executor_.now();
  if (!co_await storage_.durable(storage_.last_write())) co_return std::nullopt;
  counters_.sync_latency.record(executor_.now() - sync_began);
  if (!still_in(args.term)) co_return append_entries_reply{current_term_};
  if (log_rewrites_ == rewrites) durable_log_index_ = std::max(durable_log_index_, accepted.match_index);
  reply.success = true;
  reply.match_index = accepted.match_index;
  co_return reply;
}

// A follower holds entries whose sync is not known to have completed (the append that wrote them
// failed, or its handler was cancelled) and is asked about them by a request that writes nothing:
// one coroutine in the node's scope makes the log durable as it is now, retrying failed writes as
// the storage allows, and then lets the replies claim it (durable_log_index_). Without it the
// entries would stay unclaimed until some later append synced them. Ends once durable, when the
// log was rewritten meanwhile, or when the node stops.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::make_log_durable() {
  if (syncing_log_ || !life_) return;
  syncing_log_ = true;
  life_->spawn([](node* self, index_t through, std::uint64_t rewrites) -> co::task<void> {
    const auto pause = std::chrono::duration_cast<io::duration>(self->options_.heartbeat_interval);
    const bool durable = co_await self->retry_until_durable(self->storage_.last_write(), pause);
    self->syncing_log_ = false;
    if (durable && self->log_rewrites_ == rewrites)
      self->durable_log_index_ = std::max(self->durable_log_index_, through);
  }(this, log_.last_index(), log_rewrites_));
}

// InstallSnapshot receiver (§7, Figure 13). Chunks must arrive in order; the last one makes the
// snapshot durable before it is acknowledged, and the application receives it through the apply
// channel before any later entry.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<std::optional<install_snapshot_reply>> node<E, T, S>::on_install_snapshot(
    install_snapshot_args args) {
  observe_term(args.term);
  install_snapshot_reply reply{current_term_, false};
  if (args.term < current_term_) co_return reply;
  heard_from_leader(args.leader);
  if (cluster_ == 0) cluster_ = args.cluster;  // a joining member learns its cluster

  const snapshot_meta meta{args.last_index, args.last_term, std::move(args.config)};
  if (args.offset == 0) {
    incoming_snapshot_ = meta;
    incoming_data_.clear();
  } else if (incoming_snapshot_ != meta || args.offset != incoming_data_.size()) {
    co_return reply;  // out of order: the leader starts over
  }
  incoming_data_.insert(incoming_data_.end(), args.data.begin(), args.data.end());
  if (!args.done) {
    reply.accepted = true;
    co_return reply;
  }

  const snapshot_verdict verdict = snapshot_decision(log_, commit_index_, args);
  // Kept, the suffix stays as durable as it was; cut or replaced, the log starts over.
  if (verdict == snapshot_verdict::cut_then_replace_log || verdict == snapshot_verdict::replace_log)
    rewrite_log_tail();
  if (verdict == snapshot_verdict::cut_then_replace_log) {
    // The conflicting suffix goes as a write of its own, before the snapshot's (see the verdict).
    log_.truncate_from(meta.last_index);
    (void)storage_.append(log_, meta.last_index);
  }
  if (verdict != snapshot_verdict::already_covered) {
    snapshot_ = meta;
    snapshot_data_ = std::make_shared<const bytes>(std::move(incoming_data_));
    (void)storage_.save_snapshot(meta, *snapshot_data_);
    if (verdict == snapshot_verdict::keep_suffix) {
      log_.compact(meta.last_index);
      configs_.compacted(meta.last_index);
    } else {
      log_.reset(meta.last_index, meta.last_term, {});
      configs_.reset(meta.last_index, meta.config);  // the snapshot's configuration is in force
    }
    configuration_changed();
    snapshot_undelivered_ = true;
    commit_advanced_.set();
    set_commit_index(meta.last_index);
  }
  incoming_data_.clear();
  incoming_snapshot_ = {};
  if (!co_await storage_.durable(storage_.last_write())) co_return std::nullopt;
  if (!still_in(args.term)) co_return install_snapshot_reply{current_term_, false};
  reply.accepted = true;
  co_return reply;
}

// PreVote receiver (thesis §9.6): answers as for a RequestVote of args.term, changing nothing — no
// term adopted, no vote recorded, the election timer left running. The reply carries this
// member's own term, so a pre-candidate from an older term learns it.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<std::optional<pre_vote_reply>> node<E, T, S>::on_pre_vote(pre_vote_args args) {
  const voter_state voter{current_term_, voted_for_, log_.last_index(), log_.last_term()};
  const bool grant = pre_vote_decision(voter, withholds_votes(), args) == vote_verdict::grant;
  co_return pre_vote_reply{current_term_, grant};
}

// TimeoutNow receiver (thesis §3.10): a follower of the leader's term starts an election at once,
// without a pre-vote, and its RequestVotes ask voters not to withhold their votes. From an older
// term the request is refused, and the reply's term deposes the sender.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<std::optional<timeout_now_reply>> node<E, T, S>::on_timeout_now(timeout_now_args args) {
  observe_term(args.term);
  const term_t term = current_term_;
  // A learner, or a member removed, has no election to start (§4.2.2).
  if (args.term < term || role_ == role::leader || !is_voter_now())
    co_return timeout_now_reply{term, false};
  campaign_for_transfer_ = true;
  become(role::candidate);
  co_return timeout_now_reply{term, true};
}

}  // namespace coraft::raft
