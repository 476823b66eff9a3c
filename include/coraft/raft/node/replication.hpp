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
// or a heartbeat each interval when idle; ends when the role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::replicate(node_id peer, leader_state* leading) {
  const co::context ctx = co_await co::current_context();
  co::scope requests(ctx);
  peer_progress& progress = leading->of(peer);
  for (;;) {
    // Sending does not suspend, so the loop must look for cancellation itself: once the node
    // stops, every call fails at once and hands back its window slot, and without this check a
    // leader stopped with entries still to send would resend them forever without yielding.
    if (ctx.stop.stop_requested()) break;
    progress.wake.reset();
    const io::time_point now = executor_.now();
    const bool paused = now < progress.paused_until;
    if (!paused && progress.mode != peer_progress::mode::snapshotting &&
        progress.next_index <= log_.base_index()) {
      // The entries this peer needs are compacted away: send the snapshot instead (§7).
      progress.mode = peer_progress::mode::snapshotting;
      ++progress.in_flight;
      requests.spawn(send_snapshot(peer, leading));
      continue;
    }
    const bool snapshotting = progress.mode == peer_progress::mode::snapshotting;
    std::size_t window =
        progress.mode == peer_progress::mode::replicating ? options_.max_appends_in_flight : 1;
    bool has_entries = progress.next_index <= log_.last_index();
    bool room = !snapshotting && !paused && progress.in_flight < window;
    // A heartbeat goes every interval whatever else is happening — entries failing to go, a probe
    // or a snapshot on its way — so the peer never times out while this leader lives (§5.2). It is
    // anchored at the known match, or at the snapshot's index while the match lies in the
    // compacted prefix (the peer may then reject it; it resets the peer's timer all the same).
    // It takes no window slot: on a slow link, heartbeats in flight must not keep entries back.
    const index_t anchor = std::max(progress.match_index, log_.base_index());
    const io::time_point next_heartbeat = progress.last_sent + options_.heartbeat_interval;
    bool heartbeat_due = now >= next_heartbeat;
    // A failed request (lost, timed out, refused by the transport) pauses the peer until one
    // interval after it was sent; until another request goes out, the pause ends after last_sent.
    // The retry of its entries must not take the heartbeat's place: whatever keeps failing for
    // them would then starve the peer of heartbeats too. So that slot carries a bare heartbeat,
    // and the entries follow it.
    const bool last_request_failed = progress.paused_until > progress.last_sent;
    const bool with_entries = room && !(heartbeat_due && last_request_failed);
    if ((has_entries && room) || heartbeat_due) {
      // Send from next_index (entries if there are any), or a bare heartbeat.
      append_entries_args args = with_entries ? next_append(progress.next_index, true)
                                              : next_append(anchor + 1, false);
      if (progress.mode == peer_progress::mode::replicating) progress.next_index += args.entries.size();
      if (with_entries) ++progress.in_flight;
      progress.last_sent = now;
      requests.spawn(send_append(peer, std::move(args), with_entries, leading));
      continue;
    }
    io::time_point wake_at = next_heartbeat;
    if (paused) wake_at = std::min(wake_at, progress.paused_until);
    auto woken = co_await co::with_deadline(executor_, wake_at, progress.wake.wait());
    if (!woken.timed_out() && !*woken) break;  // cancelled
  }
  requests.request_stop();
  co_await requests.join();
}

// Sends one AppendEntries and folds its reply into the peer's progress; ends with the reply.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::send_append(node_id peer, append_entries_args args,
                                          bool from_next_index, leader_state* leading) {
  const term_t term = args.term;
  const index_t prev = args.prev_log_index;
  const io::time_point sent_at = executor_.now();
  auto reply = co_await transport_.call(peer, std::move(args));
  if (reply && observe_term(reply->term)) co_return;
  if (role_ != role::leader || current_term_ != term) co_return;
  peer_progress& progress = leading->of(peer);
  if (from_next_index) --progress.in_flight;
  progress.wake.set();
  if (progress.mode == peer_progress::mode::snapshotting) {
    // A snapshot is on its way; only a success may still move the peer's position forward.
    if (reply && reply->term == term && reply->success && reply->match_index > progress.match_index) {
      progress.match_index = reply->match_index;
      advance_commit_index(*leading);
    }
    co_return;
  }
  if (!reply) {
    // Lost or timed out: resend from the last known match, one request at a time, and not
    // before a heartbeat interval has passed since this request went out.
    progress.paused_until = std::max(progress.paused_until, sent_at + options_.heartbeat_interval);
    progress.mode = peer_progress::mode::probing;
    progress.next_index = progress.match_index + 1;
    co_return;
  }
  if (reply->term != term) co_return;
  if (reply->success) {
    if (reply->match_index > progress.match_index) {
      progress.match_index = reply->match_index;
      advance_commit_index(*leading);
    }
    progress.next_index = std::max(progress.next_index, progress.match_index + 1);
    // Only the answer to a request sent from next_index finds the peer's position; a heartbeat
    // anchored at the known match proves nothing new, and must not open the window while the
    // probe is still on its way.
    if (from_next_index) progress.mode = peer_progress::mode::replicating;
    co_return;
  }
  // The peer holds match_index, so a rejection at or below it is stale: from before a success.
  if (prev <= progress.match_index) co_return;
  // Back up past the conflict in one step (§5.3): skip the follower's whole conflicting term, or
  // to the end of its log when it is shorter.
  index_t next = reply->conflict_index;
  if (reply->conflict_term != 0) {
    index_t ours = log_.last_index_of_term(reply->conflict_term);
    if (ours != 0) next = ours + 1;
  }
  progress.next_index = std::clamp<index_t>(next, progress.match_index + 1, log_.last_index() + 1);
  progress.mode = peer_progress::mode::probing;
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
    if (role_ != role::leader || current_term_ != term) co_return;
    if (!reply || !reply->accepted) break;
    offset += chunk;
    if (offset == data->size()) {
      delivered = true;
      break;
    }
  }
  peer_progress& progress = leading->of(peer);
  --progress.in_flight;
  progress.mode = peer_progress::mode::probing;
  if (!delivered)
    progress.paused_until = std::max(progress.paused_until, sent_at + options_.heartbeat_interval);
  if (delivered) progress.match_index = std::max(progress.match_index, meta.last_index);
  progress.next_index = progress.match_index + 1;
  progress.wake.set();
  if (delivered) advance_commit_index(*leading);
}

// Commit the highest index a majority holds, if it is of the current term (§5.4.2, Figure 8).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::advance_commit_index(const leader_state& leading) {
  std::vector<index_t> matches;
  matches.reserve(cluster_size());
  matches.push_back(leading.own_durable_index);
  for (const auto& p : leading.progress) matches.push_back(p.match_index);
  // One configuration today; under joint consensus, the smaller of the two majorities' answers.
  const index_t held_by_majority = majority_match_index(std::move(matches));
  if (auto next = leader_commit_decision(log_, current_term_, commit_index_, held_by_majority))
    set_commit_index(*next);
}

}  // namespace coraft::raft
