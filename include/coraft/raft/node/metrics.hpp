// coraft/raft/node/metrics.hpp — node::metrics(): the counters the node keeps, copied together with
// the gauges its state holds into one node_metrics (metrics/node_metrics.hpp).
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/roles.hpp"

namespace coraft::raft {

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
node_metrics node<E, T, S>::metrics() const {
  CORAFT_ASSERT(last_applied_ <= commit_index_, "the node applies only committed entries");
  node_metrics m;
  m.id = id_;
  m.term = current_term_;
  m.role = role_;
  m.leader = leader_;
  m.commit_index = commit_index_;
  m.last_applied = last_applied_;
  m.apply_lag = commit_index_ - last_applied_;
  m.first_index = log_.first_index();
  m.last_index = log_.last_index();
  m.log_entries = log_.last_index() - log_.base_index();
  for (index_t i = log_.first_index(); i <= log_.last_index(); ++i) m.log_bytes += log_.at(i).payload.size();
  if constexpr (requires { storage_.log_on_disk(); }) {
    m.log_on_disk_known = true;
    m.disk_log_entries = storage_.log_on_disk().entries;
    m.disk_log_bytes = storage_.log_on_disk().bytes;
  }
  m.snapshot_index = snapshot_.last_index;
  m.snapshot_bytes = snapshot_data_->size();
  m.elections_started = elections_started_;
  m.pre_votes_started = pre_votes_started_;
  m.leader_changes = counters_.leader_changes;
  m.append_entries_received = counters_.append_entries_received;
  m.append_entries_rejected = counters_.append_entries_rejected;
  m.sync_latency = counters_.sync_latency;
  m.commit_latency = counters_.commit_latency;
  m.read_index_latency = counters_.read_index_latency;
  m.traffic = counters_.traffic;
  for (const auto& [peer, sent] : counters_.traffic) m.append_entries_sent += sent.append_entries_sent;
  if (leading_) {
    for (const peer_replication& p : leading_->peers) {
      if (p.removed) continue;
      const index_t match = p.progress.match_index();
      CORAFT_ASSERT(match <= log_.last_index(), "a peer's match index is within the leader's log");
      m.peers.push_back(peer_metrics{p.peer, match, log_.last_index() - match, p.progress.in_flight(),
                                     p.traffic ? *p.traffic : peer_traffic{}});
    }
  }
  return m;
}

// The commit index has reached the timed entry: its commit latency counts if this node still leads
// in the term that appended it (and so the entry is its own); either way, the next entry is timed.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::time_commit() {
  CORAFT_ASSERT(timed_entry_.index != 0 && timed_entry_.index <= commit_index_,
                "the entry timed has committed");
  if (leading_ && timed_entry_.term == current_term_)
    counters_.commit_latency.record(executor_.now() - timed_entry_.appended_at);
  timed_entry_ = {};
}

}  // namespace coraft::raft
