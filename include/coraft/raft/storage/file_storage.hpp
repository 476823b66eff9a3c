// coraft/raft/storage/file_storage.hpp — the storage contract on files: term, vote, log and snapshot in a
// data directory, through any executor that implements io::files (io_uring or the simulated disk).
//
// The directory's format is in format.hpp; what is read back after a crash, and which
// damage is repaired or refused, in recovery.hpp. This header is about writing.
//
// Issuing. Each write (save_term_and_vote, append, save_snapshot) is encoded at once into a queue
// of *steps*, each an operation on one file: append records to a segment, cut a segment, write a
// meta slot, store a snapshot. A step issued right after one of the same kind on the same file is
// merged into it, so a burst of appends becomes one buffer. Where each record goes is decided at
// issue time (log_segments.hpp), which is also where segments roll over at the configured size.
//
// Group commit. durable(w), with w not yet durable, either finds a flush in progress and waits for
// it, then looks again, or starts one that performs *every* step queued so far. So all writes
// issued while one flush's fdatasync is in flight are covered by the next flush, however many
// callers wait for them. A flush performs its steps in issue order, each ending with its file
// synced (one write that syncs as it completes, RWF_DSYNC, on io_uring), and with the directory
// synced when the step created, renamed or removed a file. A step starts only once the one before
// it is durable, so a crash always leaves the effect of a prefix of the writes: at most the step in
// progress is partial, as a torn tail that recovery cuts, or a truncation half done.
//
// Obsolete files. Once a snapshot is durable, the snapshot it replaces and the segments it covers
// are no longer needed: recovery ignores them, and removes them as leftovers if they are still
// there. Removing a segment is slow: unlinking one that holds tens of MiB takes tens of
// milliseconds on ext4, during which every fdatasync on the same file system waits. So while
// remove_obsolete_files() runs (a node runs it for its life), the flush only queues them and goes
// on with the next step, and appends issued after a snapshot never wait for the files it made
// obsolete; and it frees a segment's blocks a few MiB at a time (punch_hole) before unlinking it,
// so that the syncs of this storage and of its neighbours on the disk wait at most for a step.
// Their removals become durable with the directory's next sync. Without it, the flush removes
// them itself, as part of the snapshot's step.
//
// Errors (ENOSPC, EIO, ...). A failed step stops its flush; the flusher, and every caller waiting
// for a write that flush covered, get the error from durable(). Whatever was durable stays so. The
// failed step and all after it stay queued, in order, bytes included, and writes issued meanwhile
// queue behind them: the next durable() call starts a new flush that performs them again from the
// start of the failed step, rewriting the same bytes at the same offsets (after EIO the kernel may
// have dropped the dirty pages, so syncing again alone would prove nothing). Once space returns,
// the same writes succeed. A flush whose caller is cancelled stops the same way, and one of the
// callers waiting for it takes over.
#pragma once

#include <fcntl.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "coraft/co/event.hpp"
#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/raft/assert.hpp"
#include "coraft/raft/log.hpp"
#include "coraft/raft/option_checks.hpp"
#include "coraft/raft/storage/log_segments.hpp"
#include "coraft/raft/storage.hpp"
#include "coraft/raft/storage/format.hpp"
#include "coraft/raft/storage/recovery.hpp"

