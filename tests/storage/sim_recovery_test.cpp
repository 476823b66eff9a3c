// file_storage facing damaged files on the simulated disk: each kind of damage and its documented
// outcome (storage/recovery.hpp), and a disk that fills up.
#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace storage_test;

namespace {

const raft::file_storage_options small_segments{.segment_size = 400};

std::string path_of(const std::string& name) { return std::string(data_directory) + "/" + name; }
std::string segment_path(index_t first) { return path_of(raft::format::segment_name(first)); }

// A machine whose storage durably holds term 5, a vote for 2, and `count` entries of term 5.
raft::log_window fill(machine& m, std::size_t count,
                      raft::file_storage_options options = small_segments) {
  sim_storage storage(m.host, data_directory, options);
  REQUIRE(m.run(storage.load()));
  raft::log_window log;
  storage.save_term_and_vote(5, 2);
  append_entries(storage, log, count, 5);
  REQUIRE(m.run(storage.durable(storage.last_write())));
  return log;
}

co::result<raft::persistent_state> load(machine& m,
                                        raft::file_storage_options options = small_segments) {
  sim_storage storage(m.host, data_directory, options);
  return m.run(storage.load());
}

// Where the record of `index` starts in the segment starting at `first`: records are back to back.
std::uint64_t record_offset(const raft::log_window& log, index_t first, index_t index) {
  std::uint64_t offset = 0;
  for (index_t i = first; i < index; ++i) offset += raft::format::record_size(log.at(i));
  return offset;
}

std::vector<index_t> segment_starts(machine& m) {
  std::vector<index_t> starts;
  for (const auto& name : sim_files(m)) {
    if (auto i = raft::format::parse_numbered_name(name, raft::format::segment_prefix))
      starts.push_back(*i);
  }
  return starts;
}

std::vector<raft::log_entry> first_entries(const raft::log_window& log, std::size_t count) {
  auto all = entries_of(log);
  all.resize(count);
  return all;
}

}  // namespace

TEST_CASE(
    "recovery: a record cut in half at the end of the last segment is cut off; earlier ones stay") {
  machine m;
  const auto log = fill(m, 10, {});  // one segment
  const std::uint64_t last_start = record_offset(log, 1, 10);
  const std::uint64_t half = raft::format::record_size(log.at(10)) / 2;
  REQUIRE(m.run(truncate_sim_file(&m.host, segment_path(1), last_start + half)));
  {
    sim_storage storage(m.host, data_directory);
    auto state = m.run(storage.load());
    REQUIRE(state);
    CHECK(state->entries == first_entries(log, 9));
    CHECK(storage.statistics().torn_bytes_cut == half);
    // The cut is durable and the log goes on from there.
    raft::log_window again = window_of(*state);
    append_entries(storage, again, 2, 6);
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  m.crash_and_restart();
  auto state = load(m, {});
  REQUIRE(state);
  REQUIRE(state->entries.size() == 11);
  CHECK(state->entries[9] == entry_for(10, 6));
  CHECK(state->current_term == 5);
}

TEST_CASE("recovery: a flipped byte in the last record of the last segment cuts that record") {
  machine m;
  const auto log = fill(m, 30);
  const auto starts = segment_starts(m);
  REQUIRE(starts.size() > 2);
  const index_t last_segment = starts.back();
  flip_sim_byte(m, segment_path(last_segment), record_offset(log, last_segment, 30) + 27);
  auto state = load(m);
  REQUIRE(state);
  CHECK(state->entries == first_entries(log, 29));
}

// ---- damage inside the last segment: only a torn tail is cut ------------------------------------

// Loads a machine holding 10 entries in one segment whose record of `damaged` was damaged, and
// checks the load is refused as damage at that record's offset, followed by the record after it.
void check_refused_as_damage(machine& m, const raft::log_window& log, index_t damaged) {
  const std::uint64_t size_before = m.run(read_sim_file(&m.host, segment_path(1)))->size();
  auto state = load(m, {});
  REQUIRE_FALSE(state);
  CHECK(state.error() == raft::storage_errc::corrupt_log);
  const std::string message = state.error().message();
  MESSAGE(message);
  CHECK(message.find(raft::format::segment_name(1)) != std::string::npos);
  CHECK(message.find("at offset " + std::to_string(record_offset(log, 1, damaged)) + ":") !=
        std::string::npos);
  CHECK(message.find("index " + std::to_string(damaged + 1) + " follows at offset " +
                     std::to_string(record_offset(log, 1, damaged + 1))) != std::string::npos);
  // Nothing was cut behind the operator's back, and the next start is refused the same way.
  CHECK(m.run(read_sim_file(&m.host, segment_path(1)))->size() == size_before);
  CHECK_FALSE(load(m, {}));
}

TEST_CASE(
    "CorruptMiddleOfLastSegment: a bad record followed by a valid one refuses to start, naming "
    "the file and the offset") {
  machine m;
  const auto log = fill(m, 10, {});  // one segment: the last one
  flip_sim_byte(m, segment_path(1), record_offset(log, 1, 5) + 30);  // in entry 5's payload
  check_refused_as_damage(m, log, 5);
}

TEST_CASE(
    "CorruptLengthInLastSegment: a record whose length field is damaged, with valid records after "
    "it, refuses to start") {
  machine m;
  const auto log = fill(m, 10, {});
  // The length now claims a record running past the end of the file: it reads as cut short, the
  // way a torn write does, but entries 5 to 10 are still there after it.
  const raft::bytes huge_length{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0x40}};
  REQUIRE(m.run(overwrite_sim_file(&m.host, segment_path(1), record_offset(log, 1, 4),
                                   huge_length)));
  check_refused_as_damage(m, log, 4);
}

