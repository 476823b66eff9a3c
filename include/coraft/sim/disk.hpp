// coraft/sim/disk.hpp — one host's disk: a page cache in front of durable storage.
//
// The durability model, which durable storage is tested against:
//  * Data. A write lands in the page cache at once: every later read sees it. It becomes durable
//    only when an fdatasync of its file, issued after the write, completes (a simulated latency
//    later). Writes made after the fdatasync was issued are not covered by it. Truncation, and
//    punching a hole (a write of zeros within the file's size), are treated like a write.
//  * Names. Creating, renaming or removing a file or directory changes the namespace at once, but
//    a directory's entries become durable only when a sync_directory of that directory, issued
//    after the change, completes. Each directory is made durable on its own: a rename between two
//    directories needs both synced. A new file whose name is not durable disappears in a crash,
//    even if its data was synced; a removed file whose removal is not durable comes back.
//  * A crash (host::crash) keeps exactly what is durable: every file's content as of its covered
//    writes, every directory's entries as of its last completed sync. Files no durable name
//    reaches are gone. If the faults say so (torn_write), the last write not yet durable — on the
//    whole disk — is torn: a random prefix of it survives, possibly beyond a hole of zeros.
//  * Faults, each drawn from the world's seed as the operation happens (a probability of 0 draws
//    nothing, so turning a fault off leaves every other draw where it was):
//     - with probability sync_failure an fdatasync (or sync_directory) fails with EIO; like Linux,
//       the failed sync forgets the writes it covered: they stay readable until a crash, and no
//       later sync makes them durable;
//     - with probability write_failure a write fails with EIO and changes nothing;
//     - a write that would make the files' total size exceed capacity, or that needs any space
//       while the disk is full, fails with ENOSPC and changes nothing; raising the capacity again
//       or clearing `full` (space freed elsewhere) lets it succeed;
//     - with probability slow_sync a sync takes from slow_sync_min to slow_sync_max instead of its
//       usual latency (a device flushing its cache, a neighbour's burst), and completes normally.
//  * A sync that is cancelled before it completes never happens.
//  * Handles opened before a crash are dead after it (EBADF); space is counted by file size.
//
// Paths are '/'-separated, from the disk's root (see detail/path.hpp). Opening follows POSIX: O_RDONLY / O_WRONLY /
// O_RDWR, O_CREAT, O_EXCL and O_TRUNC are honoured; a missing file without O_CREAT is ENOENT; a
// directory cannot be opened (EISDIR: sync_directory takes its path instead).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <sys/uio.h>
#include <utility>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/sim/detail/path.hpp"
#include "coraft/sim/file_content.hpp"
#include "coraft/sim/world.hpp"

namespace coraft::sim {

struct disk_faults {
  std::uint64_t capacity = std::numeric_limits<std::uint64_t>::max();  // bytes of file content
  bool full = false;          // no space at all: every write that needs space fails (ENOSPC)
  double sync_failure = 0.0;  // probability that one fdatasync or sync_directory fails with EIO
  double write_failure = 0.0;  // probability that one write fails with EIO
  double torn_write = 0.0;    // probability that a crash tears the last write not yet durable
  io::duration min_sync_latency = std::chrono::microseconds(200);
  io::duration max_sync_latency = std::chrono::milliseconds(2);
  double slow_sync = 0.0;     // probability that one sync takes a latency spike instead
  io::duration slow_sync_min = std::chrono::milliseconds(50);
  io::duration slow_sync_max = std::chrono::milliseconds(500);
};

class disk;

// An open file. Move-only; destroying it closes it. Dead (EBADF) once its disk has crashed.
class file {
 public:
  file() = default;
  file(file&& other) noexcept
      : disk_(std::exchange(other.disk_, nullptr)), node_(other.node_), boot_(other.boot_),
        readable_(other.readable_), writable_(other.writable_) {}
  file& operator=(file&& other) noexcept {
    if (this != &other) {
      close();
      disk_ = std::exchange(other.disk_, nullptr);
      node_ = other.node_;
      boot_ = other.boot_;
      readable_ = other.readable_;
      writable_ = other.writable_;
    }
    return *this;
  }
  ~file() { close(); }