namespace coraft::raft {

struct file_storage_options {
  std::uint64_t segment_size = std::uint64_t{64} << 20;  // a segment closes once it holds this much
  // false: log and meta writes are issued but not fdatasync'd, so "durable" only means "handed to
  // the kernel". For benchmarks that measure everything but the disk; never for a real cluster.
  bool sync_data = true;
  // Reserve each new segment's blocks up front, segment_size of them, without changing its size
  // (io::files preallocate): an append then allocates no blocks, and the fdatasync after it has
  // only the file's size to make durable besides the data (on ext4, p50 about 30% lower than after
  // an append that allocates). Where the file system cannot, or the disk has not the room, the
  // segment grows as it is written, as with false.
  bool preallocate_segments = true;
  // Payloads of at least this many bytes go to the disk from the buffers they live in (a
  // follower's receive buffer, a proposal's), in a gathered write, instead of being copied into
  // the storage's write buffer; smaller ones are copied. Measured with raft_bench, fsync off:
  // gathering every payload cost 21% more CPU per entry at 256 B, about the same at 1 and 2 KiB,
  // and 23% less at 4 KiB (bench/README.md).
  std::size_t gather_payloads_from = 4096;
};

// Throws std::invalid_argument, naming the option and the rule, unless every option has a value
// the storage can run with. The storage's constructor calls it. A record larger than segment_size
// is not refused: it closes the segment it starts in.
inline void validate(const file_storage_options& o) {
  option_checks::require_at_least("coraft::raft::file_storage_options", "segment_size",
                                  o.segment_size, format::record_header_size,
                                  "a segment must hold at least one record's header");
}

// The log's entries and their records' bytes in the segment files.
struct log_disk_usage {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

// Counters for tests and benchmarks.
struct file_storage_statistics {
  std::uint64_t flushes = 0;          // group commits started
  std::uint64_t data_syncs = 0;       // syncs of a file's data (fdatasync, or a write that syncs)
  std::uint64_t directory_syncs = 0;  // fsyncs of the data directory
  std::uint64_t torn_bytes_cut = 0;   // bytes of a torn last record that load() cut off
  std::uint64_t obsolete_files_removed = 0;  // by remove_obsolete_files()
  std::uint64_t payload_bytes_gathered = 0;  // written from their own buffers, uncopied
};

template <class Executor>
  requires io::files<Executor>
class file_storage {
 public:
  using file = typename Executor::file;

  // The executor outlives the storage. `directory` is created by load() if missing.
  file_storage(Executor& executor, std::string directory, file_storage_options options = {})
      : executor_(executor), directory_(std::move(directory)), options_(options) {
    validate(options_);
  }
  file_storage(const file_storage&) = delete;
  file_storage& operator=(const file_storage&) = delete;

  const std::string& directory() const noexcept { return directory_; }
  const file_storage_statistics& statistics() const noexcept { return statistics_; }
  // The log's records in its segment files, as placed (writes still queued included).
  log_disk_usage log_on_disk() const noexcept {
    log_disk_usage usage;
    for (const log_segment& s : segments_.segments()) {
      usage.entries += s.record_offsets.size();
      usage.bytes += s.size;
    }
    return usage;
  }

  // Reads the directory back and repairs a torn tail. Awaits the reads, the repairs and their
  // syncs; ends with the durable state, or an error naming the damaged file and offset.
  co::task<co::result<persistent_state>> load() {
    if (loaded_) throw std::logic_error("coraft::raft::file_storage: load() called twice");
    auto found = co_await recover_directory(executor_, directory_);
    if (!found) co_return found.error();
    meta_file_ = std::move(found->meta_file);
    meta_sequence_ = found->meta_sequence;
    segments_ = std::move(found->segments);
    // A snapshot file is in place if it covers entries, or holds a bootstrap's configuration.
    const snapshot_meta& stored = found->state.snapshot;
    if (stored.last_index != 0 || !stored.config.members.empty()) stored_snapshot_ = stored.last_index;
    statistics_.torn_bytes_cut += found->tail_bytes_cut;
    meta_ = meta_write{found->state.current_term, found->state.voted_for, found->state.incarnation};
    loaded_ = true;
    co_return std::move(found->state);
  }

  write_id save_term_and_vote(term_t term, node_id vote) {
    meta_.term = term;
    meta_.vote = vote;
    return queue_meta();
  }

  write_id save_incarnation(incarnation_t incarnation) {
    meta_.incarnation = incarnation;
    return queue_meta();
  }

