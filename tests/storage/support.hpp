// Shared by the storage tests: entries whose content follows from their index, a simulated machine,
// the reference model of what a storage holds after a sequence of writes, and seeds.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>

#include <algorithm>
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/raft/storage/file_storage.hpp>
#include <coraft/raft/log.hpp>
#include <coraft/raft/storage.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>

#include "../sim/helpers.hpp"
#include <coraft/sim/world.hpp>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

namespace storage_test {

namespace co = coraft::co;
namespace io = coraft::io;
namespace raft = coraft::raft;
namespace sim = coraft::sim;
using raft::index_t;
using raft::term_t;

// An entry whose payload says which index and term it was written for, of a length that varies
// with the index (0 to 60 bytes after the label), so that record boundaries fall everywhere.
inline raft::log_entry entry_for(index_t index, term_t term) {
  std::string text = "i";  // appended, not "i" + ...: g++ 12 -O3 warns falsely (-Wrestrict) there
  text += std::to_string(index);
  text += 't';
  text += std::to_string(term);
  text += ':';
  text.append(static_cast<std::size_t>((index * 37) % 61), static_cast<char>('a' + index % 26));
  return raft::log_entry{term, index % 7 == 0 ? raft::entry_kind::no_op : raft::entry_kind::command,
                         raft::to_bytes(text)};
}

// Appends `count` entries of `term` to `log`, and the same to `storage`. Returns the write.
template <class Storage>
raft::write_id append_entries(Storage& storage, raft::log_window& log, std::size_t count,
                              term_t term) {
  const index_t from = log.last_index() + 1;
  for (std::size_t k = 0; k < count; ++k) log.append(entry_for(log.last_index() + 1, term));
  return storage.append(log, from);
}

// The log window a node would rebuild from what the storage returned.
inline raft::log_window window_of(const raft::persistent_state& state) {
  raft::log_window log;
  log.reset(state.snapshot.last_index, state.snapshot.last_term,
            std::deque<raft::log_entry>(state.entries.begin(), state.entries.end()));
  return log;
}

inline std::vector<raft::log_entry> entries_of(const raft::log_window& log) {
  std::vector<raft::log_entry> out;
  for (index_t i = log.first_index(); i <= log.last_index(); ++i) out.push_back(log.at(i));
  return out;
}

// One simulated machine with a disk (the simulator tests' machine, its host named "n1").
struct machine : sim_test::machine {
  explicit machine(std::uint64_t seed = 1) : sim_test::machine(seed, "n1") {}
};

using sim_storage = raft::file_storage<sim::host>;
inline constexpr const char* data_directory = "/data";

// ---- direct access to the simulated disk, to inspect and damage files ---------------------------

inline co::task<co::result<raft::bytes>> read_sim_file(sim::host* h, std::string path) {
  auto f = co_await h->open(path, O_RDONLY);
  if (!f) co_return f.error();
  auto size = h->file_size(*f);
  if (!size) co_return size.error();
  raft::bytes content(*size);
  auto n = co_await h->pread(*f, content, 0);
  if (!n) co_return n.error();
  content.resize(*n);
  co_return content;
}

// Writes `bytes` at `offset` of `path` and syncs them, as a disk's own corruption would persist.
inline co::task<co::result<void>> overwrite_sim_file(sim::host* h, std::string path,
                                                     std::uint64_t offset, raft::bytes bytes) {
  auto f = co_await h->open(path, O_RDWR);
  if (!f) co_return f.error();
  if (auto n = co_await h->pwrite(*f, bytes, offset); !n) co_return n.error();
  co_return co_await h->fdatasync(*f);
}

inline co::task<co::result<void>> truncate_sim_file(sim::host* h, std::string path,
                                                    std::uint64_t length) {
  auto f = co_await h->open(path, O_RDWR);
  if (!f) co_return f.error();
  if (auto r = h->truncate(*f, length); !r) co_return r;
  co_return co_await h->fdatasync(*f);
}

// Flips every bit of the byte at `offset` of `path`.
inline void flip_sim_byte(machine& m, const std::string& path, std::uint64_t offset) {
  auto content = m.run(read_sim_file(&m.host, path));
  REQUIRE(content);
  REQUIRE(offset < content->size());
  raft::bytes flipped{(*content)[offset] ^ std::byte{0xFF}};
  REQUIRE(m.run(overwrite_sim_file(&m.host, path, offset, flipped)));
}

inline std::vector<std::string> sim_files(machine& m) {
  return m.host.list_directory(data_directory).value();
}

// ---- the reference model ------------------------------------------------------------------------

// What a storage holds after each write, as the contract defines it (memory_storage's semantics).
struct model {
  static void save_term_and_vote(raft::persistent_state& s, term_t term, raft::node_id vote) {
    s.current_term = term;
    s.voted_for = vote;
  }
  static void append(raft::persistent_state& s, index_t from, const raft::log_window& log) {
    s.entries.resize(from - 1 - s.snapshot.last_index);
    for (index_t i = from; i <= log.last_index(); ++i) s.entries.push_back(log.at(i));
  }
  static void save_snapshot(raft::persistent_state& s, raft::snapshot_meta meta,
                            const raft::bytes& data) {
    const index_t base = s.snapshot.last_index;
    if (meta.last_index <= base) return;
    const auto drop = std::min<std::size_t>(meta.last_index - base, s.entries.size());
    s.entries.erase(s.entries.begin(), s.entries.begin() + static_cast<std::ptrdiff_t>(drop));
    s.snapshot = meta;
    s.snapshot_data = data;
  }
};

inline bool same_term_vote_snapshot(const raft::persistent_state& a,
                                    const raft::persistent_state& b) {
  return a.current_term == b.current_term && a.voted_for == b.voted_for &&
         a.snapshot == b.snapshot && a.snapshot_data == b.snapshot_data;
}

// `prefix` is the first entries of `log`, at least `at_least` of them.
inline bool is_prefix(const std::vector<raft::log_entry>& prefix,
                      const std::vector<raft::log_entry>& log, std::size_t at_least) {
  return prefix.size() >= at_least && prefix.size() <= log.size() &&
         std::equal(prefix.begin(), prefix.end(), log.begin());
}

// ---- seeds --------------------------------------------------------------------------------------

// CORAFT_SEED=S runs only seed S (to replay a failure); CORAFT_SEEDS=N runs 1..N.
inline std::vector<std::uint64_t> seeds(std::uint64_t default_count) {
  if (const char* one = std::getenv("CORAFT_SEED")) return {std::strtoull(one, nullptr, 10)};
  if (const char* many = std::getenv("CORAFT_SEEDS"))
    default_count = std::strtoull(many, nullptr, 10);
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 1; s <= default_count; ++s) out.push_back(s);
  return out;
}

}  // namespace storage_test
