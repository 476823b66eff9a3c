// coraft/raft/storage/recovery.hpp — reading a data directory back after a restart or a crash.
//
// The rules (the format is in format.hpp):
//  * meta: the valid slot with the higher sequence holds the term and vote. No file: a fresh node
//    (term 0, no vote). A file with neither slot valid: storage_errc::corrupt_meta. A slot is
//    written only while the other holds the newest durable state, so a torn write cannot cause it.
//  * snapshot: the snapshot-<i> with the highest i is the snapshot; it must be intact
//    (storage_errc::corrupt_snapshot otherwise), since it was synced before it got its name.
//    Its header must cover up to the index in its name. Older ones are leftovers of a compaction
//    that a crash interrupted, and are removed.
//  * log: the segments are read in index order; those holding nothing after the snapshot are
//    removed. Every record must carry the next index. A record with an unexpected index, a segment
//    not starting where the previous one ended, or a first segment starting after the snapshot's
//    successor is storage_errc::log_gap. A record cut short or failing its checksum in any segment
//    but the last is storage_errc::corrupt_log. These errors name the file and the offset.
//  * the torn tail: in the *last* segment, the first damaged record may be the write a crash
//    interrupted, and only that. file_storage starts a write only once everything before it is
//    durable, so an interrupted write leaves the durable records, then a prefix of its own bytes
//    (the last record cut short), or on a real device a region the file system grew without
//    filling (zeros) -- and nothing valid after that. So the segment is cut at the damage, and the
//    cut synced before the storage opens, only if no intact record of a later index follows it:
//    such a record was written after the damaged bytes, and since the write holding it was synced
//    only after theirs, it is damage to acknowledged entries, refused as storage_errc::corrupt_log
//    naming the offset of the damage and of the record found after it. The search is bounded
//    (see tail_scan_budget). Refusing is the safe side of what cannot be told apart: a device that
//    persisted a torn write's later sectors but not its earlier ones, or an entry whose payload
//    itself holds a well-formed record of the next index, make a torn tail look like damage; the
//    operator then cuts the file at the offset the error names.
//  * meta.tmp and snapshot.tmp are files whose preparation a crash interrupted: removed.
#pragma once

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/raft/storage/log_segments.hpp"
#include "coraft/raft/storage.hpp"
#include "coraft/raft/storage/errors.hpp"
#include "coraft/raft/storage/format.hpp"

