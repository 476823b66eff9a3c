// coraft/raft/node/replication.hpp — the leader's side of log replication (§5.3, §5.4): a
// replicator per peer, the leader's own disk, and the commit index.
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/roles.hpp"
#include "coraft/wire/encode.hpp"

namespace coraft::raft {

// Tracks the leader's own disk: awaits the durability of its newest write, then counts the entries
// it covers as the leader's match index. A failed write is retried after a pause that doubles from
// one heartbeat interval; once the disk has failed for leader_storage_failure_limit, the leader
// steps down rather than lead without a disk. Ends when the role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::persist_own_log(leader_state* leading) {
  const auto first_pause = std::chrono::duration_cast<io::duration>(options_.heartbeat_interval);
  const auto longest = std::chrono::duration_cast<io::duration>(options_.max_storage_retry_interval);
  io::backoff pause(first_pause, longest);
  std::optional<io::time_point> failing_since;
  for (;;) {
    leading->own_log_grew.reset();
    if (leading->own_durable_index < log_.last_index()) {
      index_t covered = log_.last_index();
      const io::time_point sync_began = executor_.now();
      auto durable = co_await storage_.durable(storage_.last_write());
      if (durable) counters_.sync_latency.record(executor_.now() - sync_began);
      if (!durable) {
        if (co::is_cancelled(durable.error())) co_return;
        const io::time_point now = executor_.now();
        if (!failing_since) failing_since = now;
        if (now - *failing_since >= options_.leader_storage_failure_limit) {
          become(role::follower);
          co_return;
        }
        if (!co_await executor_.sleep_for(pause.next())) co_return;
        continue;
      }
      failing_since.reset();
      pause.reset();
      leading->own_durable_index = std::max(leading->own_durable_index, covered);
      advance_commit_index(*leading);
      continue;
    }
    if (!co_await leading->own_log_grew.wait()) co_return;
  }
}

// The AppendEntries that starts at index `from`, with entries bounded by the options, or none.
// The byte bound counts the request as encoded; the first entry is always taken, and fits, since
// the constructor checked that an entry of max_entry_bytes does (message_sizes.hpp).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
append_entries_args node<E, T, S>::next_append(index_t from, bool with_entries) const {
  append_entries_args args;
  args.term = current_term_;
  args.leader = id_;
  args.prev_log_index = from - 1;
  args.prev_log_term = log_.term_at(args.prev_log_index);
  args.leader_commit = commit_index_;
  if (!with_entries) return args;
  std::size_t bytes_taken = append_entries_overhead(options_.max_entries_per_append);
  if (from <= log_.last_index()) {
    args.entries.reserve(static_cast<std::size_t>(
        std::min<index_t>(log_.last_index() - from + 1, options_.max_entries_per_append)));
  }
  for (index_t i = from; i <= log_.last_index(); ++i) {
    const log_entry& entry = log_.at(i);
    if (args.entries.size() == options_.max_entries_per_append) break;
    const std::size_t entry_bytes = wire::encoded_size(entry);
    if (!args.entries.empty() && bytes_taken + entry_bytes > options_.max_bytes_per_append) break;
    bytes_taken += entry_bytes;
    args.entries.push_back(entry);
  }
  return args;
}

