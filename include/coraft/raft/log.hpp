// coraft/raft/log.hpp — the in-memory window onto the replicated log.
//
// The window holds the entries after `base_index` (everything up to base_index is covered by a
// snapshot, or is the empty prefix 0 when there is none). Indexes start at 1; term_at(base_index)
// is the term of the last covered entry, so the consistency check of §5.3 works at the boundary.
//
// Compaction is cheap: compact() and reset() only move the window, and the entries they drop are
// released later by appends, release_batch of them every release_batch / 2 appends. Releasing
// 100,000 entries, each dropping its share of a payload buffer, takes milliseconds, which the node's
// thread would otherwise spend at once, holding up replication and commits on every member that
// snapshots; a batch takes a fraction of a millisecond. (Batches, not one or two per append: frees
// interleaved one by one with the appends' allocations cost the allocator more than frees in a
// row.) Memory stays bounded all the same: while dropped entries remain, the window, dropped ones
// included, shrinks by release_batch / 2 entries every release_batch / 2 appends, so it never holds
// more than release_batch / 2 entries beyond what it held before the compaction.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coraft/co/ring_buffer.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

class log_window {
 public:
  index_t base_index() const noexcept { return base_index_; }
  term_t base_term() const noexcept { return base_term_; }
  index_t first_index() const noexcept { return base_index_ + 1; }
  index_t last_index() const noexcept { return base_index_ + (entries_.size() - compacted_); }
  term_t last_term() const noexcept { return term_at(last_index()); }
  bool empty() const noexcept { return entries_.size() == compacted_; }

  bool contains(index_t i) const noexcept { return i > base_index_ && i <= last_index(); }

  // The term of entry i, for base_index <= i <= last_index.
  term_t term_at(index_t i) const {
    if (i == base_index_) return base_term_;
    return at(i).term;
  }

  // The reference lasts until the window next changes: an append may move every entry (the
  // entries live in one ring buffer), so copy what must outlive one.
  const log_entry& at(index_t i) const {
    if (!contains(i)) {
      throw std::out_of_range("coraft::raft::log_window: no entry " + std::to_string(i) +
                              " (window " + std::to_string(first_index()) + ".." +
                              std::to_string(last_index()) + ")");
    }
    return entries_[compacted_ + (i - first_index())];
  }

  // Append one entry at last_index() + 1; returns its index. Every release_batch / 2 appends,
  // releases up to release_batch entries that a compaction or a reset dropped.
  index_t append(log_entry entry) {
    entries_.push_back(std::move(entry));
    if (++appends_since_release_ == release_batch / 2) {
      appends_since_release_ = 0;
      if (compacted_ > 0 || !retired_.empty()) release_dropped(release_batch);
    }
    return last_index();
  }

  // Remove every entry at index `from` and after (a conflicting suffix, §5.3).
  void truncate_from(index_t from) {
    if (from <= base_index_) throw std::logic_error("coraft::raft::log_window: truncating the base");
    while (last_index() >= from) entries_.pop_back();
    ++truncations_;
  }

  // The first index of the run of entries of term `term` that ends at `at` (for the backup hint).
  index_t first_index_of_term_ending_at(index_t at) const {
    term_t term = term_at(at);
    index_t i = at;
    while (i > first_index() && term_at(i - 1) == term) --i;
    return i;
  }

  // The last index holding an entry of `term`, or 0 if the window holds none.
  index_t last_index_of_term(term_t term) const {
    for (index_t i = last_index(); i >= first_index() && i > 0; --i) {
      term_t t = term_at(i);
      if (t == term) return i;
      if (t < term) break;  // terms never decrease along the log
    }
    return 0;
  }

  // Drop the entries up to and including `through`, now covered by a snapshot (§7). The window's
  // base moves there; term_at(through) stays answerable. The dropped entries are released by later
  // appends (see the top of this file), so this takes the same short time however many there are.
  void compact(index_t through) {
    if (through <= base_index_) return;
    if (through > last_index()) throw std::logic_error("coraft::raft::log_window: compacting past the end");
    term_t through_term = term_at(through);
    compacted_ += through - base_index_;
    base_index_ = through;
    base_term_ = through_term;
  }

  // Rebuild the window from persisted state: entries starting at base_index + 1. The entries it
  // held are released by later appends, as after compact().
  void reset(index_t base_index, term_t base_term, std::deque<log_entry> entries) {
    base_index_ = base_index;
    base_term_ = base_term;
    if (!entries_.empty()) retired_.push_back(std::move(entries_));
    entries_.clear();
    for (log_entry& e : entries) entries_.push_back(std::move(e));
    compacted_ = 0;
    ++truncations_;
  }

  // Entries dropped by compact() or reset() and not released yet.
  std::size_t dropped() const noexcept {
    std::size_t n = compacted_;
    for (const auto& old : retired_) n += old.size();
    return n;
  }

  // Releases up to `at_most` dropped entries, oldest first. append() calls it; an owner whose log
  // stops growing may call it to give the memory back sooner.
  void release_dropped(std::size_t at_most) {
    while (at_most > 0 && !retired_.empty()) {
      co::ring_buffer<log_entry>& old = retired_.front();
      const std::size_t n = std::min(at_most, old.size());
      old.pop_front(n);
      at_most -= n;
      if (old.empty()) retired_.erase(retired_.begin());
    }
    const std::size_t n = std::min(at_most, compacted_);
    entries_.pop_front(n);
    compacted_ -= n;
  }

  // How many dropped entries append() releases at a time, every release_batch / 2 appends: twice
  // as many as were appended, so that they are all gone before the window has grown by as many.
  static constexpr std::size_t release_batch = 1024;

  // Bumped on every truncation or reset, so that observers know earlier reads may be stale.
  std::uint64_t truncations() const noexcept { return truncations_; }

 private:
  index_t base_index_ = 0;
  term_t base_term_ = 0;
  // entries_[compacted_ + k] is the entry at base_index_ + 1 + k; the first compacted_ ones are
  // covered by the base, dropped and not yet released.
  co::ring_buffer<log_entry> entries_;
  std::size_t compacted_ = 0;
  std::vector<co::ring_buffer<log_entry>> retired_;  // windows reset() replaced, not yet released
  std::size_t appends_since_release_ = 0;       // < release_batch / 2
  std::uint64_t truncations_ = 0;
};

}  // namespace coraft::raft
