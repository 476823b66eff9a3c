// coraft/raft/storage.hpp — the storage contract: what must survive a crash, and when it has.
//
// Figure 2 names three pieces of persistent state: currentTerm, votedFor and the log. A storage
// accepts writes at once (save_term_and_vote, append) and numbers them; `co_await durable(w)` resumes
// once write `w` *and every earlier write* has reached stable storage. Writes take effect in the
// order issued. That split is what lets many writes share one fsync (group commit), and lets a node
// keep working while its disk catches up: the node awaits durability exactly where Figure 2 says a
// state must be stable — before granting a vote, before a candidacy asks for votes, before a follower
// acknowledges entries, and before a leader counts itself in a majority.
//
// Log compaction (§7): save_snapshot() stores the application's state as of an index and lets the
// storage discard every entry it covers, so that disk use stays bounded however long the log grows.
#pragma once

#include <concepts>
#include <cstdint>
#include <utility>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/raft/configuration.hpp"
#include "coraft/raft/log.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

using write_id = std::uint64_t;  // 1 for the first write of a storage instance, then increasing

// The position a snapshot covers: every entry up to and including last_index (§7).
struct snapshot_meta {
  snapshot_meta() = default;
  snapshot_meta(index_t index, term_t term, configuration in_force = {})
      : last_index(index), last_term(term), config(std::move(in_force)) {}
  index_t last_index = 0;  // 0: no snapshot
  term_t last_term = 0;
  // The configuration in force at last_index. A bootstrapped member stores its initial
  // configuration as the snapshot of the empty log (last_index 0), so that it survives restarts.
  configuration config;
  friend bool operator==(const snapshot_meta&, const snapshot_meta&) = default;
};

// What a storage holds after a restart.
struct persistent_state {
  term_t current_term = 0;
  node_id voted_for = nobody;
  incarnation_t incarnation = 0;   // this life of the data (configuration.hpp); 0: none stored yet
  snapshot_meta snapshot;          // the latest durable snapshot, if any
  bytes snapshot_data;             // its contents, as the application produced them
  std::vector<log_entry> entries;  // the log after the snapshot: from snapshot.last_index + 1
};

template <class S>
concept storage = requires(S& s, term_t term, node_id vote, incarnation_t incarnation,
                           const log_window& log, index_t from,
                           snapshot_meta snapshot, bytes data, write_id w) {
  // Read what was durable at the last crash. Called once, before any write.
  { s.load() } -> std::same_as<co::task<co::result<persistent_state>>>;
  // Replace the term and vote.
  { s.save_term_and_vote(term, vote) } -> std::same_as<write_id>;
  // Record the incarnation of the data (once, on a storage that had none).
  { s.save_incarnation(incarnation) } -> std::same_as<write_id>;
  // Make the stored log equal `log` from index `from` on: entries from..log.last_index() are
  // written, whatever the storage held at `from` and after is dropped. The entries are read (copied
  // or encoded) during the call.
  { s.append(log, from) } -> std::same_as<write_id>;
  // Replace the snapshot and drop every log entry up to meta.last_index; later entries stay.
  // Durable like any write: `co_await durable(w)` covers it.
  { s.save_snapshot(snapshot, data) } -> std::same_as<write_id>;
  // The newest write issued so far (0 if none).
  { s.last_write() } -> std::same_as<write_id>;
  // Resume once write w and all before it are durable; an error if they cannot be made so.
  { s.durable(w) } -> std::same_as<co::task<co::result<void>>>;
};

}  // namespace coraft::raft