// Replicates to one peer: sends entries as soon as there are new ones and the window has room,
// or a heartbeat each interval when idle (next_request_decision, progress.hpp, decides which);
// between requests, awaits the peer's wake event racing the time the rule names. Ends when the
// role changes, or when the peer leaves the configuration (sync_replicators).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::replicate(peer_replication* replica_ptr, leader_state* leading) {
  const co::context ctx = co_await co::current_context();
  co::scope requests(ctx);
  peer_replication& replica = *replica_ptr;
  peer_progress& progress = replica.progress;
  replica.traffic = &counters_.traffic_to(replica.peer);
  const auto heartbeat_interval = std::chrono::duration_cast<io::duration>(options_.heartbeat_interval);
  requests.spawn(wake_replicator_in_time(&replica));
  for (;;) {
    // Sending does not suspend, so the loop must look for cancellation itself: once the node
    // stops, every call fails at once and hands back its window slot, and without this check a
    // leader stopped with entries still to send would resend them forever without yielding.
    if (ctx.stop.stop_requested() || replica.removed) break;
    replica.wake.reset();
    const io::time_point now = executor_.now();
    const next_request next = next_request_decision(progress, log_.base_index(), log_.last_index(),
                                                    now, heartbeat_interval,
                                                    commit_index_ > replica.commit_sent);
    // Every AppendEntries carries the commit index; sent(args) notes it and starts the request.
    auto sent = [&](append_entries_args args, bool from_next_index, bool round) {
      replica.commit_sent = std::max(replica.commit_sent, args.leader_commit);
      requests.spawn(send_append(&replica, std::move(args), from_next_index, leading, round));
    };
    // Reads await a request sent from now on (reads.hpp): whatever AppendEntries goes next serves
    // them; when nothing would go yet, a heartbeat goes now. (A snapshot's turn comes first.)
    const bool for_round = replica.round_wanted && !replica.round_in_flight &&
                           !std::holds_alternative<snapshot_request>(next);
    if (for_round) {
      replica.round_wanted = false;
      replica.round_in_flight = true;
    }
    if (for_round && std::holds_alternative<no_request_until>(next)) {
      progress.heartbeat_sent(now);
      const index_t anchor = std::max(progress.match_index(), log_.base_index());
      sent(next_append(anchor + 1, false), false, true);
      continue;
    }
    if (std::holds_alternative<snapshot_request>(next)) {
      progress.snapshot_started();
      requests.spawn(send_snapshot(&replica, leading));
      continue;
    }
    if (const auto* entries = std::get_if<entries_request>(&next)) {
      append_entries_args args = next_append(entries->from, true);
      progress.entries_sent(args.entries.size(), now, log_.last_index());
      count_entries_sent(*replica.traffic, args.entries);
      sent(std::move(args), true, for_round);
      continue;
    }
    if (const auto* heartbeat = std::get_if<heartbeat_request>(&next)) {
      progress.heartbeat_sent(now);
      sent(next_append(heartbeat->prev_log_index + 1, false), false, for_round);
      continue;
    }
    replica.wake_at = std::get<no_request_until>(next).when;
    if (replica.wake_at < replica.alarm_set_for) replica.alarm_moved.set();
    if (!co_await replica.wake.wait()) break;  // cancelled
  }
  requests.request_stop();
  co_await requests.join();
}

// The replicator's alarm: sets the peer's wake event once the time the replicator last asked
// for (`wake_at`) has come. Most rounds end with a reply, which wakes the replicator first and
// moves the time later; so the alarm sleeps until the time it saw, then looks again, and a round
// costs no timer of its own (a timer raced per round allocated a stop state each time). It awaits
// that time, or `alarm_moved` when the replicator asks for an earlier one; ends when cancelled.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::wake_replicator_in_time(peer_replication* replica_ptr) {
  peer_replication& replica = *replica_ptr;
  for (;;) {
    const io::time_point now = executor_.now();
    if (replica.wake_at <= now) {
      replica.wake_at = io::time_point::max();
      replica.wake.set();
    }
    replica.alarm_set_for = replica.wake_at;
    replica.alarm_moved.reset();
    if (replica.alarm_set_for == io::time_point::max()) {
      if (!co_await replica.alarm_moved.wait()) break;
      continue;
    }
    auto woken = co_await co::with_deadline(executor_, replica.alarm_set_for, replica.alarm_moved.wait());
    if (!woken.timed_out() && !*woken) break;  // cancelled
  }
  replica.alarm_set_for = io::time_point::max();
}

// Sends one AppendEntries and folds its reply into the peer's progress; ends with the reply.
// `from_next_index`: the request starts at next_index and holds a window slot (else it is a bare
// heartbeat). `for_round`: it is the one request on its way that reads asked for (reads.hpp).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::send_append(peer_replication* replica_ptr, append_entries_args args,
                                          bool from_next_index, leader_state* leading,
                                          bool for_round) {
  const term_t term = args.term;
  const index_t prev = args.prev_log_index;
  const io::time_point sent_at = executor_.now();
  const std::uint64_t number = ++leading->requests_sent;
  address(args, replica_ptr->peer);
  ++replica_ptr->traffic->append_entries_sent;
  auto reply = co_await transport_.call(replica_ptr->peer, std::move(args));
  if (reply && observe_term(reply->term)) co_return;
  if (!still_in(role::leader, term)) co_return;
  peer_replication& replica = *replica_ptr;
  replica.wake.set();
  if (for_round) replica.round_in_flight = false;
  if (reply && reply->term == term)
    heard_in_term(replica, number, sent_at, reply->incarnation, *leading);
  if (!reply) {
    replica.progress.failed(sent_at, options_.heartbeat_interval, from_next_index);
  } else if (reply->term != term) {
    replica.progress.ignored(from_next_index);
  } else if (reply->success) {
    if (replica.progress.accepted(reply->match_index, from_next_index, log_.last_index())) {
      replica.progressed.set();
      replication_progressed_.set();
      replication_progressed_.reset();
      advance_commit_index(*leading);
    }
  } else {
    ++replica.traffic->append_entries_rejected;
    replica.progress.rejected(prev, append_rejected{reply->conflict_term, reply->conflict_index},
                              from_next_index, log_);
  }
}

