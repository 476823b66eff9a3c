// coraft/raft/node/replication.hpp — the leader's side of log replication (§5.3, §5.4): a
// replicator per peer, the leader's own disk, and the commit index.
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/roles.hpp"

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
      auto durable = co_await storage_.durable(storage_.last_write());
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
// role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::replicate(node_id peer, leader_state* leading) {
  const co::context ctx = co_await co::current_context();
  co::scope requests(ctx);
  auto& replica = leading->of(peer);
  peer_progress& progress = replica.progress;
  const auto heartbeat_interval = std::chrono::duration_cast<io::duration>(options_.heartbeat_interval);
  for (;;) {
    // Sending does not suspend, so the loop must look for cancellation itself: once the node
    // stops, every call fails at once and hands back its window slot, and without this check a
    // leader stopped with entries still to send would resend them forever without yielding.
    if (ctx.stop.stop_requested()) break;
    replica.wake.reset();
    const io::time_point now = executor_.now();
    const next_request next = next_request_decision(progress, log_.base_index(), log_.last_index(),
                                                    now, heartbeat_interval);
    if (std::holds_alternative<snapshot_request>(next)) {
      progress.snapshot_started();
      requests.spawn(send_snapshot(peer, leading));
      continue;
    }
    if (const auto* entries = std::get_if<entries_request>(&next)) {
      append_entries_args args = next_append(entries->from, true);
      progress.entries_sent(args.entries.size(), now, log_.last_index());
      requests.spawn(send_append(peer, std::move(args), true, leading));
      continue;
    }
    if (const auto* heartbeat = std::get_if<heartbeat_request>(&next)) {
      progress.heartbeat_sent(now);
      requests.spawn(send_append(peer, next_append(heartbeat->prev_log_index + 1, false), false, leading));
      continue;
    }
    const io::time_point wake_at = std::get<no_request_until>(next).when;
    auto woken = co_await co::with_deadline(executor_, wake_at, replica.wake.wait());
    if (!woken.timed_out() && !*woken) break;  // cancelled
  }
  requests.request_stop();
  co_await requests.join();
}

// Sends one AppendEntries and folds its reply into the peer's progress; ends with the reply.
// `from_next_index`: the request starts at next_index and holds a window slot (else it is a bare
// heartbeat).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::send_append(node_id peer, append_entries_args args,
                                          bool from_next_index, leader_state* leading) {
  const term_t term = args.term;
  const index_t prev = args.prev_log_index;
  const io::time_point sent_at = executor_.now();
  auto reply = co_await transport_.call(peer, std::move(args));
  if (reply && observe_term(reply->term)) co_return;
  if (!still_in(role::leader, term)) co_return;
  auto& replica = leading->of(peer);
  replica.wake.set();
  if (reply && reply->term == term) replica.heard_at = executor_.now();
  if (!reply) {
    replica.progress.failed(sent_at, options_.heartbeat_interval, from_next_index);
  } else if (reply->term != term) {
    replica.progress.ignored(from_next_index);
  } else if (reply->success) {
    if (replica.progress.accepted(reply->match_index, from_next_index, log_.last_index())) {
      replica.progressed.set();
      advance_commit_index(*leading);
    }
  } else {
    replica.progress.rejected(prev, append_rejected{reply->conflict_term, reply->conflict_index},
                              from_next_index, log_);
  }
}

// Streams the latest snapshot to one peer, a chunk per request, each awaited before the next;
// ends when the peer has it (its position then jumps past the snapshot), on a failure (the peer is
// probed again, which leads back here), or when the role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::send_snapshot(node_id peer, leader_state* leading) {
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
    sent_at = executor_.now();
    auto reply = co_await transport_.call(peer, std::move(args));
    if (reply && observe_term(reply->term)) co_return;
    if (!still_in(role::leader, term)) co_return;
    if (reply && reply->term == term) leading->of(peer).heard_at = executor_.now();
    if (!reply || !reply->accepted) break;
    offset += chunk;
    if (offset == data->size()) {
      delivered = true;
      break;
    }
  }
  auto& replica = leading->of(peer);
  replica.progress.snapshot_finished(delivered, meta.last_index, sent_at, options_.heartbeat_interval);
  replica.wake.set();
  if (delivered) {
    replica.progressed.set();
    advance_commit_index(*leading);
  }
}

// Commit the highest index a majority holds, if it is of the current term (§5.4.2, Figure 8).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::advance_commit_index(const leader_state& leading) {
  std::vector<index_t> matches;
  matches.reserve(cluster_size());
  matches.push_back(leading.own_durable_index);
  for (const auto& p : leading.peers) matches.push_back(p.progress.match_index());
  // One configuration today; under joint consensus, the smaller of the two majorities' answers.
  const index_t held_by_majority = majority_match_index(std::move(matches));
  if (auto next = leader_commit_decision(log_, current_term_, commit_index_, held_by_majority))
    set_commit_index(*next);
}

}  // namespace coraft::raft