namespace coraft::raft {

// What a data directory held, and what file_storage needs to go on writing to it.
template <class File>
struct recovered_directory {
  persistent_state state;
  std::optional<File> meta_file;     // open, if the directory had one
  std::uint64_t meta_sequence = 0;   // the sequence of the slot in use
  log_segments segments;             // the log's layout on disk
  std::uint64_t tail_bytes_cut = 0;  // bytes cut from the last segment (a torn write)
};

namespace detail {

inline std::string path_in(const std::string& directory, std::string_view name) {
  return directory + "/" + std::string(name);
}

// The directory that holds `path`, for syncing the entry a new directory adds to it.
inline std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates `directory` and whichever of its parents are missing, through the executor, one level
// after the other from the top, and syncs each level into its parent, even a level that existed
// already: an earlier run may have created it and failed before its parent's sync. Awaits the
// directory syncs; ends at the first error.
template <class Executor>
co::task<co::result<void>> make_directories(Executor& executor, const std::string& directory) {
  std::string level;
  std::size_t at = 0;
  if (directory.starts_with('/')) level = "/";
  while (at < directory.size()) {
    const std::size_t slash = std::min(directory.find('/', at), directory.size());
    if (slash > at) {  // skips the empty names of "//" and of a trailing slash
      const std::string parent = level.empty() ? "." : level;
      if (!level.empty() && level.back() != '/') level += '/';
      level += directory.substr(at, slash - at);
      if (auto made = executor.make_directory(level); !made && made.error() != std::errc::file_exists)
        co_return made.error();
      if (auto synced = co_await executor.sync_directory(parent); !synced) co_return synced;
    }
    at = slash + 1;
  }
  co_return co::result<void>{};
}

// Reads all of `f`; awaits one pread per chunk the executor returns, ends at the end of the file.
// The executor and the file belong to the caller, which awaits this.
template <class Executor>
co::task<co::result<bytes>> read_whole_file(Executor& executor, typename Executor::file& f) {
  auto size = executor.file_size(f);
  if (!size) co_return size.error();
  bytes content(*size);
  std::size_t done = 0;
  while (done < content.size()) {
    auto n = co_await executor.pread(f, std::span(content).subspan(done), done);
    if (!n) co_return n.error();
    if (*n == 0) break;  // shrank while we read: keep what is there
    done += *n;
  }
  content.resize(done);
  co_return content;
}

// Opens and reads `path`; awaits the open and the reads.
template <class Executor>
co::task<co::result<bytes>> read_file(Executor& executor, std::string path) {
  auto f = co_await executor.open(path, O_RDONLY);
  if (!f) co_return f.error();
  co_return co_await read_whole_file(executor, *f);
}

// How many bytes the search for an intact record after damage may checksum: a few passes over the
// damaged region, at least a mebibyte. Real damage never comes near it (a candidate must carry a
// plausible index before its checksum is computed); a region crafted to hold overlapping
// candidates, each claiming a long payload, could otherwise cost time quadratic in its size.
inline std::uint64_t tail_scan_budget(std::uint64_t damaged_bytes) noexcept {
  return std::max<std::uint64_t>(std::uint64_t{1} << 20, 4 * damaged_bytes);
}

// What follows the first damaged record of the last segment.
struct after_damage {
  enum { nothing, intact_record, too_costly } found = nothing;
  std::uint64_t offset = 0;  // of the intact record
  index_t index = 0;         // the index it holds
};

// Looks for an intact record after the damaged one at `damaged_at`, which should have held
// `damaged_index`: at every later offset, a record that could continue this log there. A record of
// index i at offset y comes after i - damaged_index records of at least record_header_size bytes,
// so only indexes in (damaged_index, damaged_index + (y - damaged_at) / record_header_size] are
// checked; anything else cannot be one of this log's records at that place.
inline after_damage find_record_after_damage(std::span<const std::byte> segment,
                                             std::uint64_t damaged_at, index_t damaged_index) {
  const std::uint64_t budget = tail_scan_budget(segment.size() - damaged_at);
  std::uint64_t checksummed = 0;
  for (std::uint64_t at = damaged_at + 1; at + format::record_header_size <= segment.size(); ++at) {
    const auto rest = segment.subspan(at);
    const format::record_header header = format::read_record_header(rest);
    if (header.index <= damaged_index) continue;
    if (header.index - damaged_index > (at - damaged_at) / format::record_header_size) continue;
    if (header.payload_size > rest.size() - format::record_header_size) continue;
    checksummed += format::record_header_size + header.payload_size;
    if (checksummed > budget) return {after_damage::too_costly, at, header.index};
    if (format::check_record(rest).status == format::record_status::intact) {
      return {after_damage::intact_record, at, header.index};
    }
  }
  return {};
}

// Reads one segment into `segment` (its offsets) and, for records after `covered_index`, into
// `entries`. Awaits the reads and, in the last segment, the cut of a torn tail and its sync; ends
// with an error naming the file and offset if the segment is damaged anywhere but a torn tail.
template <class Executor>
co::task<co::result<std::uint64_t>> read_segment(Executor& executor, std::string path, bool last,
                                                 index_t covered_index, log_segment* segment,
                                                 std::vector<log_entry>* entries) {
  auto f = co_await executor.open(path, last ? O_RDWR : O_RDONLY);
  if (!f) co_return f.error();
  auto content = co_await read_whole_file(executor, *f);
  if (!content) co_return content.error();
  const std::span<const std::byte> all(*content);
  std::uint64_t offset = 0;
  while (offset < all.size()) {
    format::decoded_record record = format::decode_record(all.subspan(offset));
    const std::string where = path + " at offset " + std::to_string(offset);
    if (record.status != format::record_status::intact) {
      const std::string damage = record.status == format::record_status::cut_short
                                     ? "the segment ends inside a record"
                                     : "the record fails its checksum";
      if (!last) {
        co_return storage_error(storage_errc::corrupt_log,
                                where + ": " + damage +
                                    " (not the last segment: acknowledged entries follow)");
      }
      const after_damage after = find_record_after_damage(all, offset, segment->end_index());
      if (after.found == after_damage::intact_record) {
        co_return storage_error(storage_errc::corrupt_log,
                                where + ": " + damage + ", yet an intact record of index " +
                                    std::to_string(after.index) + " follows at offset " +
                                    std::to_string(after.offset) +
                                    " (damage to acknowledged entries, not a torn write)");
      }
      if (after.found == after_damage::too_costly) {
        co_return storage_error(storage_errc::corrupt_log,
                                where + ": " + damage +
                                    ", and the bytes after it hold too many would-be records to "
                                    "tell a torn write from damage (the search stopped at offset " +
                                    std::to_string(after.offset) + ")");
      }
      break;  // a write that never completed
    }
    if (record.index != segment->end_index()) {
      co_return storage_error(storage_errc::log_gap,
                              where + ": the record holds index " + std::to_string(record.index) +
                                  ", expected " + std::to_string(segment->end_index()));
    }
    segment->record_offsets.push_back(offset);
    if (record.index > covered_index) entries->push_back(std::move(record.entry));
    offset += record.size;
  }
  segment->size = offset;
  const std::uint64_t cut = all.size() - offset;
  if (cut > 0) {
    if (auto r = executor.truncate(*f, offset); !r) co_return r.error();
    if (auto r = co_await executor.fdatasync(*f); !r) co_return r.error();
  }
  co_return cut;
}

// The term and vote in the meta file at `path` (see the rules above). Awaits the open and the read.
template <class Executor>
co::task<co::result<void>> read_meta(Executor& executor, std::string path,
                                     recovered_directory<typename Executor::file>* out) {
  auto f = co_await executor.open(path, O_RDWR);
  if (!f) co_return f.error();
  auto content = co_await read_whole_file(executor, *f);
  if (!content) co_return content.error();
  std::optional<format::meta_slot> newest;
  for (std::uint64_t offset : {std::uint64_t{0}, format::meta_slot_stride}) {
    if (offset >= content->size()) continue;
    auto slot = format::decode_meta_slot(std::span(*content).subspan(offset));
    if (slot && (!newest || slot->sequence > newest->sequence)) newest = slot;
  }
  if (!newest) {
    co_return storage_error(storage_errc::corrupt_meta,
                            path + ": neither slot (offsets 0 and " +
                                std::to_string(format::meta_slot_stride) +
                                ") holds a valid term and vote; the file has " +
                                std::to_string(content->size()) + " bytes");
  }
  out->state.current_term = newest->current_term;
  out->state.voted_for = newest->voted_for;
  out->state.incarnation = newest->incarnation;
  out->meta_sequence = newest->sequence;
  out->meta_file.emplace(std::move(*f));
  co_return co::result<void>{};
}

// The snapshot in the file at `path`, which must be intact and cover up to `named_index`, the
// index in its name. Awaits the open and the read.
template <class Executor>
co::task<co::result<void>> read_snapshot(Executor& executor, std::string path, index_t named_index,
                                         recovered_directory<typename Executor::file>* out) {
  auto content = co_await read_file(executor, path);
  if (!content) co_return content.error();
  std::string why;
  auto snapshot = format::decode_snapshot(*content, why);
  if (!snapshot) co_return storage_error(storage_errc::corrupt_snapshot, path + ": " + why);
  // The name is what orders snapshots and what the next compaction removes: one that disagrees
  // with the header would pick the wrong snapshot, or be left behind forever.
  if (snapshot->meta.last_index != named_index) {
    co_return storage_error(storage_errc::corrupt_snapshot,
                            path + ": the header at offset 0 covers up to index " +
                                std::to_string(snapshot->meta.last_index) + ", not the " +
                                std::to_string(named_index) + " of the file's name");
  }
  out->state.snapshot = snapshot->meta;
  out->state.snapshot_data = std::move(snapshot->data);
  co_return co::result<void>{};
}

// The log after the snapshot `out` already holds, from the segments starting at `starts` (in
// order). Segments the snapshot wholly covers are added to `leftovers`. Awaits the reads of the
// segments, one after another; ends at the first damage it cannot repair.
template <class Executor>
co::task<co::result<void>> read_log(Executor& executor, std::string directory,
                                    std::vector<index_t> starts,
                                    recovered_directory<typename Executor::file>* out,
                                    std::vector<std::string>* leftovers) {
  const index_t covered = out->state.snapshot.last_index;
  // A segment whose successor starts at or before covered + 1 holds nothing after the snapshot.
  std::size_t first_kept = 0;
  while (first_kept + 1 < starts.size() && starts[first_kept + 1] <= covered + 1) {
    leftovers->push_back(format::segment_name(starts[first_kept++]));
  }
  std::deque<log_segment> kept;
  for (std::size_t k = first_kept; k < starts.size(); ++k) {
    const std::string name = format::segment_name(starts[k]);
    const index_t expected = kept.empty() ? covered + 1 : kept.back().end_index();
    if (kept.empty() ? starts[k] > expected : starts[k] != expected) {
      co_return storage_error(
          storage_errc::log_gap,
          path_in(directory, name) + " at offset 0: the segment starts at index " +
              std::to_string(starts[k]) + " but the " +
              (kept.empty() ? "snapshot covers up to " + std::to_string(covered)
                            : "previous segment ends at " + std::to_string(expected - 1)));
    }
    log_segment segment{starts[k], {}, 0};
    auto cut = co_await read_segment(executor, path_in(directory, name), k + 1 == starts.size(),
                                     covered, &segment, &out->state.entries);
    if (!cut) co_return cut.error();
    out->tail_bytes_cut += *cut;
    if (segment.end_index() <= covered + 1) {
      leftovers->push_back(name);  // covered by the snapshot (possible for the last one only)
      continue;
    }
    kept.push_back(std::move(segment));
  }
  out->segments = log_segments(std::move(kept), covered);
  co_return co::result<void>{};
}

}  // namespace detail

// Reads what the data directory `directory` holds, creating it if missing, and removes the
// leftovers of interrupted work. Awaits the reads, the cut of a torn tail and the directory syncs;
// ends with the recovered state or the first error (see the rules above). The executor belongs to
// the caller, which awaits this.
template <class Executor>
  requires io::files<Executor>
co::task<co::result<recovered_directory<typename Executor::file>>> recover_directory(
    Executor& executor, std::string directory) {
  if (auto made = co_await detail::make_directories(executor, directory); !made) co_return made.error();
  auto names = executor.list_directory(directory);
  if (!names) co_return names.error();

  std::vector<std::string> leftovers;  // names to remove once everything is read
  std::vector<index_t> snapshots;
  std::vector<index_t> segment_starts;
  bool has_meta = false;
  for (const std::string& name : *names) {
    if (name == format::meta_name) {
      has_meta = true;
    } else if (name == format::meta_temporary_name || name == format::snapshot_temporary_name) {
      leftovers.push_back(name);
    } else if (auto i = format::parse_numbered_name(name, format::snapshot_prefix)) {
      snapshots.push_back(*i);
    } else if (auto j = format::parse_numbered_name(name, format::segment_prefix)) {
      segment_starts.push_back(*j);
    }
  }
  std::sort(snapshots.begin(), snapshots.end());
  std::sort(segment_starts.begin(), segment_starts.end());

  recovered_directory<typename Executor::file> out;
  if (has_meta) {
    const std::string path = detail::path_in(directory, format::meta_name);
    if (auto meta = co_await detail::read_meta(executor, path, &out); !meta) co_return meta.error();
  }
  if (!snapshots.empty()) {
    const std::string newest = detail::path_in(directory, format::snapshot_name(snapshots.back()));
    auto snapshot = co_await detail::read_snapshot(executor, newest, snapshots.back(), &out);
    if (!snapshot) co_return snapshot.error();
    snapshots.pop_back();
    for (index_t older : snapshots) leftovers.push_back(format::snapshot_name(older));
  }
  auto log = co_await detail::read_log(executor, directory, segment_starts, &out, &leftovers);
  if (!log) co_return log.error();

  // Leftovers go only now that everything is read; removing them needs no order among themselves.
  for (const std::string& name : leftovers) {
    auto removed = executor.remove(detail::path_in(directory, name));
    if (!removed && removed.error() != std::errc::no_such_file_or_directory) {
      co_return removed.error();
    }
  }
  if (!leftovers.empty()) {
    auto synced = co_await executor.sync_directory(directory);
    if (!synced) co_return synced.error();
  }
  co_return std::move(out);
}

}  // namespace coraft::raft