  bool is_open() const noexcept { return disk_ != nullptr; }
  inline void close() noexcept;

 private:
  friend class disk;
  file(disk* d, std::uint64_t node, std::uint64_t boot, bool readable, bool writable) noexcept
      : disk_(d), node_(node), boot_(boot), readable_(readable), writable_(writable) {}

  disk* disk_ = nullptr;  // null once closed or moved from
  std::uint64_t node_ = 0;
  std::uint64_t boot_ = 0;  // the disk's boot count when opened
  bool readable_ = false;
  bool writable_ = false;
};

class disk {
 public:
  using name_table = std::map<std::string, std::uint64_t>;  // name -> inode number, sorted

  // What a sync issued now will make durable when it completes.
  struct sync_ticket {
    std::uint64_t boot = 0;
    std::uint64_t node = 0;
    bool directory = false;
    std::uint64_t covers = 0;    // a file's changes up to this sequence number...
    name_table snapshot;         // ...or a directory's entries as they were when it was issued
    std::uint64_t version = 0;   // and that snapshot's version
  };

  disk(world& w, std::string owner) : world_(&w), owner_(std::move(owner)) {
    nodes_[root].directory = true;
  }
  disk(const disk&) = delete;
  disk& operator=(const disk&) = delete;

  disk_faults& faults() noexcept { return faults_; }
  // Operations its faults failed so far (EIO on a write or a sync, ENOSPC), across crashes.
  std::uint64_t failures() const noexcept { return failures_; }
  std::uint64_t used() const noexcept { return used_; }  // bytes of file content, cached view

  // ---- the namespace ---------------------------------------------------------------------------

  co::result<file> open(const std::string& path, int flags) {
    auto place = parent_of(path);
    if (!place) return place.error();
    auto& [parent, name] = *place;
    if (name.empty()) return co::errno_code(EISDIR);
    const int access = flags & O_ACCMODE;
    std::uint64_t id;
    if (auto it = parent->entries.find(name); it != parent->entries.end()) {
      if ((flags & O_CREAT) && (flags & O_EXCL)) return co::errno_code(EEXIST);
      id = it->second;
      if (nodes_.at(id).directory) return co::errno_code(EISDIR);
      if (flags & O_TRUNC) resize(id, 0);
    } else {
      if (!(flags & O_CREAT)) return co::errno_code(ENOENT);
      id = next_node_++;
      nodes_[id];
      link(*parent, name, id);
      world_->note(owner_, "create", id);
    }
    ++nodes_.at(id).open_handles;
    return file(this, id, boot_, access != O_WRONLY, access != O_RDONLY);
  }

  co::result<void> make_directory(const std::string& path) {
    auto place = parent_of(path);
    if (!place) return place.error();
    auto& [parent, name] = *place;
    if (name.empty() || parent->entries.contains(name)) return co::errno_code(EEXIST);
    const std::uint64_t id = next_node_++;
    nodes_[id].directory = true;
    link(*parent, name, id);
    return {};
  }

  co::result<void> remove(const std::string& path) {
    auto place = parent_of(path);
    if (!place) return place.error();
    auto& [parent, name] = *place;
    if (name.empty()) return co::errno_code(EBUSY);
    auto it = parent->entries.find(name);
    if (it == parent->entries.end()) return co::errno_code(ENOENT);
    if (!nodes_.at(it->second).entries.empty()) return co::errno_code(ENOTEMPTY);
    parent->entries.erase(it);
    ++parent->version;
    world_->note(owner_, "remove");
    collect_garbage();
    return {};
  }

