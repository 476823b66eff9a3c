// file_storage under crashes at random moments on the simulated disk, with torn writes and failing
// syncs: whatever durable() acknowledged survives, and what comes back is always the effect of a
// prefix of the writes issued (the last one possibly in part).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

using namespace storage_test;
using namespace std::chrono_literals;

namespace {

// The writes of one life of a storage, and the state each leads to (write ids start at 1).
struct history {
  explicit history(raft::persistent_state loaded) {
    states.push_back(std::move(loaded));
    appended_from.push_back(0);
  }
  void record(raft::persistent_state after, index_t from) {
    states.push_back(std::move(after));
    appended_from.push_back(from);
  }
  void acknowledge(raft::write_id w) { acknowledged = std::max(acknowledged, w); }
  const raft::persistent_state& current() const { return states.back(); }

  std::vector<raft::persistent_state> states;  // [w]: after write w; [0]: as loaded
  std::vector<index_t> appended_from;          // [w]: where write w appended from, 0 if no append
  raft::write_id acknowledged = 0;             // the newest write a durable() call confirmed
};

// Whether `loaded` is what a crash may leave after `h`: the state after some write k at or after
// the acknowledged one, or, if write k+1 is an append, the state after k with a log part way
// between k's and k+1's (cut at or after k+1's truncation point, extended by a prefix of its
// entries).
bool crash_may_leave(const raft::persistent_state& loaded, const history& h, std::string& why) {
  for (raft::write_id k = h.acknowledged; k < h.states.size(); ++k) {
    const raft::persistent_state& after = h.states[k];
    if (!same_term_vote_snapshot(loaded, after)) continue;
    if (loaded.entries == after.entries) return true;
    if (k + 1 < h.states.size() && h.appended_from[k + 1] != 0) {
      const std::size_t kept = h.appended_from[k + 1] - 1 - after.snapshot.last_index;
      if (is_prefix(loaded.entries, after.entries, kept) ||
          is_prefix(loaded.entries, h.states[k + 1].entries, kept)) {
        return true;
      }
    }
  }
  std::ostringstream text;
  text << "loaded term " << loaded.current_term << " vote " << loaded.voted_for << " snapshot "
       << loaded.snapshot.last_index << " and " << loaded.entries.size() << " entries; "
       << h.states.size() - 1 << " writes issued, " << h.acknowledged
       << " acknowledged, after which the states were:";
  for (raft::write_id k = h.acknowledged; k < h.states.size(); ++k) {
    text << "\n  " << k << ": term " << h.states[k].current_term << " snapshot "
         << h.states[k].snapshot.last_index << " entries " << h.states[k].entries.size()
         << " (append from " << h.appended_from[k] << ")";
  }
  why = text.str();
  return false;
}

// Awaits the durability of write w; acknowledges it if that succeeds.
co::task<void> acknowledge(sim_storage* storage, history* h, raft::write_id w) {
  auto made_durable = co_await storage->durable(w);
  if (made_durable) h->acknowledge(w);
}

// Issues random writes as a node would (appends, truncations by a newer term, term and vote
// changes, snapshots) and awaits their durability now inline, now from spawned waiters, now not at
// all. Ends when cancelled: the host crashed. Every write goes into `h` with the state it leads to.
co::task<void> workload(sim_storage* storage, raft::log_window* log, history* h, sim::host* host,
                        bool* finished) {
  auto& random = host->world().random();
  const co::context context = co_await co::current_context();
  co::scope waiters(context);
  term_t term = std::max<term_t>({h->current().current_term, log->last_term(), 1});
  while (!context.stop.stop_requested()) {
    raft::persistent_state next = h->current();
    const auto dice = random.below(100);
    if (dice < 55 || log->empty()) {
      const index_t from = log->last_index() + 1;
      append_entries(*storage, *log, 1 + random.below(8), term);
      model::append(next, from, *log);
      h->record(std::move(next), from);
    } else if (dice < 65) {  // a newer leader replaces a suffix (§5.3)
      const index_t from = random.uniform(log->first_index(), log->last_index());
      ++term;
      log->truncate_from(from);
      for (auto k = random.below(5); k > 0; --k)
        log->append(entry_for(log->last_index() + 1, term));
      storage->append(*log, from);
      model::append(next, from, *log);
      h->record(std::move(next), from);
    } else if (dice < 85) {
      ++term;
      const auto vote = static_cast<raft::node_id>(random.below(4));
      storage->save_term_and_vote(term, vote);
      model::save_term_and_vote(next, term, vote);
      h->record(std::move(next), 0);
    } else {  // a snapshot, sometimes beyond the log (one installed from a leader)
      const index_t at = random.uniform(log->base_index() + 1, log->last_index() + 3);
      const term_t at_term = at <= log->last_index() ? log->term_at(at) : term;
      const raft::bytes data = raft::to_bytes("snapshot at " + std::to_string(at) + ", " +
                                              std::to_string(random.next()));
      storage->save_snapshot(raft::snapshot_meta{at, at_term}, data);
      model::save_snapshot(next, raft::snapshot_meta{at, at_term}, data);
      h->record(std::move(next), 0);
      std::deque<raft::log_entry> rest;
      for (index_t i = at + 1; i <= log->last_index(); ++i) rest.push_back(log->at(i));
      log->reset(at, at_term, std::move(rest));
    }
    const raft::write_id w = storage->last_write();
    const auto how = random.below(10);
    if (how < 4) {
      waiters.spawn(acknowledge(storage, h, w));
    } else if (how < 6) {
      auto made_durable = co_await storage->durable(w);
      if (made_durable) h->acknowledge(w);
    }
    if (random.chance(0.3)) (void)co_await host->sleep_for(random.uniform(0us, 400us));
  }
  waiters.request_stop();
  co_await waiters.join();
  *finished = true;
}

struct totals {
  std::uint64_t lives = 0, writes = 0, acknowledged = 0, torn_bytes_cut = 0, flushes = 0, syncs = 0;
};

// Lives of one storage on one machine: load and check against the previous life, write at random,
// crash at a random moment.
void crash_repeatedly(std::uint64_t seed, double sync_failure, totals& sum) {
  CAPTURE(seed);
  machine m(seed);
  auto& faults = m.host.disk().faults();
  faults.torn_write = 0.5;
  const raft::file_storage_options options{.segment_size = 100 + m.world.random().below(1500)};
  std::optional<history> previous;
  for (int life = 0; life < 8; ++life) {
    CAPTURE(life);
    faults.sync_failure = 0;  // a failing sync during recovery is covered by its own test
    auto storage = std::make_unique<sim_storage>(m.host, data_directory, options);
    auto loaded = m.run(storage->load());
    REQUIRE_MESSAGE(loaded, loaded.error().message());
    sum.torn_bytes_cut += storage->statistics().torn_bytes_cut;
    if (previous) {
      std::string why;
      REQUIRE_MESSAGE(crash_may_leave(*loaded, *previous, why), why);
    }
    history h(*loaded);
    raft::log_window log = window_of(*loaded);
    faults.sync_failure = sync_failure;
    bool finished = false;
    m.host.spawn(workload(storage.get(), &log, &h, &m.host, &finished));
    m.world.run_for(m.world.random().uniform(std::chrono::microseconds(300),
                                             std::chrono::microseconds(30'000)));
    m.host.crash();
    REQUIRE(m.world.run_for([&] { return finished; }, 10s));
    m.host.restart();
    sum.lives += 1;
    sum.writes += h.states.size() - 1;
    sum.acknowledged += h.acknowledged;
    sum.flushes += storage->statistics().flushes;
    sum.syncs += storage->statistics().data_syncs;
    storage.reset();
    previous = std::move(h);
  }
}

}  // namespace

TEST_CASE(
    "file storage: crashes at random moments keep every acknowledged write, and a clean prefix") {
  totals sum;
  for (std::uint64_t seed : seeds(60)) crash_repeatedly(seed, 0.0, sum);
  MESSAGE(sum.lives << " lives: " << sum.writes << " writes, " << sum.acknowledged
                    << " acknowledged, " << sum.flushes << " flushes, " << sum.syncs
                    << " fdatasyncs, " << sum.torn_bytes_cut << " torn bytes cut at load");
  CHECK(sum.acknowledged > sum.writes / 4);
  CHECK(sum.torn_bytes_cut > 0);
}

TEST_CASE("file storage: failing syncs (EIO) are retried; crashes lose nothing acknowledged") {
  totals sum;
  for (std::uint64_t seed : seeds(40)) crash_repeatedly(seed + 1000, 0.1, sum);
  MESSAGE(sum.lives << " lives with 10% of syncs failing: " << sum.writes << " writes, "
                    << sum.acknowledged << " acknowledged");
  CHECK(sum.acknowledged > 0);
}