  write_id append(const log_window& log, index_t from) {
    if (from <= segments_.covered_index() || from > segments_.next_index()) {
      throw std::logic_error("coraft::raft::file_storage: append from " + std::to_string(from) +
                             " outside the stored log (next index " +
                             std::to_string(segments_.next_index()) + ")");
    }
    const write_id id = begin_write();
    if (from < segments_.next_index()) cut_log(from, id);
    for (index_t i = from; i <= log.last_index(); ++i) {
      const log_entry& entry = log.at(i);
      const auto where = segments_.place(format::record_size(entry), options_.segment_size);
      auto* queued = mergeable<segment_write>();
      if (!queued || where.new_segment || queued->segment != where.segment ||
          queued->offset + queued->size != where.offset) {
        pending_.push_back(step{
            id, id, false,
            segment_write{where.segment, where.offset, spare_buffer(),
                          std::exchange(spare_borrowed_, {}), 0, where.new_segment}});
        queued = &std::get<segment_write>(pending_.back().action);
      }
      pending_.back().last = id;
      queued->add_record(i, entry, options_.gather_payloads_from);
    }
    return id;
  }

  write_id save_snapshot(snapshot_meta meta, bytes data) {
    const write_id id = begin_write();
    // Not newer than the stored one; but the snapshot of the empty log, which a bootstrap stores
    // to keep its configuration, is stored once (bootstraps happen on an empty storage only).
    if (meta.last_index <= segments_.covered_index() && meta.last_index != 0) return id;
    std::vector<index_t> covered = segments_.drop_covered(meta.last_index);
    bytes config = format::encode_configuration(meta.config);
    const auto header = format::encode_snapshot_header(meta, config, data);
    pending_.push_back(step{id, id, false,
                            snapshot_write{meta, header, std::move(config), std::move(data),
                                           std::move(covered)}});
    return id;
  }

  write_id last_write() const noexcept { return issued_; }

  // Removes the files that durable snapshots made obsolete, as the flushes queue them (see the top
  // of this file), one unlink at a time. Awaits the queue and each unlink; ends when cancelled. At
  // most one runs at a time; what it leaves queued is removed by the next snapshot's flush, or by
  // load() after a restart.
  co::task<void> remove_obsolete_files() {
    if (remover_running_)
      throw std::logic_error("coraft::raft::file_storage: remove_obsolete_files() already runs");
    remover_running_ = true;
    struct running {
      bool* flag;
      ~running() { *flag = false; }
    } guard{&remover_running_};
    for (;;) {
      while (obsolete_.empty()) {
        obsolete_queued_.reset();
        if (!co_await obsolete_queued_.wait()) co_return;
      }
      const std::string name = obsolete_.front();
      if (format::parse_numbered_name(name, format::segment_prefix)) {
        if (auto freed = co_await free_blocks(name); !freed && co::is_cancelled(freed.error()))
          co_return;  // stays queued
      }
      auto removed = co_await executor_.unlink(path_of(name));
      // Another error leaves the file behind, harmless: load() removes it as a leftover.
      if (!removed && co::is_cancelled(removed.error())) co_return;  // stays queued
      obsolete_.pop_front();
      ++statistics_.obsolete_files_removed;
    }
  }

  // How much of an obsolete segment remove_obsolete_files() frees at a time.
  static constexpr std::uint64_t free_step = std::uint64_t{4} << 20;

  // Resumes once write w and all before it are durable. Awaits the flush in progress and looks
  // again, or performs a flush itself (see the top of this file). Ends ok, with the error of the
  // flush that covered w, or with cancelled().
  co::task<co::result<void>> durable(write_id w) {
    if (w > issued_)
      throw std::logic_error("coraft::raft::file_storage: durable() of a write never issued");
    while (durable_ < w) {
      if (flushing_) {
        const std::uint64_t awaited = statistics_.flushes;
        if (auto woke = co_await flush_done_.wait(); !woke) co_return woke;
        if (failed_flush_ == awaited && w <= failed_flush_covered_) co_return failure_;
        continue;  // w was issued after that flush started, or its flusher was cancelled
      }
      flushing_ = true;
      flush_done_.reset();
      const std::uint64_t number = ++statistics_.flushes;
      const write_id covers = issued_;
      auto flushed = co_await flush();
      flushing_ = false;
      if (!flushed && !co::is_cancelled(flushed.error())) {
        failed_flush_ = number;
        failed_flush_covered_ = covers;
        failure_ = flushed.error();
      }
      flush_done_.set();
      if (!flushed) co_return flushed;
    }
    co_return co::result<void>{};
  }

