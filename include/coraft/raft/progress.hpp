// coraft/raft/progress.hpp — what a leader knows of one follower's log, and what it sends it next.
//
// The leader's side of replication (§5.3, §5.2, §7) as pure, synchronous rules: peer_progress holds
// one peer's position and the requests on their way to it, and changes only through named
// transitions, one per event (a request sent, a reply folded in, a snapshot ended);
// next_request_decision() reads it and says what the peer gets next. No coroutine, no executor: the
// times are arguments. The replicator coroutine in node/replication.hpp is the shell: it decides
// here, builds and sends the request, names it to the progress, and folds the reply in when it comes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <variant>

#include "coraft/io/contract.hpp"
#include "coraft/raft/assert.hpp"
#include "coraft/raft/log.hpp"
#include "coraft/raft/rules.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

// How the leader sends to one peer, as long as it leads:
//  probing       the peer's log position is not known: one request from next_index at a time,
//                each answer moving next_index (backing up on a rejection, §5.3) until one is
//                accepted. A new leader starts here, and so does every peer whose request failed.
//  replicating   the last request from next_index was accepted, so next_index is where the peer's
//                log ends: up to max_in_flight requests are pipelined, next_index running ahead of
//                match_index by what they carry.
//  snapshotting  the entries the peer needs are compacted away (next_index <= the log's base), so
//                the snapshot is on its way (§7): exactly one, and no entries beside it.
// In every mode a bare heartbeat goes each interval and takes no window slot (next_request_decision).
enum class replication_mode : std::uint8_t { probing, replicating, snapshotting };

class peer_progress {
 public:
  // A new leader assumes the peer holds what it holds (next_index = its last index + 1, Figure 2)
  // and knows nothing the peer holds for sure (match_index = 0); it probes from there.
  peer_progress(index_t leader_last_index, std::size_t max_in_flight)
      : next_index_(leader_last_index + 1), max_in_flight_(max_in_flight) {
    check(leader_last_index);
  }

  // The next entry to send; optimistically advanced by the requests in flight while replicating.
  index_t next_index() const noexcept { return next_index_; }
  // The highest entry known to be replicated on the peer; only grows while this leader leads.
  index_t match_index() const noexcept { return match_index_; }
  replication_mode mode() const noexcept { return mode_; }
  // Requests sent from next_index not answered yet; neither bare heartbeats nor the snapshot count.
  std::size_t in_flight() const noexcept { return in_flight_; }
  // How many requests from next_index may be in flight in the current mode.
  std::size_t window() const noexcept {
    switch (mode_) {
      case replication_mode::probing: return 1;
      case replication_mode::replicating: return max_in_flight_;
      case replication_mode::snapshotting: return 0;
    }
    return 0;
  }
  // When the last request of any kind went to the peer: the next heartbeat is due an interval later.
  io::time_point last_sent() const noexcept { return last_sent_; }
  // After a failed request, no entries or snapshot go to the peer before this time (see failed()).
  io::time_point paused_until() const noexcept { return paused_until_; }
  bool paused(io::time_point now) const noexcept { return now < paused_until_; }
  // Whether the last request that went out failed: the pause it set ends after it was sent, and no
  // request has gone since.
  bool last_request_failed() const noexcept { return paused_until_ > last_sent_; }

  // ---- Sending ----------------------------------------------------------------------------------

  // A request from next_index went at `now`, carrying `count` entries (perhaps none). While
  // replicating, next_index moves past them at once, so that the next request of the pipeline
  // carries the entries after them; while probing it stays, until the answer says where to go.
  void entries_sent(std::size_t count, io::time_point now, index_t leader_last_index) {
    CORAFT_ASSERT(mode_ != replication_mode::snapshotting, "entries sent beside a snapshot");
    CORAFT_ASSERT(!paused(now), "entries sent to a paused peer");
    CORAFT_ASSERT(in_flight_ < window(), "entries sent with the window full");
    if (mode_ == replication_mode::replicating) next_index_ += count;
    ++in_flight_;
    last_sent_ = now;
    check(leader_last_index);
  }

  // A bare heartbeat went at `now`: it resets the heartbeat's interval and nothing else.
  void heartbeat_sent(io::time_point now) {
    last_sent_ = now;
    check();
  }

  // The snapshot is on its way (§7): nothing else but heartbeats goes until snapshot_finished().
  void snapshot_started() {
    CORAFT_ASSERT(mode_ != replication_mode::snapshotting, "a second snapshot in flight");
    mode_ = replication_mode::snapshotting;
    check();
  }