  // POSIX rename: replaces an existing target (a file by a file, an empty directory by a directory).
  co::result<void> rename(const std::string& from, const std::string& to) {
    auto source = parent_of(from);
    if (!source) return source.error();
    auto target = parent_of(to);
    if (!target) return target.error();
    auto& [from_dir, from_name] = *source;
    auto& [to_dir, to_name] = *target;
    if (from_name.empty() || to_name.empty()) return co::errno_code(EBUSY);
    auto it = from_dir->entries.find(from_name);
    if (it == from_dir->entries.end()) return co::errno_code(ENOENT);
    const std::uint64_t id = it->second;
    const bool moving_directory = nodes_.at(id).directory;
    if (moving_directory && detail::is_below(*detail::split_path(to), *detail::split_path(from))) {
      return co::errno_code(EINVAL);  // a directory cannot move inside itself
    }
    if (auto old = to_dir->entries.find(to_name); old != to_dir->entries.end()) {
      if (old->second == id) return {};
      const node& replaced = nodes_.at(old->second);
      if (moving_directory && !replaced.directory) return co::errno_code(ENOTDIR);
      if (!moving_directory && replaced.directory) return co::errno_code(EISDIR);
      if (!replaced.entries.empty()) return co::errno_code(ENOTEMPTY);
    }
    from_dir->entries.erase(it);
    ++from_dir->version;
    link(*to_dir, to_name, id);
    world_->note(owner_, "rename", id);
    collect_garbage();
    return {};
  }

  co::result<std::vector<std::string>> list_directory(const std::string& path) {
    auto found = lookup(path);
    if (!found) return found.error();
    const node& dir = nodes_.at(*found);
    if (!dir.directory) return co::errno_code(ENOTDIR);
    std::vector<std::string> names;
    for (const auto& [name, id] : dir.entries) names.push_back(name);
    return names;
  }

  // Empties the directory at `path`, at once and durably, as an operator deleting a data
  // directory's files (or a replaced device) would: the files go, the directory stays.
  co::result<void> wipe(const std::string& path) {
    auto found = lookup(path);
    if (!found) return found.error();
    node& dir = nodes_.at(*found);
    if (!dir.directory) return co::errno_code(ENOTDIR);
    dir.entries.clear();
    dir.durable_entries.clear();
    dir.durable_version = ++dir.version;
    world_->note(owner_, "wipe", *found);
    collect_garbage();
    return {};
  }

  // ---- file content ----------------------------------------------------------------------------

  co::result<std::size_t> read(const file& f, std::span<std::byte> buffer, std::uint64_t offset) {
    if (auto bad = check(f, f.readable_)) return bad;
    return nodes_.at(f.node_).content.read(buffer, offset);
  }

  // All of `pieces` at `offset`, or nothing (EIO, ENOSPC).
  co::result<std::size_t> write(const file& f, std::span<const iovec> pieces, std::uint64_t offset) {
    if (auto bad = check(f, f.writable_)) return bad;
    if (world_->random().chance(faults_.write_failure)) {
      world_->note(owner_, "write-failed", f.node_);
      ++failures_;
      return co::errno_code(EIO);
    }
    file_content& content = nodes_.at(f.node_).content;
    std::vector<std::byte> bytes;
    for (const iovec& piece : pieces) {
      const auto* base = static_cast<const std::byte*>(piece.iov_base);
      bytes.insert(bytes.end(), base, base + piece.iov_len);
    }
    const std::size_t length = bytes.size();
    if (length == 0) return 0;
    const std::uint64_t end = offset + length;
    const std::uint64_t growth = end > content.size() ? end - content.size() : 0;
    if (growth > 0 && (faults_.full || growth > faults_.capacity - std::min(used_, faults_.capacity))) {
      world_->note(owner_, "no-space", length);
      ++failures_;
      return co::errno_code(ENOSPC);
    }
    used_ += growth;
    content.write(++sequence_, offset, std::move(bytes));
    world_->note(owner_, "write", length);
    return length;
  }

  co::result<std::uint64_t> size(const file& f) {
    if (auto bad = check(f, true)) return bad;
    return nodes_.at(f.node_).content.size();
  }