 private:
  // ---- steps ------------------------------------------------------------------------------------

  // A payload written from where it lives: it goes to the file after data[0, at).
  struct borrowed_payload {
    std::size_t at;
    shared_bytes payload;
  };
  struct segment_write {  // records appended to a segment
    index_t segment;
    std::uint64_t offset;
    bytes data;  // the records, but for the borrowed payloads
    std::vector<borrowed_payload> borrowed;
    std::uint64_t size;  // the bytes it appends: data's and the borrowed payloads'
    bool creates;        // the first write of a new segment file

    // A gathered write takes at most IOV_MAX (1,024) pieces; each borrowed payload makes two.
    static constexpr std::size_t max_borrowed = 500;

    void add_record(index_t index, const log_entry& entry, std::size_t borrow_from) {
      format::encode_record_header(data, index, entry);
      const std::span<const std::byte> payload = entry.payload.span();
      if (payload.size() >= borrow_from && borrowed.size() < max_borrowed) {
        borrowed.push_back(borrowed_payload{data.size(), entry.payload});
      } else {
        data.insert(data.end(), payload.begin(), payload.end());
      }
      size += format::record_header_size + payload.size();
    }

    // Keeps the first `length` bytes, which end where a record does.
    void shorten_to(std::uint64_t length) {
      std::uint64_t borrowed_before = 0;  // the bytes of the payloads kept so far
      std::size_t kept = 0;
      for (; kept < borrowed.size(); ++kept) {
        const std::uint64_t starts = borrowed[kept].at + borrowed_before;
        if (starts >= length) break;
        borrowed_before += borrowed[kept].payload.size();
        CORAFT_ASSERT(starts + borrowed[kept].payload.size() <= length,
                      "a log cut falls where a record ends");
      }
      borrowed.resize(kept);
      data.resize(static_cast<std::size_t>(length - borrowed_before));
      size = length;
    }

    // The pieces of the gathered write, in file order, appended to `pieces`.
    void gather(std::vector<iovec>& pieces) const {
      std::size_t from = 0;
      const auto add = [&](const std::byte* start, std::size_t length) {
        if (length > 0) pieces.push_back(iovec{const_cast<std::byte*>(start), length});
      };
      for (const borrowed_payload& b : borrowed) {
        add(data.data() + from, b.at - from);
        add(b.payload.data(), b.payload.size());
        from = b.at;
      }
      add(data.data() + from, data.size() - from);
    }
  };
  struct segment_cut {  // a truncation (§5.3): later segments removed, the one holding `from` cut
    index_t segment;
    std::uint64_t length;
    std::vector<index_t> removed;  // last first
  };
  struct meta_write {  // the whole of a meta slot's state, as last asked for
    term_t term = 0;
    node_id vote = nobody;
    incarnation_t incarnation = 0;
  };
  struct snapshot_write {
    snapshot_meta meta;
    std::array<std::byte, format::snapshot_header_size> header;
    bytes config;  // the configuration, encoded
    bytes data;
    std::vector<index_t> covered;  // segments it makes obsolete
  };
  struct step {
    write_id first;  // the writes whose effects it carries: first..last
    write_id last;
    bool attempted;  // a flush tried it: its file may hold some of its bytes, so it must not shrink
    std::variant<segment_write, segment_cut, meta_write, snapshot_write> action;
  };

