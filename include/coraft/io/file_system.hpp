// coraft/io/file_system.hpp — the file-system calls storage makes rarely, done directly.
//
// Sizing, truncating, renaming, removing and listing touch only metadata already in memory (or
// wait for the disk so seldom, at startup and on snapshot, that a ring round trip buys nothing).
// They are plain system calls returning co::result. What *must* wait for the disk (fdatasync of
// data, fsync of a directory) goes through the ring.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "coraft/co/result.hpp"

namespace coraft::io::file_system {

inline co::result<std::uint64_t> size(int descriptor) noexcept {
  struct stat info {};
  if (::fstat(descriptor, &info) != 0) return co::errno_code(errno);
  return static_cast<std::uint64_t>(info.st_size);
}

// Cut the file at `length` (recovery drops a torn tail this way), or extend it with zeros.
inline co::result<void> truncate(int descriptor, std::uint64_t length) noexcept {
  if (::ftruncate(descriptor, static_cast<off_t>(length)) != 0) return co::errno_code(errno);
  return {};
}

// Reserve the file's blocks up to `length` without changing its size (fallocate with
// FALLOC_FL_KEEP_SIZE): later writes there allocate nothing, so an fdatasync after them has less
// metadata to make durable. A file system that cannot (EOPNOTSUPP) or a full disk says so.
inline co::result<void> preallocate(int descriptor, std::uint64_t length) noexcept {
  if (::fallocate(descriptor, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(length)) != 0)
    return co::errno_code(errno);
  return {};
}

// Atomically replace `to` with `from` (POSIX rename). Durable only after sync_directory.
inline co::result<void> rename(const std::string& from, const std::string& to) noexcept {
  if (::rename(from.c_str(), to.c_str()) != 0) return co::errno_code(errno);
  return {};
}

// Remove a file or an empty directory.
inline co::result<void> remove(const std::string& path) noexcept {
  if (::remove(path.c_str()) != 0) return co::errno_code(errno);
  return {};
}

// Create one directory (mode 0755); EEXIST if it is already there, which callers may accept.
inline co::result<void> make_directory(const std::string& path) noexcept {
  if (::mkdir(path.c_str(), 0755) != 0) return co::errno_code(errno);
  return {};
}

// The names in a directory, without "." and "..", sorted so that every run (and the simulator)
// sees the same order.
inline co::result<std::vector<std::string>> list_directory(const std::string& path) {
  struct close_directory {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
  };
  std::unique_ptr<DIR, close_directory> directory(::opendir(path.c_str()));
  if (!directory) return co::errno_code(errno);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(directory.get());
    if (entry == nullptr) {
      if (errno != 0) return co::errno_code(errno);
      break;
    }
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace coraft::io::file_system
