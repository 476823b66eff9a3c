// coraft/raft/node/apply.hpp — committed entries handed to the application, in order, once each.
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/roles.hpp"

namespace coraft::raft {

// Hands every committed entry to the application, in order, each once; suspends while the apply
// channel is full; ends when the node stops.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::apply_entries() {
  for (;;) {
    commit_advanced_.reset();
    for (;;) {
      if (snapshot_undelivered_) {
        // A snapshot installed from the leader, or loaded at start: it replaces everything the
        // application applied before, and comes before any entry after it.
        snapshot_undelivered_ = false;
        if (snapshot_.last_index <= last_applied_) continue;
        applied_entry state{snapshot_.last_index, snapshot_.last_term, entry_kind::command,
                            *snapshot_data_, true};
        const index_t through = state.index;
        if (!co_await applied_.send(std::move(state))) co_return;
        last_applied_ = std::max(last_applied_, through);
        continue;
      }
      if (last_applied_ >= commit_index_) break;
      index_t index = last_applied_ + 1;
      const log_entry& entry = log_.at(index);
      // A named local, not a braced temporary inside the co_await: g++ 12 copies an aggregate
      // temporary there bitwise and destroys it twice.
      applied_entry next{index, entry.term, entry.kind, entry.payload};
      if (!co_await applied_.send(std::move(next))) co_return;
      last_applied_ = index;
    }
    if (!co_await commit_advanced_.wait()) co_return;
  }
}

}  // namespace coraft::raft