  // Queues the meta slot's state as it now is: only the newest need reach the disk.
  write_id queue_meta() {
    const write_id id = begin_write();
    if (auto* queued = mergeable<meta_write>()) {
      *queued = meta_;
      pending_.back().last = id;
    } else {
      pending_.push_back(step{id, id, false, meta_});
    }
    return id;
  }

  write_id begin_write() {
    if (!loaded_) throw std::logic_error("coraft::raft::file_storage: write before load()");
    return ++issued_;
  }

  // The last queued step, if it is an `Action` no flush has tried yet: a new write may merge in.
  template <class Action>
  Action* mergeable() noexcept {
    if (pending_.empty() || pending_.back().attempted) return nullptr;
    return std::get_if<Action>(&pending_.back().action);
  }

  // A buffer for a new segment write: one a finished write left, or a new one that holds a
  // typical burst without growing.
  bytes spare_buffer() {
    if (spare_buffers_.empty()) {
      bytes fresh;
      fresh.reserve(64 * 1024);
      return fresh;
    }
    bytes reused = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    return reused;
  }

  // Keeps a performed step's buffer for later writes (a few, of ordinary size).
  void recycle(step& done) {
    auto* w = std::get_if<segment_write>(&done.action);
    if (!w || spare_buffers_.size() >= 4 || w->data.capacity() > 4 * 1024 * 1024) return;
    w->data.clear();
    spare_buffers_.push_back(std::move(w->data));
    w->borrowed.clear();  // the payloads go back to their owners now
    if (spare_borrowed_.capacity() < w->borrowed.capacity()) spare_borrowed_.swap(w->borrowed);
  }

  // Queue the truncation of the log before `from`.
  void cut_log(index_t from, write_id id) {
    auto cut = segments_.truncate_from(from);
    auto* queued = mergeable<segment_write>();
    if (queued && cut.removed.empty() && queued->segment == cut.segment &&
        queued->offset <= cut.length) {
      // The dropped records never reached the file: shorten what is queued instead of cutting it.
      queued->shorten_to(cut.length - queued->offset);
      pending_.back().last = id;
      return;
    }
    pending_.push_back(
        step{id, id, false, segment_cut{cut.segment, cut.length, std::move(cut.removed)}});
  }

  // ---- flushing ---------------------------------------------------------------------------------

  // Performs every queued step in order; awaits each one's I/O. Ends when all are durable, or at
  // the first failure, which leaves that step and the rest queued, ahead of newer ones.
  co::task<co::result<void>> flush() {
    // Writes issued from now on queue apart: these steps' buffers are lent to the kernel.
    // The two queues trade places, keeping their memory: no allocation per flush.
    std::deque<step>& steps = flushing_steps_;
    // (Steps a flush ended by an exception left behind go first, as a failed step's do.)
    for (; !steps.empty(); steps.pop_back()) pending_.push_front(std::move(steps.back()));
    steps.swap(pending_);
    const write_id covers = issued_;
    while (!steps.empty()) {
      steps.front().attempted = true;
      if (auto done = co_await perform(steps.front()); !done) {
        for (; !steps.empty(); steps.pop_back()) pending_.push_front(std::move(steps.back()));
        durable_ = std::max(durable_, pending_.front().first - 1);
        co_return done;
      }
      recycle(steps.front());
      steps.pop_front();
      if (!steps.empty()) durable_ = std::max(durable_, steps.front().first - 1);
    }
    durable_ = std::max(durable_, covers);  // writes that needed no step (an older snapshot) too
    co_return co::result<void>{};
  }

  // One step; awaits its I/O. The step belongs to the flush awaiting this.
  co::task<co::result<void>> perform(step& s) {
    if (auto* w = std::get_if<segment_write>(&s.action)) co_return co_await write_segment(*w);
    if (auto* c = std::get_if<segment_cut>(&s.action)) co_return co_await cut_segment(*c);
    if (auto* m = std::get_if<meta_write>(&s.action)) co_return co_await write_meta(*m);
    co_return co_await write_snapshot(std::get<snapshot_write>(s.action));
  }