  co::result<void> truncate(const file& f, std::uint64_t length) {
    if (auto bad = check(f, f.writable_)) return bad;
    resize(f.node_, length);
    return {};
  }
  // Frees the blocks of [offset, offset + length), within the file's size, which stays: reads there
  // return zeros. A change like a write of zeros (a crash may tear it as one), durable after a
  // sync; it needs no space, so never fails for the lack of it.
  co::result<void> punch_hole(const file& f, std::uint64_t offset, std::uint64_t length) {
    if (auto bad = check(f, f.writable_)) return bad;
    file_content& content = nodes_.at(f.node_).content;
    const std::uint64_t size = content.size();
    if (offset >= size || length == 0) return {};
    const std::uint64_t end = offset + std::min(length, size - offset);
    content.write(++sequence_, offset, std::vector<std::byte>(end - offset));
    world_->note(owner_, "punch-hole", end - offset);
    return {};
  }
  // Reserving blocks changes nothing a reader or a crash can see: the file keeps its size and
  // content. Only a read-only or stale handle is refused.
  co::result<void> preallocate(const file& f, std::uint64_t) const {
    if (auto bad = check(f, f.writable_)) return bad;
    return {};
  }

  // ---- durability ------------------------------------------------------------------------------

  co::result<sync_ticket> begin_sync(const file& f) {
    if (auto bad = check(f, true)) return bad;
    return sync_ticket{boot_, f.node_, false, sequence_, {}, 0};
  }
  co::result<sync_ticket> begin_sync(const std::string& directory_path) {
    auto found = lookup(directory_path);
    if (!found) return found.error();
    const node& dir = nodes_.at(*found);
    if (!dir.directory) return co::errno_code(ENOTDIR);
    return sync_ticket{boot_, *found, true, 0, dir.entries, dir.version};
  }
  io::duration sync_latency() {
    if (world_->random().chance(faults_.slow_sync)) {
      const io::duration spike = world_->random().uniform(faults_.slow_sync_min, faults_.slow_sync_max);
      world_->note(owner_, "slow-sync", static_cast<std::uint64_t>(spike.count()));
      return spike;
    }
    return world_->random().uniform(faults_.min_sync_latency, faults_.max_sync_latency);
  }

  // The sync completes: what it covers becomes durable, or (EIO) is forgotten.
  co::result<void> finish_sync(const sync_ticket& t) {
    auto it = nodes_.find(t.node);
    if (t.boot != boot_ || it == nodes_.end()) return co::errno_code(EBADF);
    node& n = it->second;
    const bool failed = world_->random().chance(faults_.sync_failure);
    world_->note(owner_, failed ? "sync-failed" : (t.directory ? "sync-directory" : "sync"), t.node);
    if (t.directory) {
      if (!failed && t.version > n.durable_version) {
        n.durable_entries = t.snapshot;
        n.durable_version = t.version;
        collect_garbage();
      }
    } else {
      n.content.sync(t.covers, failed);
    }
    if (!failed) return {};
    ++failures_;
    return co::errno_code(EIO);
  }

  // Power is lost: only what is durable remains (see the top of this file).
  void crash() {
    ++boot_;
    world_->note(owner_, "disk-crash", boot_);
    const torn_write torn = choose_torn_write();
    for (auto& [id, n] : nodes_) {
      n.content.lose_unsynced(id == torn.node ? torn.kept : 0);
      n.entries = n.durable_entries;
      n.version = n.durable_version;
      n.open_handles = 0;
    }
    collect_garbage();
  }

  static constexpr std::uint64_t root = 1;

 private:
  friend class file;

  struct node {
    bool directory = false;
    file_content content;               // a file's bytes
    name_table entries;                 // a directory's entries as lookups see them
    name_table durable_entries;         // as a crash leaves them
    std::uint64_t version = 0;          // bumped on every change to `entries`
    std::uint64_t durable_version = 0;  // the version `durable_entries` was copied from
    int open_handles = 0;
  };

  void resize(std::uint64_t id, std::uint64_t length) {
    file_content& content = nodes_.at(id).content;
    used_ = used_ - content.size() + length;
    content.truncate(++sequence_, length);
    world_->note(owner_, "truncate", length);
  }