// Streams the latest snapshot to one peer, a chunk per request, each awaited before the next;
// ends when the peer has it (its position then jumps past the snapshot), on a failure (the peer is
// probed again, which leads back here), or when the role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::send_snapshot(peer_replication* replica_ptr, leader_state* leading) {
  const node_id peer = replica_ptr->peer;
  const std::shared_ptr<const bytes> data = snapshot_data_;
  const snapshot_meta meta = snapshot_;
  const term_t term = current_term_;
  bool delivered = false;
  io::time_point sent_at{};
  for (std::uint64_t offset = 0;;) {
    const std::size_t chunk = std::min<std::size_t>(options_.snapshot_chunk_bytes, data->size() - offset);
    install_snapshot_args args;
    args.term = term;
    args.leader = id_;
    args.last_index = meta.last_index;
    args.last_term = meta.last_term;
    args.offset = offset;
    args.data.assign(data->begin() + static_cast<std::ptrdiff_t>(offset),
                     data->begin() + static_cast<std::ptrdiff_t>(offset + chunk));
    args.done = offset + chunk == data->size();
    args.config = meta.config;
    address(args, peer);
    sent_at = executor_.now();
    const std::uint64_t number = ++leading->requests_sent;
    auto reply = co_await transport_.call(peer, std::move(args));
    if (reply && observe_term(reply->term)) co_return;
    if (!still_in(role::leader, term)) co_return;
    if (reply && reply->term == term)
      heard_in_term(*replica_ptr, number, sent_at, reply->incarnation, *leading);
    if (!reply || !reply->accepted) break;
    offset += chunk;
    if (offset == data->size()) {
      delivered = true;
      break;
    }
  }
  peer_replication& replica = *replica_ptr;
  replica.progress.snapshot_finished(delivered, meta.last_index, sent_at, options_.heartbeat_interval);
  replica.wake.set();
  if (delivered) {
    replica.progressed.set();
    replication_progressed_.set();
    replication_progressed_.reset();
    advance_commit_index(*leading);
  }
}

// Commit the highest index a quorum of the latest configuration holds — under joint consensus,
// a majority of each half (§6) — if it is of the current term (§5.4.2, Figure 8). A leader that
// is no voter of C_new (it is removing itself) does not count itself there (§4.2.2).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::advance_commit_index(const leader_state& leading) {
  const index_t held = quorum_match_index(
      configs_.latest(), [&](node_id id) { return leading.match_of(id_, id); });
  if (auto next = leader_commit_decision(log_, current_term_, commit_index_, held))
    set_commit_index(*next);
}

// Gives every member that a configuration since the commit index names a replicator, and ends the
// replicators of members none names any more. A member being removed is replicated to until its
// removal commits, so that it learns of it and stops waiting for a leader.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::sync_replicators(leader_state& leading) {
  // (Runs at every commit: it walks the few configurations in force rather than collect them.)
  const auto wanted = [&](node_id id) {
    bool in_one = false;
    configs_.for_each_since(commit_index_, [&](const configuration& c) {
      in_one = in_one || find_member(c, id) != nullptr;
    });
    return in_one;
  };
  for (auto& p : leading.peers) {
    if (p.removed || wanted(p.peer)) continue;
    p.removed = true;
    p.wake.set();
  }
  configs_.for_each_since(commit_index_, [&](const configuration& c) {
    for (const auto* set : {&c.members, &c.outgoing}) {
      for (const member& m : *set) {
        if (m.id == id_ || leading.find(m.id)) continue;
        auto& added = leading.peers.emplace_back(m.id, log_.last_index(),
                                                 options_.max_appends_in_flight, executor_.now());
        leading.replication->spawn(replicate(&added, &leading));
      }
    }
  });
}

