// tests/fuzz/storage_fuzzer.cpp — libFuzzer target for reading a data directory back.
//
// Each input is a data directory (its files, as storage_input.hpp reads them), written durably
// onto a simulated disk. Recovery then runs on it, and must end either with a clear storage error
// (corrupt log, gap, corrupt meta, corrupt snapshot), which a second attempt repeats, or with a
// state that holds together:
//   * the log the segments describe is contiguous and ends right after the recovered entries,
//     which follow the snapshot's last index;
//   * what recovery repaired (a torn tail cut, leftovers removed) is durable: after a power cut a
//     second load finds the same state and nothing left to cut;
//   * the storage goes on from there: one more entry appended, made durable and loaded again.
// Anything else aborts; so do a crash, a sanitizer report, or an allocation past libFuzzer's limit.
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/raft/storage/file_storage.hpp>
#include <coraft/raft/log.hpp>
#include <coraft/raft/storage/errors.hpp>
#include <coraft/raft/storage/recovery.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>
#include <fcntl.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "storage_input.hpp"

namespace {

namespace co = coraft::co;
namespace raft = coraft::raft;
namespace sim = coraft::sim;
using storage_fuzz::directory_files;

constexpr const char* data_directory = "/data";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "storage_fuzzer: %s\n", what.c_str());
  std::abort();
}

struct machine {
  sim::world world{1};
  sim::network net{world};
  sim::host host{world, net, "n1"};

  template <class T>
  T run(co::task<T> t) {
    return co::block_on(host, std::move(t));
  }
};

// Writes every file into the data directory and syncs it and the directory, as a real storage
// would have left them. Awaits the writes and syncs; ends at the first failure.
co::task<co::result<void>> write_directory(sim::host* h, const directory_files* files) {
  if (auto made = h->make_directory(data_directory); !made) co_return made.error();
  if (auto synced = co_await h->sync_directory("/"); !synced) co_return synced;
  for (const auto& [name, content] : *files) {
    auto f = co_await h->open(std::string(data_directory) + "/" + name, O_RDWR | O_CREAT | O_TRUNC);
    if (!f) co_return f.error();
    if (!content.empty()) {
      auto n = co_await h->pwrite(*f, content, 0);
      if (!n) co_return n.error();
    }
    if (auto synced = co_await h->fdatasync(*f); !synced) co_return synced;
  }
  co_return co_await h->sync_directory(data_directory);
}

bool is_storage_error(const std::error_code& e) {
  return e.default_error_condition().category() == raft::storage_category();
}

// The recovered segments describe a contiguous log whose records past the snapshot are `state`'s.
void check_layout(const raft::recovered_directory<sim::file>& found) {
  const raft::persistent_state& state = found.state;
  const raft::log_segments& segments = found.segments;
  if (segments.covered_index() != state.snapshot.last_index)
    fail("the segments' covered index is not the snapshot's last index");
  if (segments.next_index() != state.snapshot.last_index + 1 + state.entries.size())
    fail("the segments do not end right after the recovered entries");
  const std::deque<raft::log_segment>& all = segments.segments();
  for (std::size_t k = 0; k < all.size(); ++k) {
    const raft::log_segment& s = all[k];
    if (k == 0 && s.first_index > state.snapshot.last_index + 1)
      fail("the first segment starts after the snapshot's successor");
    if (k > 0 && s.first_index != all[k - 1].end_index()) fail("two segments are not contiguous");
    if (s.end_index() <= state.snapshot.last_index + 1)
      fail("a segment holding nothing after the snapshot was kept");
    for (std::size_t r = 1; r < s.record_offsets.size(); ++r) {
      if (s.record_offsets[r] <= s.record_offsets[r - 1]) fail("record offsets do not increase");
    }
    if (!s.record_offsets.empty() && s.record_offsets.back() >= s.size)
      fail("the last record starts past the segment's end");
  }
}

// After recovery the directory holds the meta file, the one snapshot recovered and the segments
// kept: leftovers of interrupted work are gone.
void check_files(sim::host& h, const raft::recovered_directory<sim::file>& found) {
  std::vector<std::string> expected;
  if (found.meta_file) expected.push_back(std::string(raft::format::meta_name));
  if (found.state.snapshot.last_index != 0)
    expected.push_back(raft::format::snapshot_name(found.state.snapshot.last_index));
  for (const raft::log_segment& s : found.segments.segments())
    expected.push_back(raft::format::segment_name(s.first_index));
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> names = h.list_directory(data_directory).value();
  std::sort(names.begin(), names.end());
  if (names != expected) {
    std::string listing;
    for (const auto& n : names) listing += " " + n;
    fail("after recovery the directory holds" + listing);
  }
}

bool same_state(const raft::persistent_state& a, const raft::persistent_state& b) {
  return a.current_term == b.current_term && a.voted_for == b.voted_for &&
         a.snapshot == b.snapshot && a.snapshot_data == b.snapshot_data && a.entries == b.entries;
}

void check_recovery(const directory_files& files) {
  machine m;
  if (!m.run(write_directory(&m.host, &files))) fail("could not write the input's files");

  raft::persistent_state recovered;
  {
    auto found = m.run(raft::recover_directory(m.host, data_directory));
    if (!found) {
      if (!is_storage_error(found.error()))
        fail("recovery failed with an error that is not a storage error: " +
             found.error().message());
      if (found.error().message().find(data_directory) == std::string::npos)
        fail("the error does not name the file: " + found.error().message());
      auto again = m.run(raft::recover_directory(m.host, data_directory));
      if (again || again.error() != found.error().default_error_condition())
        fail("a second recovery does not refuse the same way: " + found.error().message());
      return;
    }
    check_layout(*found);
    check_files(m.host, *found);
    recovered = std::move(found->state);
  }

  // Whatever recovery repaired must survive a power cut.
  m.host.crash();
  m.host.restart();
  raft::log_window log;
  {
    raft::file_storage<sim::host> storage(m.host, data_directory);
    auto loaded = m.run(storage.load());
    if (!loaded) fail("a second load after a crash fails: " + loaded.error().message());
    if (!same_state(*loaded, recovered)) fail("a second load after a crash finds another state");
    if (storage.statistics().torn_bytes_cut != 0) fail("a second load cuts a torn tail again");

    // The log goes on from where recovery left it.
    log.reset(loaded->snapshot.last_index, loaded->snapshot.last_term,
              std::deque<raft::log_entry>(loaded->entries.begin(), loaded->entries.end()));
    log.append(raft::log_entry{std::max<raft::term_t>(log.last_term(), 1),
                               raft::entry_kind::command, raft::to_bytes("one more")});
    storage.append(log, log.last_index());
    if (auto durable = m.run(storage.durable(storage.last_write())); !durable)
      fail("appending after recovery fails: " + durable.error().message());
  }
  raft::file_storage<sim::host> storage(m.host, data_directory);
  auto loaded = m.run(storage.load());
  if (!loaded) fail("the load after appending fails: " + loaded.error().message());
  if (loaded->entries.size() != recovered.entries.size() + 1 ||
      !std::equal(recovered.entries.begin(), recovered.entries.end(), loaded->entries.begin()) ||
      loaded->entries.back() != log.at(log.last_index()))
    fail("the load after appending does not find the log with the new entry");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_recovery(storage_fuzz::parse_input(std::as_bytes(std::span(data, size))));
  return 0;
}