  struct torn_write {
    std::uint64_t node = 0;  // none
    std::size_t kept = 0;    // bytes of the write that survive
  };
  // If the faults say so, tear the newest write not yet durable on the whole disk (the one the
  // power cut caught in the middle): fewer bytes survive than it had, maybe none.
  torn_write choose_torn_write() {
    std::optional<file_content::pending_change> newest;
    torn_write torn;
    for (const auto& [id, n] : nodes_) {
      auto pending = n.content.newest_unsynced();
      if (pending && (!newest || pending->sequence > newest->sequence)) {
        newest = pending;
        torn.node = id;
      }
    }
    if (!newest || !newest->write_length || !world_->random().chance(faults_.torn_write)) return {};
    torn.kept = static_cast<std::size_t>(world_->random().below(*newest->write_length));
    world_->note(owner_, "torn-write", torn.kept);
    return torn;
  }

  void link(node& dir, const std::string& name, std::uint64_t id) {
    dir.entries[name] = id;
    ++dir.version;
  }

  std::error_code check(const file& f, bool allowed) const {
    if (f.disk_ != this || f.boot_ != boot_ || !nodes_.contains(f.node_)) {
      return co::errno_code(EBADF);
    }
    return allowed ? std::error_code{} : co::errno_code(EBADF);
  }

  void closed(std::uint64_t id, std::uint64_t boot) noexcept {
    if (boot != boot_) return;  // the crash already closed it
    auto it = nodes_.find(id);
    if (it != nodes_.end() && --it->second.open_handles == 0) collect_garbage();
  }

  // Forget the nodes nothing can reach any more: no name, durable or not, and no open handle.
  void collect_garbage() {
    std::set<std::uint64_t> reached{root};
    std::vector<std::uint64_t> to_visit{root};
    for (const auto& [id, n] : nodes_) {
      if (n.open_handles > 0 && reached.insert(id).second) to_visit.push_back(id);
    }
    while (!to_visit.empty()) {
      const node& n = nodes_.at(to_visit.back());
      to_visit.pop_back();
      for (const name_table* names : {&n.entries, &n.durable_entries}) {
        for (const auto& [name, id] : *names) {
          if (reached.insert(id).second) to_visit.push_back(id);
        }
      }
    }
    used_ = 0;
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      if (reached.contains(it->first)) {
        used_ += it->second.content.size();
        ++it;
      } else {
        it = nodes_.erase(it);
      }
    }
  }

  // The inode a path names.
  co::result<std::uint64_t> lookup(const std::string& path) {
    auto parts = detail::split_path(path);
    if (!parts) return parts.error();
    std::uint64_t at = root;
    for (const std::string& part : *parts) {
      const node& dir = nodes_.at(at);
      if (!dir.directory) return co::errno_code(ENOTDIR);
      auto it = dir.entries.find(part);
      if (it == dir.entries.end()) return co::errno_code(ENOENT);
      at = it->second;
    }
    return at;
  }

  // The directory that holds a path's last component, and that component ("" for the root).
  co::result<std::pair<node*, std::string>> parent_of(const std::string& path) {
    auto parts = detail::split_path(path);
    if (!parts) return parts.error();
    if (parts->empty()) return std::pair<node*, std::string>{&nodes_.at(root), ""};
    std::string name = std::move(parts->back());
    std::string parent_path;
    for (std::size_t i = 0; i + 1 < parts->size(); ++i) parent_path += "/" + (*parts)[i];
    auto parent = lookup(parent_path);
    if (!parent) return parent.error();
    node& dir = nodes_.at(*parent);
    if (!dir.directory) return co::errno_code(ENOTDIR);
    return std::pair<node*, std::string>{&dir, std::move(name)};
  }

  world* world_;
  std::string owner_;  // the host's name, for the trace
  disk_faults faults_;
  std::map<std::uint64_t, node> nodes_;  // by inode number; std::map keeps node addresses stable
  std::uint64_t next_node_ = root + 1;
  std::uint64_t sequence_ = 0;  // numbers every change, in the order they were made
  std::uint64_t boot_ = 0;      // crashes so far: handles from an earlier boot are dead
  std::uint64_t used_ = 0;      // sum of the cached sizes of all live nodes
  std::uint64_t failures_ = 0;  // operations failed by faults_
};

void file::close() noexcept {
  if (disk_) std::exchange(disk_, nullptr)->closed(node_, boot_);
}

}  // namespace coraft::sim