// What a commit means to the leader's configuration: a joint configuration that has committed is
// left at once for C_new (§6), whoever started the change; a C_new that has committed without this
// leader among its voters sends it away (leave_cluster); members no configuration since the commit
// index names lose their replicators; every replicator wakes to tell its peer the commit index.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::after_commit_as_leader(leader_state& leading) {
  if (configs_.latest_index() <= commit_index_) {
    const configuration& latest = configs_.latest();
    if (is_joint(latest)) {
      configuration next{cluster_, latest.members, {}};
      append_local(log_entry{current_term_, entry_kind::configuration, wire::encode(next)});
    } else if (!is_voter(latest, id_) && !leading.leaving) {
      leading.leaving = true;
      leading.replication->spawn(leave_cluster(&leading));
    } else {
      bind_incarnations(leading);
    }
  }
  sync_replicators(leading);
  for (auto& p : leading.peers) p.wake.set();  // each tells its peer the new commit index
}

// A peer answered request number `number`, sent at `sent_at`, in this leader's term: it counts
// for CheckQuorum (heard_at), for the reads waiting for a round and for the lease (answered), and
// its incarnation is learnt.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::heard_in_term(peer_replication& replica, std::uint64_t number,
                                  io::time_point sent_at, incarnation_t incarnation,
                                  leader_state& leading) {
  replica.heard_at = executor_.now();
  replica.answered(number, sent_at);
  leader_heard_.set();
  leader_heard_.reset();
  learn_incarnation(replica, incarnation, leading);
}

// A peer's reply named its incarnation: the first one of this term is recorded in the
// configuration if it holds none for the peer yet (bind_incarnations).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::learn_incarnation(peer_replication& replica, incarnation_t incarnation,
                                      leader_state& leading) {
  if (incarnation == 0 || replica.incarnation == incarnation) return;
  replica.incarnation = incarnation;
  bind_incarnations(leading);
}

// Records in the configuration the incarnation of each member that has none there yet and whose
// incarnation this leader knows (its own, or a peer's from its replies): one configuration entry,
// which changes nobody's role, once every member's is known (or an election timeout into the
// leadership, with those known then), so that a new cluster records all of them in one entry.
// Only while the latest configuration is committed and not joint and no transfer or departure is
// under way; each commit, each reply with a new incarnation and each CheckQuorum round look
// again. From then on the members drop requests from other incarnations of those members, and
// those members requests meant for earlier incarnations of themselves (configuration.hpp).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::bind_incarnations(leader_state& leading) {
  const configuration& latest = configs_.latest();
  if (configs_.latest_index() > commit_index_ || is_joint(latest)) return;
  if (leading.leaving || transfer_target_ != nobody) return;
  // Called on every commit: once all are recorded, it looks without copying anything.
  if (std::none_of(latest.members.begin(), latest.members.end(),
                   [](const member& m) { return m.incarnation == 0; }))
    return;
  std::vector<member> members = latest.members;
  bool learnt = false;
  bool all_known = true;
  for (member& m : members) {
    if (m.incarnation != 0) continue;
    const peer_replication* replica = m.id == id_ ? nullptr : leading.find(m.id);
    m.incarnation = m.id == id_ ? incarnation_ : (replica ? replica->incarnation : 0);
    learnt = learnt || m.incarnation != 0;
    all_known = all_known && m.incarnation != 0;
  }
  const auto patience = std::chrono::duration_cast<io::duration>(options_.election_timeout);
  if (!learnt || (!all_known && executor_.now() < leading.since + patience)) return;
  configuration next{cluster_, std::move(members), {}};
  append_local(log_entry{current_term_, entry_kind::configuration, wire::encode(next)});
}

// A leader removed from the configuration, once its removal has committed: hands its leadership
// to the voter of C_new whose log is furthest along (a transfer, thesis §3.10), then steps down
// after an election timeout if it still leads. Ends by stepping down, or when the role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::leave_cluster(leader_state* leading) {
  const auto timeout = std::chrono::duration_cast<io::duration>(options_.election_timeout);
  node_id best = nobody;
  index_t best_match = 0;
  for (node_id voter : other_voters(configs_.latest(), id_)) {
    const auto* p = leading->find(voter);
    if (p && (best == nobody || p->progress.match_index() > best_match)) {
      best = voter;
      best_match = p->progress.match_index();
    }
  }
  if (best != nobody && transfer_target_ == nobody) {
    transfer_target_ = best;
    transfer_give_up_ = executor_.now() + timeout;
    transfer_requested_.set();
  }
  if (!co_await executor_.sleep_for(timeout)) co_return;
  become(role::follower);
}

}  // namespace coraft::raft