  // ---- Replies to AppendEntries ----------------------------------------------------------------
  // `from_next_index` tells a request from next_index (it held a window slot) from a bare
  // heartbeat anchored at the known match (it held none).

  // The peer holds the leader's log up to match_index. Returns whether match_index grew (the
  // commit index may then advance). Only the answer to a request from next_index finds the peer's
  // position, and so opens the window: a heartbeat anchored at the known match proves nothing new,
  // and must not open it while the probe is still on its way. While the snapshot is on its way,
  // a success still moves the peer's match forward, but the mode stays.
  bool accepted(index_t match_index, bool from_next_index, index_t leader_last_index) {
    CORAFT_ASSERT(match_index <= leader_last_index, "a peer acknowledges entries the leader lacks");
    answered(from_next_index);
    const bool grew = match_index > match_index_;
    match_index_ = std::max(match_index_, match_index);
    next_index_ = std::max(next_index_, match_index_ + 1);
    if (from_next_index && mode_ != replication_mode::snapshotting) mode_ = replication_mode::replicating;
    check(leader_last_index);
    return grew;
  }

  // The peer's log does not hold prev_log_index with the leader's term there; the hint says what
  // it holds instead (rules.hpp, append_rejected). Ignored while snapshotting: the snapshot will
  // set the position.
  void rejected(index_t prev_log_index, append_rejected hint, bool from_next_index,
                const log_window& leader_log) {
    answered(from_next_index);
    // The peer holds match_index, so a rejection at or below it is stale: from before a success.
    const bool stale = prev_log_index <= match_index_;
    if (mode_ != replication_mode::snapshotting && !stale) {
      // Back up past the conflict in one step (§5.3): if the leader has entries of the follower's
      // conflicting term, to just after its last one (the logs may agree up to there); if it has
      // none, past the follower's whole run of that term; if the follower's log is shorter, to
      // its end. Never to or below the match (those entries are known to be there), never beyond
      // the leader's log.
      index_t next = hint.conflict_index;
      if (hint.conflict_term != 0) {
        const index_t ours = leader_log.last_index_of_term(hint.conflict_term);
        if (ours != 0) next = ours + 1;
      }
      next_index_ = std::clamp<index_t>(next, match_index_ + 1, leader_log.last_index() + 1);
      mode_ = replication_mode::probing;
    }
    check(leader_log.last_index());
  }

  // The request sent at `sent_at` got no answer (lost, timed out, refused by the transport): resend
  // from the last known match, one request at a time, and not before a heartbeat interval has
  // passed since this request went out, so that a transport that fails at once, for a peer that is
  // down, cannot turn the retries into a loop that never yields. Ignored while snapshotting.
  void failed(io::time_point sent_at, io::duration heartbeat_interval, bool from_next_index) {
    answered(from_next_index);
    if (mode_ != replication_mode::snapshotting) {
      paused_until_ = std::max(paused_until_, sent_at + heartbeat_interval);
      mode_ = replication_mode::probing;
      next_index_ = match_index_ + 1;
    }
    check();
  }

  // A reply that says nothing of the peer's log (one of an older term): it only ends the request.
  void ignored(bool from_next_index) {
    answered(from_next_index);
    check();
  }

  // ---- The snapshot ends -----------------------------------------------------------------------

  // The snapshot through last_index reached the peer whole (delivered), or a chunk sent at
  // `sent_at` failed. Either way the peer is probed again from its match, which a delivered
  // snapshot moves up to last_index; after a failure, not before a heartbeat interval has passed
  // since that chunk went out (as in failed()). Probing finds the peer either caught up, or still
  // behind the log's base: then the snapshot goes again.
  void snapshot_finished(bool delivered, index_t last_index, io::time_point sent_at,
                         io::duration heartbeat_interval) {
    CORAFT_ASSERT(mode_ == replication_mode::snapshotting, "a snapshot ended that was not sent");
    mode_ = replication_mode::probing;
    if (!delivered) paused_until_ = std::max(paused_until_, sent_at + heartbeat_interval);
    if (delivered) match_index_ = std::max(match_index_, last_index);
    next_index_ = match_index_ + 1;
    check();
  }

 private:
  void answered(bool from_next_index) {
    if (!from_next_index) return;
    CORAFT_ASSERT(in_flight_ > 0, "an answer to a request from next_index that was not in flight");
    --in_flight_;
  }