  // Appends records to a segment and syncs it, then the directory if the file is new. Awaits the
  // open, the write and the syncs. `w` belongs to the flush awaiting this.
  co::task<co::result<void>> write_segment(const segment_write& w) {
    auto f = co_await segment_file(w.segment, w.creates);
    if (!f) co_return f.error();
    if (w.size > 0) {
      gathered_.clear();
      w.gather(gathered_);
      if (auto r = co_await write_durably(**f, gathered_, w.offset); !r) co_return r;
      for (const borrowed_payload& b : w.borrowed) statistics_.payload_bytes_gathered += b.payload.size();
    }
    if (w.creates) co_return co_await sync_directory();
    co_return co::result<void>{};
  }

  // Removes the segments after the cut, newest first and each removal synced, so that a crash in
  // between never leaves a gap; then cuts the segment holding the first dropped record and syncs
  // the cut. Only then may records replacing the dropped ones be written: a crash can never leave
  // old records behind new ones. Awaits the syncs. `c` belongs to the flush awaiting this.
  co::task<co::result<void>> cut_segment(const segment_cut& c) {
    for (index_t first : c.removed) {
      if (auto r = co_await remove_file(format::segment_name(first)); !r) co_return r;
      if (auto r = co_await sync_directory(); !r) co_return r;
    }
    auto f = co_await segment_file(c.segment, false);
    if (!f) co_return f.error();
    if (auto r = executor_.truncate(**f, c.length); !r) co_return r;
    ++statistics_.data_syncs;
    co_return co_await executor_.fdatasync(**f);
  }

  // Writes the term and vote into the slot *not* holding the newest durable state, and syncs it.
  // The first time, the file is prepared as meta.tmp and renamed into place, so that no crash can
  // leave a `meta` without a valid slot. Awaits the write and the syncs. `m` belongs to the flush.
  co::task<co::result<void>> write_meta(const meta_write& m) {
    const format::meta_slot slot{meta_sequence_ + 1, m.term, m.vote, m.incarnation};
    const auto encoded = format::encode_meta_slot(slot);
    const iovec piece{const_cast<std::byte*>(encoded.data()), encoded.size()};
    const std::uint64_t offset = format::meta_slot_offset(slot.sequence);
    if (meta_file_) {
      if (auto r = co_await write_durably(*meta_file_, std::span(&piece, 1), offset); !r)
        co_return r;
    } else {
      const std::string temporary = path_of(format::meta_temporary_name);
      auto f = co_await executor_.open(temporary, O_RDWR | O_CREAT | O_TRUNC);
      if (!f) co_return f.error();
      if (auto r = co_await write_durably(*f, std::span(&piece, 1), offset); !r) co_return r;
      if (auto r = executor_.rename(temporary, path_of(format::meta_name)); !r) co_return r;
      if (auto r = co_await sync_directory(); !r) co_return r;
      meta_file_.emplace(std::move(*f));
    }
    meta_sequence_ = slot.sequence;
    co_return co::result<void>{};
  }

