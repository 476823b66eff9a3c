// coraft/raft/storage/memory_storage.hpp — storage in memory, with the crash behaviour of a real disk.
//
// The durable part is a `memory_disk`, owned by whoever plays the machine (a test harness), so it
// outlives any one run of a node. A `memory_storage` is one run's view of it: writes are buffered in
// the view and reach the disk only when a sync completes, after a simulated latency. Throwing the
// view away (a crash) loses every write not yet synced, as a power cut loses the page cache.
// Syncs are grouped: every write issued before a sync starts becomes durable with it.
//
// A disk can be made to fail (memory_disk::sync_error: EIO, ENOSPC, ...): while it is set, every sync
// fails with it after its latency, and so does every durable() call that sync covered. The writes
// stay pending, in order, and the next sync performs them again, as file_storage does.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "coraft/co/event.hpp"
#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/raft/storage.hpp"

namespace coraft::raft {

// What survives a crash.
struct memory_disk {
  persistent_state durable;
  std::uint64_t syncs = 0;      // completed syncs, for tests that count them
  std::error_code sync_error;   // a fault to inject: while set, syncs fail with it
  std::uint64_t failed_syncs = 0;
};

template <class Executor>
  requires io::timers<Executor>
class memory_storage {
 public:
  memory_storage(Executor& executor, memory_disk& disk, io::duration sync_latency = {})
      : executor_(executor), disk_(disk), sync_latency_(sync_latency) {}
  memory_storage(const memory_storage&) = delete;
  memory_storage& operator=(const memory_storage&) = delete;

  co::task<co::result<persistent_state>> load() { co_return disk_.durable; }

  write_id save_term_and_vote(term_t term, node_id vote) {
    pending_.push_back({++issued_, term_and_vote{term, vote}});
    return issued_;
  }

  write_id save_incarnation(incarnation_t incarnation) {
    pending_.push_back({++issued_, incarnation_write{incarnation}});
    return issued_;
  }

  write_id append(const log_window& log, index_t from) {
    entries_from appended{from, {}};
    appended.entries.reserve(static_cast<std::size_t>(log.last_index() + 1 - from));
    for (index_t i = from; i <= log.last_index(); ++i) appended.entries.push_back(log.at(i));
    pending_.push_back({++issued_, std::move(appended)});
    return issued_;
  }

  write_id save_snapshot(snapshot_meta meta, bytes data) {
    pending_.push_back({++issued_, snapshot_write{meta, std::move(data)}});
    return issued_;
  }

  write_id last_write() const noexcept { return issued_; }

  // Resumes once write w is durable. The first waiter to find no sync running performs one for
  // everybody (group commit); if it is cancelled mid-sync, the sync is abandoned and the next waiter
  // starts another. A failed sync fails every waiter whose write it covered.
  co::task<co::result<void>> durable(write_id w) {
    while (synced_ < w) {
      if (syncing_) {
        const std::uint64_t awaited = sync_number_;
        if (auto r = co_await sync_done_.wait(); !r) co_return r;
        if (failed_sync_ == awaited && w <= failed_target_) co_return disk_failure_;
        continue;
      }
      syncing_ = true;
      sync_done_.reset();
      const std::uint64_t number = ++sync_number_;
      const write_id target = issued_;
      auto slept = co_await executor_.sleep_for(sync_latency_);
      syncing_ = false;
      sync_done_.set();
      if (!slept) co_return slept;
      if (disk_.sync_error) {
        ++disk_.failed_syncs;
        failed_sync_ = number;
        failed_target_ = target;
        disk_failure_ = disk_.sync_error;
        co_return disk_failure_;
      }
      apply_through(target);
    }
    co_return co::result<void>{};
  }

 private:
  struct term_and_vote {
    term_t term;
    node_id vote;
  };
  struct incarnation_write {
    incarnation_t incarnation;
  };
  struct entries_from {
    index_t from;
    std::vector<log_entry> entries;
  };
  struct snapshot_write {
    snapshot_meta meta;
    bytes data;
  };
  struct write {
    write_id id;
    std::variant<term_and_vote, incarnation_write, entries_from, snapshot_write> change;
  };

  void apply_through(write_id target) {
    while (!pending_.empty() && pending_.front().id <= target) {
      // this->: clang 16 does not see the capture used through an overloaded member call here.
      std::visit([this](auto& change) { this->apply(change); }, pending_.front().change);
      pending_.pop_front();
    }
    synced_ = std::max(synced_, target);
    ++disk_.syncs;
  }
  void apply(term_and_vote& change) {
    disk_.durable.current_term = change.term;
    disk_.durable.voted_for = change.vote;
  }
  void apply(incarnation_write& change) { disk_.durable.incarnation = change.incarnation; }
  void apply(entries_from& change) {
    auto& state = disk_.durable;
    const index_t base = state.snapshot.last_index;  // entries[k] is the entry at base + 1 + k
    if (change.from <= base || change.from - 1 > base + state.entries.size())
      throw std::logic_error("coraft::raft::memory_storage: append outside the stored log");
    state.entries.resize(change.from - 1 - base);
    for (auto& e : change.entries) state.entries.push_back(std::move(e));
  }
  void apply(snapshot_write& change) {
    auto& state = disk_.durable;
    const index_t base = state.snapshot.last_index;
    const index_t covered = change.meta.last_index;
    // Older than what is stored; but the empty log's snapshot (a bootstrap's configuration) is taken.
    if (covered <= base && covered != 0) return;
    const index_t drop = std::min<index_t>(covered - base, state.entries.size());
    state.entries.erase(state.entries.begin(), state.entries.begin() + static_cast<std::ptrdiff_t>(drop));
    state.snapshot = change.meta;
    state.snapshot_data = std::move(change.data);
  }

  Executor& executor_;
  memory_disk& disk_;
  io::duration sync_latency_;
  std::deque<write> pending_;  // issued and not yet durable, in issue order
  write_id issued_ = 0;
  write_id synced_ = 0;
  bool syncing_ = false;
  co::event sync_done_;
  std::uint64_t sync_number_ = 0;  // syncs started
  std::uint64_t failed_sync_ = 0;  // the number of the last one that failed
  write_id failed_target_ = 0;     // the writes it was to make durable
  std::error_code disk_failure_;   // and why
};

}  // namespace coraft::raft