  // The invariants, after every transition. A peer that falls back to probing may still have the
  // answers of its replicating window due: it sends nothing from next_index until they are in, so
  // in_flight never exceeds the largest window.
  void check() const {
    CORAFT_ASSERT(match_index_ < next_index_, "next_index at or below the match");
    CORAFT_ASSERT(in_flight_ <= std::max<std::size_t>(max_in_flight_, 1),
                  "more requests in flight than the window holds");
  }
  // Where the leader's last index is known: next_index points at most just past it.
  void check([[maybe_unused]] index_t leader_last_index) const {
    check();
    CORAFT_ASSERT(next_index_ <= leader_last_index + 1, "next_index beyond the leader's log");
  }

  index_t next_index_ = 1;
  index_t match_index_ = 0;
  replication_mode mode_ = replication_mode::probing;
  std::size_t in_flight_ = 0;
  std::size_t max_in_flight_ = 1;
  io::time_point last_sent_{};
  io::time_point paused_until_{};
};

// ---- What a peer gets next (§5.2, §5.3, §7) -----------------------------------------------------
// This rule lives beside peer_progress rather than in rules.hpp: it reads nothing but one peer's
// progress, the leader's log bounds and the time, and it is the one reader of the modes described
// above; rules.hpp decides on one message against the node's state.

struct snapshot_request {  // send the latest snapshot (§7)
  friend bool operator==(const snapshot_request&, const snapshot_request&) = default;
};
struct entries_request {  // send AppendEntries with the entries from `from` (perhaps none)
  index_t from = 0;
  friend bool operator==(const entries_request&, const entries_request&) = default;
};
struct heartbeat_request {  // send a bare AppendEntries whose previous entry is `prev_log_index`
  index_t prev_log_index = 0;
  friend bool operator==(const heartbeat_request&, const heartbeat_request&) = default;
};
struct no_request_until {  // send nothing before `when`, unless a reply or new entries come first
  io::time_point when{};
  friend bool operator==(const no_request_until&, const no_request_until&) = default;
};
using next_request = std::variant<snapshot_request, entries_request, heartbeat_request, no_request_until>;

// What to send the peer now, given the leader's log window [base_index, last_index].
// `commit_untold`: the leader's commit index has grown since the last request to the peer.
inline next_request next_request_decision(const peer_progress& progress, index_t base_index,
                                          index_t last_index, io::time_point now,
                                          io::duration heartbeat_interval,
                                          bool commit_untold = false) {
  const bool paused = progress.paused(now);
  // The entries this peer needs are compacted away: send the snapshot instead (§7).
  if (!paused && progress.mode() != replication_mode::snapshotting &&
      progress.next_index() <= base_index)
    return snapshot_request{};
  const bool has_entries = progress.next_index() <= last_index;
  const bool room = progress.mode() != replication_mode::snapshotting && !paused &&
                    progress.in_flight() < progress.window();
  // A heartbeat goes every interval whatever else is happening — entries failing to go, a probe
  // or a snapshot on its way — so the peer never times out while this leader lives (§5.2). It is
  // anchored at the known match, or at the snapshot's index while the match lies in the
  // compacted prefix (the peer may then reject it; it resets the peer's timer all the same).
  // It takes no window slot: on a slow link, heartbeats in flight must not keep entries back.
  const io::time_point next_heartbeat = progress.last_sent() + heartbeat_interval;
  const bool heartbeat_due = now >= next_heartbeat;
  // A failed request (lost, timed out, refused by the transport) pauses the peer until one
  // interval after it was sent; until another request goes out, the pause ends after last_sent.
  // The retry of its entries must not take the heartbeat's place: whatever keeps failing for
  // them would then starve the peer of heartbeats too. So that slot carries a bare heartbeat,
  // and the entries follow it.
  const bool with_entries = room && !(heartbeat_due && progress.last_request_failed());
  // A peer that has not been told the commit index learns it now, from an empty request from
  // next_index (or with its entries), rather than with the next heartbeat: it applies, and
  // serves reads, without waiting an interval. Only while replicating and with room: a probe
  // or a full window answers soon, and what goes next carries the commit index anyway.
  const bool tell_commit =
      commit_untold && room && progress.mode() == replication_mode::replicating;
  if ((has_entries && room) || heartbeat_due || tell_commit) {
    // From next_index (entries if there are any: with none, a heartbeat that probes), or bare.
    if (with_entries) return entries_request{progress.next_index()};
    return heartbeat_request{std::max(progress.match_index(), base_index)};
  }
  io::time_point wake_at = next_heartbeat;
  if (paused) wake_at = std::min(wake_at, progress.paused_until());
  return no_request_until{wake_at};
}

}  // namespace coraft::raft
