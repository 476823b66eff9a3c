// file_storage on the simulated disk: what is written comes back, segments roll and are cut,
// snapshots compact the log, and concurrent appends share fsyncs.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "support.hpp"

using namespace storage_test;
using namespace std::chrono_literals;

namespace {

raft::persistent_state reopen(machine& m, raft::file_storage_options options = {}) {
  sim_storage storage(m.host, data_directory, options);
  auto state = m.run(storage.load());
  REQUIRE_MESSAGE(state, state.error().message());
  return std::move(*state);
}

std::size_t count_with_prefix(const std::vector<std::string>& names, const std::string& prefix) {
  return static_cast<std::size_t>(std::count_if(
      names.begin(), names.end(), [&](const std::string& n) { return n.starts_with(prefix); }));
}

}  // namespace

TEST_CASE("file storage: an empty directory loads as a fresh node and is created if missing") {
  machine m;
  auto state = reopen(m);
  CHECK(state.current_term == 0);
  CHECK(state.voted_for == raft::nobody);
  CHECK(state.entries.empty());
  CHECK(state.snapshot.last_index == 0);
  CHECK(m.host.list_directory(data_directory).has_value());
}

TEST_CASE("file storage: term, vote and log survive a crash once durable, across many segments") {
  machine m;
  const raft::file_storage_options small{.segment_size = 300};
  raft::log_window log;
  {
    sim_storage storage(m.host, data_directory, small);
    REQUIRE(m.run(storage.load()));
    storage.save_term_and_vote(3, 2);
    for (int batch = 0; batch < 10; ++batch) append_entries(storage, log, 5, 3);
    storage.save_term_and_vote(4, raft::nobody);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    CHECK(storage.statistics().directory_syncs > 1);  // every new segment and the meta file
  }
  m.crash_and_restart();
  auto state = reopen(m, small);
  CHECK(state.current_term == 4);
  CHECK(state.voted_for == raft::nobody);
  CHECK(state.entries == entries_of(log));
  CHECK(count_with_prefix(sim_files(m), "log-") > 3);
}

