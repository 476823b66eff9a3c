// coraft/raft/storage.hpp — the storage contract: what must survive a crash, and when it has.
//
// Figure 2 names three pieces of persistent state: currentTerm, votedFor and the log. A storage
// accepts writes at once (save_term_and_vote, append) and numbers them; `co_await durable(w)` resumes
// once write `w` *and every earlier write* has reached stable storage. Writes take effect in the
// order issued. That split is what lets many writes share one fsync (group commit), and lets a node
// keep working while its disk catches up: the node awaits durability exactly where Figure 2 says a
// state must be stable — before granting a vote, before a candidacy asks for votes, before a follower
// acknowledges entries, and before a leader counts itself in a majority.
#pragma once

#include <concepts>
#include <cstdint>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/raft/log.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

using write_id = std::uint64_t;  // 1 for the first write of a storage instance, then increasing

// What a storage holds after a restart.
struct persistent_state {
  term_t current_term = 0;
  node_id voted_for = nobody;
  std::vector<log_entry> entries;  // the log, from index 1
};

template <class S>
concept storage = requires(S& s, term_t term, node_id vote, const log_window& log, index_t from,
                           write_id w) {
  // Read what was durable at the last crash. Called once, before any write.
  { s.load() } -> std::same_as<co::task<co::result<persistent_state>>>;
  // Replace the term and vote.
  { s.save_term_and_vote(term, vote) } -> std::same_as<write_id>;
  // Make the stored log equal `log` from index `from` on: entries from..log.last_index() are
  // written, whatever the storage held at `from` and after is dropped. The entries are read (copied
  // or encoded) during the call.
  { s.append(log, from) } -> std::same_as<write_id>;
  // The newest write issued so far (0 if none).
  { s.last_write() } -> std::same_as<write_id>;
  // Resume once write w and all before it are durable; an error if they cannot be made so.
  { s.durable(w) } -> std::same_as<co::task<co::result<void>>>;
};

}  // namespace coraft::raft