  // Writes snapshot.tmp, syncs it, renames it into place and syncs the directory; only then are
  // the snapshot it replaces and the segments it covers obsolete. They are queued for
  // remove_obsolete_files() if it runs, or else removed here; then the directory is synced again
  // (which also makes durable what remove_obsolete_files() removed since the last sync). A
  // segment starting right after the snapshot (one holding no record) is always removed here: a
  // later append creates a file of the same name, which must not be removed behind its back. Every
  // other obsolete file has a name no later write uses: segments start after the snapshot, and
  // snapshots cover ever higher indexes. Awaits the writes, the removals and the syncs. `s`
  // belongs to the flush awaiting this.
  co::task<co::result<void>> write_snapshot(const snapshot_write& s) {
    const std::string temporary = path_of(format::snapshot_temporary_name);
    {
      auto f = co_await executor_.open(temporary, O_RDWR | O_CREAT | O_TRUNC);
      if (!f) co_return f.error();
      const std::array<iovec, 3> pieces{
          iovec{const_cast<std::byte*>(s.header.data()), s.header.size()},
          iovec{const_cast<std::byte*>(s.config.data()), s.config.size()},
          iovec{const_cast<std::byte*>(s.data.data()), s.data.size()}};
      if (auto r = co_await write_durably(*f, pieces, 0); !r) co_return r;
    }
    if (auto r = executor_.rename(temporary, path_of(format::snapshot_name(s.meta.last_index))); !r)
      co_return r;
    if (auto r = co_await sync_directory(); !r) co_return r;
    std::vector<std::string> here;  // removed by this step
    const auto obsolete = [&](std::string name, bool reusable) {
      if (segment_file_ && name == format::segment_name(open_segment_)) segment_file_.reset();
      if (remover_running_ && !reusable) {
        obsolete_.push_back(std::move(name));
        obsolete_queued_.set();
      } else {
        here.push_back(std::move(name));
      }
    };
    if (stored_snapshot_ && *stored_snapshot_ != s.meta.last_index)
      obsolete(format::snapshot_name(*stored_snapshot_), false);
    for (index_t first : s.covered) {
      CORAFT_ASSERT(first <= s.meta.last_index + 1, "a covered segment starts after its snapshot");
      obsolete(format::segment_name(first), first == s.meta.last_index + 1);
    }
    if (!remover_running_) {  // what an earlier remover left queued
      for (; !obsolete_.empty(); obsolete_.pop_front()) here.push_back(std::move(obsolete_.front()));
    }
    for (const std::string& name : here) {
      if (auto r = co_await remove_file(name); !r) co_return r;  // a retry removes it again
    }
    stored_snapshot_ = s.meta.last_index;
    co_return co_await sync_directory();
  }

  // Writes `pieces` at `offset` and syncs them, as one write that syncs (write_and_sync). Should the
  // kernel take only part of the bytes, writes them again piece by piece to learn why (ENOSPC,
  // usually) and syncs if that succeeds. Awaits the writes and the sync; the file and the memory
  // `pieces` points to belong to the caller, which awaits this.
  co::task<co::result<void>> write_durably(file& f, std::span<const iovec> pieces,
                                           std::uint64_t offset) {
    if (options_.sync_data) {
      ++statistics_.data_syncs;
      auto done = co_await executor_.write_and_sync(f, pieces, offset);
      if (done || done.error() != io::errc::short_write) co_return done;
    } else {
      std::size_t total = 0;
      for (const iovec& piece : pieces) total += piece.iov_len;
      auto written = co_await executor_.pwritev(f, pieces, offset);
      if (written && *written == total) co_return co::result<void>{};
      if (!written) co_return written.error();
    }
    for (const iovec& piece : pieces) {
      std::span<const std::byte> rest(static_cast<const std::byte*>(piece.iov_base), piece.iov_len);
      while (!rest.empty()) {
        auto written = co_await executor_.pwrite(f, rest, offset);
        if (!written) co_return written.error();
        if (*written == 0) co_return make_error_code(io::errc::short_write);
        rest = rest.subspan(*written);
        offset += *written;
      }
    }
    if (!options_.sync_data) co_return co::result<void>{};
    ++statistics_.data_syncs;
    co_return co_await executor_.fdatasync(f);
  }

  // The segment file starting at `first`: the one kept open, or opened now (created, and emptied
  // of what an earlier failed attempt left, if `creates`). Awaits the open.
  co::task<co::result<file*>> segment_file(index_t first, bool creates) {
    if (segment_file_ && open_segment_ == first && !creates) co_return &*segment_file_;
    segment_file_.reset();
    auto f = co_await executor_.open(path_of(format::segment_name(first)),
                                     creates ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR);
    if (!f) co_return f.error();
    if (creates && options_.preallocate_segments)
      (void)executor_.preallocate(*f, options_.segment_size);  // an optimisation: failing is fine
    segment_file_.emplace(std::move(*f));
    open_segment_ = first;
    co_return &*segment_file_;
  }