TEST_CASE("CorruptFirstRecordOfLastSegment: damage at offset 0 with valid records after refuses") {
  machine m;
  const auto log = fill(m, 10, {});
  flip_sim_byte(m, segment_path(1), 9);  // entry 1's term
  check_refused_as_damage(m, log, 1);
}

TEST_CASE("ZeroedTail: zeros after the last record, a file grown but never filled, are cut") {
  machine m;
  const auto log = fill(m, 10, {});
  const std::uint64_t end = record_offset(log, 1, 11);
  REQUIRE(m.run(overwrite_sim_file(&m.host, segment_path(1), end, raft::bytes(3000))));
  sim_storage storage(m.host, data_directory);
  auto state = m.run(storage.load());
  REQUIRE(state);
  CHECK(state->entries == entries_of(log));
  CHECK(storage.statistics().torn_bytes_cut == 3000);
  CHECK(m.run(read_sim_file(&m.host, segment_path(1)))->size() == end);
}

TEST_CASE("ZeroedLastRecord: the last record and what follows it zeroed is a torn tail, cut") {
  machine m;
  const auto log = fill(m, 10, {});
  const std::uint64_t last_start = record_offset(log, 1, 10);
  REQUIRE(m.run(overwrite_sim_file(&m.host, segment_path(1), last_start,
                                   raft::bytes(raft::format::record_size(log.at(10)) + 100))));
  auto state = load(m, {});
  REQUIRE(state);
  CHECK(state->entries == first_entries(log, 9));
}

