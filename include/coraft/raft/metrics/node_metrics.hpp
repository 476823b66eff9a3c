// coraft/raft/metrics/node_metrics.hpp — what a node counts as it runs, and the snapshot of its
// metrics that node::metrics() hands out.
//
// The node keeps a node_counters and one peer_traffic per peer it has led, and increments them
// where the events happen; node::metrics() copies them, with the gauges read from the node's
// state, into a node_metrics on the node's thread, so that every value in one snapshot is of the
// same moment. Another thread asks for one through the executor (request_metrics below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <vector>

#include "coraft/raft/metrics/histogram.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

// What a leader sent to one peer, and what the peer refused, over every term it led.
struct peer_traffic {
  std::uint64_t append_entries_sent = 0;      // requests, heartbeats included
  std::uint64_t append_entries_rejected = 0;  // replies of the peer's refusing a log that differs
  std::uint64_t entries_sent = 0;             // log entries those requests carried
  std::uint64_t entry_bytes_sent = 0;         // their payloads' bytes
};

// Counts the entries of one AppendEntries, and their payloads' bytes, as sent to a peer.
template <class Entries>
void count_entries_sent(peer_traffic& traffic, const Entries& entries) noexcept {
  traffic.entries_sent += entries.size();
  for (const auto& entry : entries) traffic.entry_bytes_sent += entry.payload.size();
}

// The counters and histograms a node keeps for its metrics.
struct node_counters {
  std::uint64_t leader_changes = 0;  // times this node learned of a new leader (itself included)
  std::uint64_t append_entries_received = 0;
  std::uint64_t append_entries_rejected = 0;  // received, and refused for a log that differs
  latency_histogram sync_latency;         // each wait for a storage write to become durable
  latency_histogram commit_latency;       // from the leader's append of an entry to its commit
  latency_histogram read_index_latency;   // each read_index() that yielded an index
  std::map<node_id, peer_traffic> traffic;  // by peer; a peer's record is made once, when led first

  peer_traffic& traffic_to(node_id peer) { return traffic[peer]; }
};

// One peer, as this leader sees it.
struct peer_metrics {
  node_id id = nobody;
  index_t match_index = 0;             // the highest index known replicated there
  index_t match_lag = 0;               // the leader's last index minus match_index
  std::size_t requests_in_flight = 0;  // AppendEntries sent from next_index, not yet answered
  peer_traffic traffic;
};

// One consistent snapshot of a node's metrics.
struct node_metrics {
  node_id id = nobody;
  term_t term = 0;
  raft::role role = role::follower;
  node_id leader = nobody;
  index_t commit_index = 0;
  index_t last_applied = 0;
  index_t apply_lag = 0;  // commit_index - last_applied
  index_t first_index = 1;
  index_t last_index = 0;
  std::uint64_t log_entries = 0;  // entries in memory (after the snapshot)
  std::uint64_t log_bytes = 0;    // their payloads' bytes
  // The log in the storage's files, when the storage says (file_storage does): entries and bytes
  // of records, those a snapshot covers included until their segment goes.
  bool log_on_disk_known = false;
  std::uint64_t disk_log_entries = 0;
  std::uint64_t disk_log_bytes = 0;
  index_t snapshot_index = 0;
  std::uint64_t snapshot_bytes = 0;
  std::uint64_t elections_started = 0;
  std::uint64_t pre_votes_started = 0;
  std::uint64_t leader_changes = 0;
  std::uint64_t append_entries_sent = 0;  // to every peer (the sum of peers' traffic, past too)
  std::uint64_t append_entries_received = 0;
  std::uint64_t append_entries_rejected = 0;  // received and refused
  latency_histogram sync_latency;
  latency_histogram commit_latency;
  latency_histogram read_index_latency;
  // While this node leads: each peer it replicates to. Otherwise empty.
  std::vector<peer_metrics> peers;
  // Every peer this node has led, with what was sent to it (the peers' traffic, past leaderships
  // included), by id.
  std::map<node_id, peer_traffic> traffic;

  const peer_metrics* peer(node_id id_of_peer) const {
    for (const peer_metrics& p : peers)
      if (p.id == id_of_peer) return &p;
    return nullptr;
  }
};

// Asks for `n.metrics()` from another thread: the copy is made on the executor's thread, which
// `post` reaches, and the future holds it. The node must outlive the wait.
template <class Executor, class Node>
std::future<node_metrics> request_metrics(Executor& executor, const Node& n) {
  auto done = std::make_shared<std::promise<node_metrics>>();
  std::future<node_metrics> snapshot = done->get_future();
  executor.post([done, &n] { done->set_value(n.metrics()); });
  return snapshot;
}

}  // namespace coraft::raft