TEST_CASE(
    "file storage: a truncation drops the conflicting suffix, in its segment and the ones after") {
  machine m;
  const raft::file_storage_options small{.segment_size = 250};
  raft::log_window log;
  {
    sim_storage storage(m.host, data_directory, small);
    REQUIRE(m.run(storage.load()));
    append_entries(storage, log, 40, 1);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    const std::size_t segments_before = count_with_prefix(sim_files(m), "log-");
    // A new leader's entries replace everything from index 12 on (§5.3).
    log.truncate_from(12);
    for (int k = 0; k < 4; ++k) log.append(entry_for(log.last_index() + 1, 2));
    storage.append(log, 12);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    CHECK(count_with_prefix(sim_files(m), "log-") < segments_before);
    // A truncation inside writes not yet flushed only shortens what is queued.
    append_entries(storage, log, 6, 2);
    log.truncate_from(18);
    log.append(entry_for(18, 3));
    storage.append(log, 18);
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  m.crash_and_restart();
  auto state = reopen(m, small);
  CHECK(state.entries == entries_of(log));
  CHECK(state.entries.size() == 18);
}

TEST_CASE(
    "file storage: while remove_obsolete_files runs, a snapshot's flush leaves the files it made "
    "obsolete to it; a crash before their removal is durable brings them back, and load removes "
    "them") {
  machine m;
  const raft::file_storage_options small{.segment_size = 200};
  raft::log_window log;
  const raft::bytes data = raft::to_bytes("state as of 25");
  {
    sim_storage storage(m.host, data_directory, small);
    REQUIRE(m.run(storage.load()));
    co::scope remover(m.host);
    remover.spawn(storage.remove_obsolete_files());
    append_entries(storage, log, 40, 1);
    storage.save_snapshot({3, 1}, raft::to_bytes("state as of 3"));  // the one the next replaces
    REQUIRE(m.run(storage.durable(storage.last_write())));
    m.world.run_for(10ms);
    const auto removed_before = storage.statistics().obsolete_files_removed;
    const auto before = sim_files(m);
    REQUIRE(count_with_prefix(before, "log-") > 3);

    append_entries(storage, log, 2, 1);
    storage.save_snapshot({25, 1}, data);
    log.compact(25);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    // The remover, not the flush, takes them away: the old snapshot and each segment holding
    // nothing after 25.
    REQUIRE(m.world.run_for(
        [&] { return count_with_prefix(sim_files(m), "snapshot-") == 1; }, 1s));
    m.world.run_for(10ms);
    const auto after = sim_files(m);
    const auto gone = std::count_if(before.begin(), before.end(), [&](const std::string& n) {
      return std::find(after.begin(), after.end(), n) == after.end();
    });
    CHECK(gone >= 2);
    CHECK(storage.statistics().obsolete_files_removed - removed_before ==
          static_cast<std::uint64_t>(gone));
    CHECK(std::none_of(after.begin(), after.end(),
                       [](const std::string& n) { return n == raft::format::segment_name(1); }));
    remover.request_stop();
    remover.run_until_idle();
  }
  // No directory sync made the removals durable: they come back, and load() removes them.
  m.crash_and_restart();
  const auto back = sim_files(m);
  CHECK(count_with_prefix(back, "snapshot-") == 2);
  auto state = reopen(m, small);
  CHECK(state.snapshot == raft::snapshot_meta{25, 1});
  CHECK(state.snapshot_data == data);
  CHECK(state.entries == entries_of(log));
  const auto names = sim_files(m);
  CHECK(count_with_prefix(names, "snapshot-") == 1);
  CHECK(std::none_of(names.begin(), names.end(),
                     [](const std::string& n) { return n == raft::format::segment_name(1); }));
}

TEST_CASE(
    "file storage: a snapshot replaces the covered log; later entries stay and load after it") {
  machine m;
  const raft::file_storage_options small{.segment_size = 200};
  raft::log_window log;
  const raft::bytes first_data = raft::to_bytes("state as of 25");
  const raft::bytes second_data = raft::to_bytes("state as of 70");
  {
    sim_storage storage(m.host, data_directory, small);
    REQUIRE(m.run(storage.load()));
    append_entries(storage, log, 40, 1);
    storage.save_snapshot({25, 1}, first_data);
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  auto state = reopen(m, small);
  CHECK(state.snapshot == raft::snapshot_meta{25, 1});
  CHECK(state.snapshot_data == first_data);
  REQUIRE(state.entries.size() == 15);
  CHECK(state.entries.front() == entry_for(26, 1));
  const auto names = sim_files(m);
  CHECK(count_with_prefix(names, "snapshot-") == 1);
  CHECK(std::none_of(names.begin(), names.end(),
                     [](const std::string& n) { return n == raft::format::segment_name(1); }));

  // A snapshot beyond the end of the log (one installed from a leader) drops the whole log; the
  // next append starts right after it.
  log = window_of(state);
  {
    sim_storage storage(m.host, data_directory, small);
    REQUIRE(m.run(storage.load()));
    storage.save_snapshot({70, 2}, second_data);
    storage.save_snapshot({60, 2}, first_data);  // older than the one stored: no effect
    log.reset(70, 2, {});
    append_entries(storage, log, 3, 2);
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  m.crash_and_restart();
  state = reopen(m, small);
  CHECK(state.snapshot == raft::snapshot_meta{70, 2});
  CHECK(state.snapshot_data == second_data);
  CHECK(state.entries == entries_of(log));
  CHECK(count_with_prefix(sim_files(m), "snapshot-") == 1);
  CHECK(count_with_prefix(sim_files(m), "log-") == 1);
}

TEST_CASE(
    "file storage: payloads written from their own buffers come back as copied ones do, through "
    "cuts of queued writes and writes of more records than a gathered write has pieces") {
  machine m;
  // entry_for's payloads are 5 to 70 bytes long: about half go from their own buffers.
  const raft::file_storage_options gathering{.segment_size = 1 << 20, .gather_payloads_from = 32};
  raft::log_window log;
  std::uint64_t gathered_bytes = 0;
  for (index_t i = 1; i <= 40 + 12 + 1200; ++i) {
    const auto size = entry_for(i, 1).payload.size();
    if (size >= 32) gathered_bytes += size;
  }
  {
    sim_storage storage(m.host, data_directory, gathering);
    REQUIRE(m.run(storage.load()));
    append_entries(storage, log, 40, 1);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    CHECK(storage.statistics().payload_bytes_gathered > 0);
    // Cut inside what is queued, after a borrowed payload and before another.
    append_entries(storage, log, 12, 1);
    log.truncate_from(47);
    for (int k = 0; k < 3; ++k) log.append(entry_for(log.last_index() + 1, 2));
    storage.append(log, 47);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    // One write of 1,200 records: the payloads past the 500th are copied.
    append_entries(storage, log, 1200, 2);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    CHECK(storage.statistics().payload_bytes_gathered > 0);
    CHECK(storage.statistics().payload_bytes_gathered < gathered_bytes);
    // Not yet durable when the machine crashes: lost, and nothing else.
    append_entries(storage, log, 5, 2);
  }
  m.crash_and_restart();
  auto state = reopen(m, gathering);
  CHECK(state.entries.size() == 49 + 1200);
  CHECK(std::equal(state.entries.begin(), state.entries.end(), entries_of(log).begin()));
}

TEST_CASE("file storage: group commit — concurrent appends share fsyncs") {
  machine m;
  sim_storage storage(m.host, data_directory);
  REQUIRE(m.run(storage.load()));
  raft::log_window log;
  constexpr int writers = 50;
  constexpr int appends_each = 20;
  int acknowledged = 0;
  // Each writer appends one entry, awaits its durability, pauses a random moment, and again.
  auto writer = [](sim_storage* s, raft::log_window* log, sim::host* h,
                   int* acknowledged) -> co::task<void> {
    for (int k = 0; k < appends_each; ++k) {
      const raft::write_id w = append_entries(*s, *log, 1, 1);
      REQUIRE(co_await s->durable(w));
      ++*acknowledged;
      (void)co_await h->sleep_for(h->world().random().uniform(0us, 3000us));
    }
  };
  auto all = [&]() -> co::task<void> {
    co::scope writers_scope(co_await co::current_context());
    for (int i = 0; i < writers; ++i)
      writers_scope.spawn(writer(&storage, &log, &m.host, &acknowledged));
    co_await writers_scope.join();
  };
  m.run(all());
  const auto syncs = storage.statistics().data_syncs;
  MESSAGE((writers * appends_each)
          << " appends each awaited by its writer (" << writers << " writers): " << syncs
          << " fdatasyncs, " << storage.statistics().flushes << " flushes");
  CHECK(acknowledged == writers * appends_each);
  CHECK(syncs * 10 < static_cast<std::uint64_t>(writers * appends_each));
  m.crash_and_restart();
  CHECK(reopen(m).entries == entries_of(log));
}

TEST_CASE("file storage: writes to several files in one flush keep their order") {
  // term, log, term, snapshot, log: each step waits for the one before.
  machine m;
  raft::log_window log;
  {
    sim_storage storage(m.host, data_directory);
    REQUIRE(m.run(storage.load()));
    storage.save_term_and_vote(1, 1);
    append_entries(storage, log, 5, 1);
    storage.save_term_and_vote(2, 2);
    storage.save_term_and_vote(3, 3);  // merged with the one before: one slot write
    storage.save_snapshot({3, 1}, raft::to_bytes("three"));
    log.reset(3, 1, {log.at(4), log.at(5)});
    append_entries(storage, log, 2, 3);
    REQUIRE(m.run(storage.durable(storage.last_write())));
    CHECK(storage.statistics().flushes == 1);
  }
  m.crash_and_restart();
  auto state = reopen(m);
  CHECK(state.current_term == 3);
  CHECK(state.voted_for == 3);
  CHECK(state.snapshot == raft::snapshot_meta{3, 1});
  CHECK(state.entries == entries_of(log));
}