TEST_CASE(
    "TornRecordOfOtherIndexes: a torn last record whose payload holds a record of an index this "
    "log cannot have there is still cut") {
  machine m;
  raft::log_window log = fill(m, 10, {});
  {
    // Entry 11's payload is itself a well-formed record, but of index 1000: no log could hold
    // index 1000 a few bytes after index 11.
    sim_storage storage(m.host, data_directory);
    REQUIRE(m.run(storage.load()));
    raft::bytes inner;
    raft::format::encode_record(inner, 1000, entry_for(1000, 5));
    log.append(raft::log_entry{5, raft::entry_kind::command, inner});
    storage.append(log, 11);
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  const std::uint64_t last_start = record_offset(log, 1, 11);
  REQUIRE(m.run(truncate_sim_file(&m.host, segment_path(1),
                                  last_start + raft::format::record_size(log.at(11)) - 1)));
  auto state = load(m, {});
  REQUIRE(state);
  CHECK(state->entries == first_entries(log, 10));
}

TEST_CASE(
    "CraftedTail: a damaged region packed with would-be records is refused, not searched without "
    "end") {
  machine m;
  const auto log = fill(m, 10, {});
  // After the last record: a bad record, then 2000 overlapping headers every 25 bytes, each with a
  // plausible index and a length reaching the end of the file, all failing their checksums.
  const std::uint64_t end = record_offset(log, 1, 11);
  const std::size_t count = 2000;
  raft::bytes tail(raft::format::record_header_size * (count + 1));
  for (std::size_t k = 1; k <= count; ++k) {
    std::byte* header = tail.data() + k * raft::format::record_header_size;
    raft::format::store<std::uint32_t>(
        header, static_cast<std::uint32_t>(tail.size() - (k + 1) * raft::format::record_header_size));
    raft::format::store<std::uint64_t>(header + 16, 11 + k);
  }
  REQUIRE(m.run(overwrite_sim_file(&m.host, segment_path(1), end, tail)));
  auto state = load(m, {});
  REQUIRE_FALSE(state);
  CHECK(state.error() == raft::storage_errc::corrupt_log);
  MESSAGE(state.error().message());
  CHECK(state.error().message().find("at offset " + std::to_string(end) + ":") != std::string::npos);
}

TEST_CASE(
    "recovery: a flipped byte in an older segment is an error naming the file and the offset") {
  machine m;
  const auto log = fill(m, 30);
  const auto starts = segment_starts(m);
  REQUIRE(starts.size() > 2);
  const std::uint64_t offset = record_offset(log, 1, 3);
  flip_sim_byte(m, segment_path(1), offset + 30);  // in the payload of entry 3
  auto state = load(m);
  REQUIRE_FALSE(state);
  CHECK(state.error() == raft::storage_errc::corrupt_log);
  const std::string message = state.error().message();
  MESSAGE(message);
  CHECK(message.find(raft::format::segment_name(1)) != std::string::npos);
  CHECK(message.find("offset " + std::to_string(offset)) != std::string::npos);
  // It stays refused: nothing was repaired behind the operator's back.
  CHECK_FALSE(load(m));
}

TEST_CASE("recovery: a segment missing from the middle of the log is a gap error") {
  machine m;
  fill(m, 30);
  const auto starts = segment_starts(m);
  REQUIRE(starts.size() > 2);
  REQUIRE(m.host.remove(segment_path(starts[1])));
  auto state = load(m);
  REQUIRE_FALSE(state);
  CHECK(state.error() == raft::storage_errc::log_gap);
  MESSAGE(state.error().message());
  CHECK(state.error().message().find(raft::format::segment_name(starts[2])) != std::string::npos);
}

TEST_CASE("recovery: one damaged meta slot leaves the other in use; both damaged is an error") {
  machine m;
  {
    sim_storage storage(m.host, data_directory);
    REQUIRE(m.run(storage.load()));
    storage.save_term_and_vote(1, 1);  // sequence 1, slot 1
    REQUIRE(m.run(storage.durable(storage.last_write())));
    storage.save_term_and_vote(2, 3);  // sequence 2, slot 0
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  const std::string meta = path_of("meta");
  SUBCASE("the newer slot damaged: the term and vote before it") {
    flip_sim_byte(m, meta, raft::format::meta_slot_offset(2) + 17);
    auto state = load(m);
    REQUIRE(state);
    CHECK(state->current_term == 1);
    CHECK(state->voted_for == 1);
  }
  SUBCASE("the older slot damaged: the newest term and vote") {
    flip_sim_byte(m, meta, raft::format::meta_slot_offset(1) + 9);
    auto state = load(m);
    REQUIRE(state);
    CHECK(state->current_term == 2);
    CHECK(state->voted_for == 3);
  }
  SUBCASE("both damaged: an error naming the file") {
    flip_sim_byte(m, meta, raft::format::meta_slot_offset(1) + 9);
    flip_sim_byte(m, meta, raft::format::meta_slot_offset(2) + 30);
    auto state = load(m);
    REQUIRE_FALSE(state);
    CHECK(state.error() == raft::storage_errc::corrupt_meta);
    MESSAGE(state.error().message());
    CHECK(state.error().message().find(meta) != std::string::npos);
  }
}

TEST_CASE("recovery: a damaged snapshot is an error naming the file") {
  machine m;
  {
    sim_storage storage(m.host, data_directory);
    REQUIRE(m.run(storage.load()));
    storage.save_snapshot({9, 1}, raft::to_bytes("the state machine as of index 9"));
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  const std::string snapshot = path_of(raft::format::snapshot_name(9));
  flip_sim_byte(m, snapshot, raft::format::snapshot_header_size + 4);
  auto state = load(m);
  REQUIRE_FALSE(state);
  CHECK(state.error() == raft::storage_errc::corrupt_snapshot);
  MESSAGE(state.error().message());
  CHECK(state.error().message().find(snapshot) != std::string::npos);
}

TEST_CASE(
    "SnapshotNamedForAnotherIndex: a snapshot whose header covers another index than its name is "
    "refused") {
  machine m;
  {
    sim_storage storage(m.host, data_directory);
    REQUIRE(m.run(storage.load()));
    storage.save_snapshot({9, 1}, raft::to_bytes("the state machine as of index 9"));
    REQUIRE(m.run(storage.durable(storage.last_write())));
  }
  const std::string renamed = path_of(raft::format::snapshot_name(12));
  REQUIRE(m.host.rename(path_of(raft::format::snapshot_name(9)), renamed));
  auto state = load(m);
  REQUIRE_FALSE(state);
  CHECK(state.error() == raft::storage_errc::corrupt_snapshot);
  MESSAGE(state.error().message());
  CHECK(state.error().message().find(renamed) != std::string::npos);
}

TEST_CASE(
    "recovery: a crash tears the last write; what loads is the durable log and a prefix of it") {
  for (std::uint64_t seed : seeds(30)) {
    CAPTURE(seed);
    machine m(seed);
    m.host.disk().faults().torn_write = 1.0;
    raft::log_window log = fill(m, 10, {});
    {
      sim_storage storage(m.host, data_directory);
      REQUIRE(m.run(storage.load()));
      append_entries(storage, log, 10, 5);  // written by the flush below, never synced
      auto unsynced = [](sim_storage* s) -> co::task<void> {
        (void)co_await s->durable(s->last_write());
      };
      const auto used_before = m.host.disk().used();
      m.host.spawn(unsynced(&storage));
      REQUIRE(m.world.run_for([&] { return m.host.disk().used() > used_before; },
                              std::chrono::seconds(1)));
      m.host.crash();
      m.world.run_for(std::chrono::milliseconds(10));
      m.host.restart();
    }
    sim_storage storage(m.host, data_directory);
    auto state = m.run(storage.load());
    REQUIRE(state);
    CHECK(is_prefix(state->entries, entries_of(log), 10));
  }
}

namespace {

// The disk fills while appends go on: durable() reports ENOSPC, keeps what is durable, and succeeds
// once space returns; a crash while full loses nothing acknowledged.
void disk_full_scenario(const raft::file_storage_options& options) {
  machine m;
  raft::log_window log = fill(m, 20, options);
  sim_storage storage(m.host, data_directory, options);
  REQUIRE(m.run(storage.load()));
  auto& faults = m.host.disk().faults();
  faults.capacity = m.host.disk().used() + 3000;
  index_t acknowledged = log.last_index();
  co::result<void> outcome;
  for (int batch = 0; batch < 20 && outcome; ++batch) {
    append_entries(storage, log, 10, 5);
    outcome = m.run(storage.durable(storage.last_write()));
    if (outcome) acknowledged = log.last_index();
  }
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error() == std::errc::no_space_on_device);
  // Still full: the next durable() retries the failed writes and fails the same way, and so does a
  // write queued behind them.
  append_entries(storage, log, 3, 5);
  CHECK(m.run(storage.durable(storage.last_write())).error() == std::errc::no_space_on_device);
  storage.save_term_and_vote(6, 1);
  CHECK(m.run(storage.durable(storage.last_write())).error() == std::errc::no_space_on_device);

  SUBCASE("space returns: the same writes succeed, and survive a crash") {
    faults.capacity = std::numeric_limits<std::uint64_t>::max();
    REQUIRE(m.run(storage.durable(storage.last_write())));
    m.crash_and_restart();
    auto state = load(m, options);
    REQUIRE(state);
    CHECK(state->entries == entries_of(log));
    CHECK(state->current_term == 6);
  }
  SUBCASE("a crash while full: everything acknowledged is there") {
    m.crash_and_restart();
    auto state = load(m, options);
    REQUIRE(state);
    CHECK(state->entries.size() >= acknowledged);
    CHECK(is_prefix(state->entries, entries_of(log), acknowledged));
    CHECK(state->current_term == 5);
  }
}

}  // namespace

TEST_CASE("disk full: durable() reports ENOSPC, keeps what is durable, and succeeds once freed") {
  disk_full_scenario({});
}

TEST_CASE("disk full: the same with payloads written from their own buffers (gathered writes)") {
  disk_full_scenario({.gather_payloads_from = 16});
}

namespace {

// Storage in `directory` loads, then makes `term` durable.
void save_term(machine& m, const std::string& directory, raft::term_t term) {
  sim_storage storage(m.host, directory, small_segments);
  REQUIRE(m.run(storage.load()));
  storage.save_term_and_vote(term, 1);
  REQUIRE(m.run(storage.durable(storage.last_write())));
}

// The term that storage in `directory` recovers after a power cut.
raft::term_t term_after_power_cut(machine& m, const std::string& directory) {
  m.crash_and_restart();
  sim_storage storage(m.host, directory, small_segments);
  auto state = m.run(storage.load());
  REQUIRE(state);
  return state->current_term;
}

}  // namespace

TEST_CASE("recovery: a data directory whose parents are missing is created with them, durably") {
  machine m;
  const std::string nested = "/srv/coraft/member-1";
  save_term(m, nested, 3);
  // The directories were synced into their parents: they survive.
  CHECK(term_after_power_cut(m, nested) == 3);
}

TEST_CASE("recovery: a parent created by a run whose directory sync failed is synced by the next run") {
  machine m;
  m.host.disk().faults().sync_failure = 1.0;
  {
    sim_storage storage(m.host, "/srv/x", small_segments);
    CHECK_FALSE(m.run(storage.load()));
  }
  m.host.disk().faults().sync_failure = 0.0;
  save_term(m, "/srv/x", 7);
  CHECK(term_after_power_cut(m, "/srv/x") == 7);
}

TEST_CASE("recovery: a data directory named with a trailing slash is synced into its parent") {
  machine m;
  save_term(m, "/raftdir/", 3);
  CHECK(term_after_power_cut(m, "/raftdir/") == 3);
}