  // Frees the blocks of the obsolete file `name`, free_step bytes at a time from its end, each step
  // synced before the next: from the end, and in that order, so that after a crash it reads as
  // whole records, then zeros, as a torn tail does (recovery reads a
  // covered segment only when no later one exists, and then cuts it). Awaits the open and the
  // punches; ends ok, or with the first error (a file system without hole punching: the unlink
  // then frees the blocks all at once).
  co::task<co::result<void>> free_blocks(std::string name) {
    auto f = co_await executor_.open(path_of(name), O_RDWR);
    if (!f) co_return f.error();
    auto size = executor_.file_size(*f);
    if (!size) co_return size.error();
    for (std::uint64_t end = *size; end > 0;) {
      const std::uint64_t start = end > free_step ? end - free_step : 0;
      if (auto r = co_await executor_.punch_hole(*f, start, end - start); !r) co_return r;
      // Each hole durable before the next is punched: in any order else, a crash could leave a
      // hole between records, which no torn tail explains.
      if (auto r = co_await executor_.fdatasync(*f); !r) co_return r;
      end = start;
    }
    co_return co::result<void>{};
  }

  // Removes a file of the directory (durable after the next directory sync); one already gone is
  // fine, as after a retried step. Awaits the unlink, which on io_uring runs off this thread.
  co::task<co::result<void>> remove_file(std::string name) {
    if (segment_file_ && name == format::segment_name(open_segment_)) segment_file_.reset();
    auto removed = co_await executor_.unlink(path_of(name));
    if (!removed && removed.error() != std::errc::no_such_file_or_directory) co_return removed;
    co_return co::result<void>{};
  }

  // Makes the directory's entries durable (files created, renamed, removed); awaits the fsync.
  co::task<co::result<void>> sync_directory() {
    ++statistics_.directory_syncs;
    co_return co_await executor_.sync_directory(directory_);
  }

  std::string path_of(std::string_view name) const { return detail::path_in(directory_, name); }

  Executor& executor_;
  const std::string directory_;
  const file_storage_options options_;
  file_storage_statistics statistics_;
  bool loaded_ = false;  // load() has succeeded; writes before it are a programming error

  // As issued: the log's layout including every queued write, and the write numbering.
  log_segments segments_;
  write_id issued_ = 0;
  std::deque<step> pending_;  // queued and not being flushed, in issue order
  std::deque<step> flushing_steps_;  // taken from pending_ by the flush in progress
  std::vector<bytes> spare_buffers_;  // segment writes' buffers, kept for the next ones
  std::vector<borrowed_payload> spare_borrowed_;  // and the largest list of borrowed payloads
  std::vector<iovec> gathered_;  // the pieces of the segment write under way

  // As durable. Changed only by the flush, as each step completes.
  write_id durable_ = 0;              // every write up to here is durable
  std::optional<file> meta_file_;     // open once the file exists
  std::uint64_t meta_sequence_ = 0;   // of the slot holding the newest durable term and vote
  meta_write meta_;                   // the term, vote and incarnation last asked for
  std::optional<index_t> stored_snapshot_;  // last index of the snapshot file in place, if any
  std::optional<file> segment_file_;  // the segment last written, kept open
  index_t open_segment_ = 0;          // its first index

  // Files made obsolete by durable snapshots, oldest first, for remove_obsolete_files().
  std::deque<std::string> obsolete_;
  co::event obsolete_queued_;     // set when a name is queued
  bool remover_running_ = false;  // remove_obsolete_files() runs: the flush queues, not removes

  // Group commit.
  bool flushing_ = false;              // a durable() call is performing a flush
  co::event flush_done_;               // set when that flush ends, either way
  std::uint64_t failed_flush_ = 0;     // the number of the last flush that failed (not cancelled)
  write_id failed_flush_covered_ = 0;  // the writes it was to make durable
  std::error_code failure_;            // and why it failed
};

}  // namespace coraft::raft
