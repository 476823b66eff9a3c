// coraft/io/uring/files.hpp — file I/O through the ring: open, pread, pwrite, pwritev, fdatasync,
// punch_hole, unlink.
//
// Offsets are always explicit, so no operation depends on a file position another one moved.
// Durability is the caller's explicit step: pwrite puts bytes in the page cache, fdatasync (or the
// write_and_sync, a write that syncs) makes them survive a crash. sync_directory makes a new or renamed entry
// itself durable, as the rename-into-place of a snapshot requires.
#pragma once

#include <fcntl.h>
#include <liburing.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "coraft/co/result.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/io/fd.hpp"
#include "coraft/io/uring/operation.hpp"

namespace coraft::io::uring {

// An open file; closes on destruction.
class file {
 public:
  explicit file(unique_fd descriptor) noexcept : descriptor_(std::move(descriptor)) {}
  int native_handle() const noexcept { return descriptor_.get(); }
  bool is_open() const noexcept { return static_cast<bool>(descriptor_); }
  void close() noexcept { descriptor_.reset(); }

 private:
  unique_fd descriptor_;
};

// `co_await open_operation{ring, path, flags}`: the file opened with POSIX `flags` (O_RDWR,
// O_CREAT, ...; O_CLOEXEC is always added) and mode 0644 if created; or an error such as ENOENT.
class open_operation final : public operation<open_operation> {
 public:
  // The path is copied: the kernel reads it at submission, which may be after the caller's string
  // is gone (opening is rare enough that the copy does not matter).
  open_operation(ring& r, std::string path, int flags)
      : operation(r), path_(std::move(path)), flags_(flags | O_CLOEXEC) {}

  co::result<file> await_resume() const {
    if (result() < 0) return error_from_errno(-result());
    return file{unique_fd{result()}};
  }

 private:
  friend class operation<open_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_openat(sqe, AT_FDCWD, path_.c_str(), flags_, 0644);
  }

  std::string path_;
  int flags_;
};

// `co_await pread_operation{ring, file, buffer, offset}`: bytes read at `offset` (0 at the end).
class pread_operation final : public operation<pread_operation> {
 public:
  pread_operation(ring& r, const file& from, std::span<std::byte> buffer,
                  std::uint64_t offset) noexcept
      : operation(r), descriptor_(from.native_handle()), buffer_(buffer), offset_(offset) {}

  co::result<std::size_t> await_resume() const noexcept { return byte_count(); }

 private:
  friend class operation<pread_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_read(sqe, descriptor_, buffer_.data(), clamp_length(buffer_.size()), offset_);
  }

  int descriptor_;
  std::span<std::byte> buffer_;
  std::uint64_t offset_;
};

// `co_await pwrite_operation{ring, file, bytes, offset}`: bytes written at `offset`, possibly
// fewer than asked (a full disk, a file size limit).
class pwrite_operation final : public operation<pwrite_operation> {
 public:
  pwrite_operation(ring& r, const file& to, std::span<const std::byte> bytes,
                   std::uint64_t offset) noexcept
      : operation(r), descriptor_(to.native_handle()), bytes_(bytes), offset_(offset) {}

  co::result<std::size_t> await_resume() const noexcept { return byte_count(); }

 private:
  friend class operation<pwrite_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_write(sqe, descriptor_, bytes_.data(), clamp_length(bytes_.size()), offset_);
  }

  int descriptor_;
  std::span<const std::byte> bytes_;
  std::uint64_t offset_;
};

// `co_await pwritev_operation{ring, file, pieces, offset}`: one gathered write of several buffers
// at `offset`; bytes written. The iovec array must outlive the await.
class pwritev_operation final : public operation<pwritev_operation> {
 public:
  pwritev_operation(ring& r, const file& to, std::span<const iovec> pieces,
                    std::uint64_t offset) noexcept
      : operation(r), descriptor_(to.native_handle()), pieces_(pieces), offset_(offset) {}

  co::result<std::size_t> await_resume() const noexcept { return byte_count(); }

 private:
  friend class operation<pwritev_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_writev(sqe, descriptor_, pieces_.data(), static_cast<unsigned>(pieces_.size()),
                         offset_);
  }

  int descriptor_;
  std::span<const iovec> pieces_;
  std::uint64_t offset_;
};

// `co_await fdatasync_operation{ring, file}`: ok once the file's data (and the metadata needed to
// read it back, such as its size) is on stable storage.
class fdatasync_operation final : public operation<fdatasync_operation> {
 public:
  fdatasync_operation(ring& r, const file& f) noexcept
      : operation(r), descriptor_(f.native_handle()) {}

  co::result<void> await_resume() const noexcept { return status(); }

 private:
  friend class operation<fdatasync_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_fsync(sqe, descriptor_, IORING_FSYNC_DATASYNC);
  }

  int descriptor_;
};

// `co_await punch_hole_operation{ring, file, offset, length}`: ok once the file's blocks in
// [offset, offset + length) are freed (fallocate with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE):
// reads there return zeros, the size stays. Durable, like a write, after fdatasync. The kernel runs
// it in its own worker threads. An error such as EOPNOTSUPP where the file system cannot.
class punch_hole_operation final : public operation<punch_hole_operation> {
 public:
  punch_hole_operation(ring& r, const file& f, std::uint64_t offset, std::uint64_t length) noexcept
      : operation(r), descriptor_(f.native_handle()), offset_(offset), length_(length) {}

  co::result<void> await_resume() const noexcept { return status(); }

 private:
  friend class operation<punch_hole_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_fallocate(sqe, descriptor_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            static_cast<off_t>(offset_), static_cast<off_t>(length_));
  }

  int descriptor_;
  std::uint64_t offset_;
  std::uint64_t length_;
};

// `co_await unlink_operation{ring, path}`: ok once the file's name is gone (durable only after
// sync_directory), or an error such as ENOENT. The kernel runs it in its own worker threads, so the
// blocks of a large file are freed without stopping this thread (a preallocated 64 MiB segment
// takes milliseconds to tens of milliseconds on ext4).
class unlink_operation final : public operation<unlink_operation> {
 public:
  // The path is copied: the kernel reads it at submission, as for open_operation.
  unlink_operation(ring& r, std::string path) : operation(r), path_(std::move(path)) {}

  co::result<void> await_resume() const noexcept { return status(); }

 private:
  friend class operation<unlink_operation>;
  void prepare(io_uring_sqe* sqe) noexcept { io_uring_prep_unlink(sqe, path_.c_str(), 0); }

  std::string path_;
};

// `co_await sync_directory_operation{ring, path}`: ok once the directory's entries (files created,
// renamed or removed in it) are on stable storage. The directory is opened here, synchronously (an
// open of a directory does not wait for the disk), and synced through the ring. A full fsync, not
// fdatasync: for a directory the entries are exactly the metadata that must become durable.
class sync_directory_operation final : public operation<sync_directory_operation> {
 public:
  sync_directory_operation(ring& r, const std::string& path)
      : operation(r), directory_(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (!directory_) open_error_ = co::errno_code(errno);
  }

  // A directory that cannot be opened fails without suspending.
  bool await_ready() const noexcept { return static_cast<bool>(open_error_); }

  co::result<void> await_resume() const noexcept {
    if (open_error_) return open_error_;
    return status();
  }

 private:
  friend class operation<sync_directory_operation>;
  void prepare(io_uring_sqe* sqe) noexcept { io_uring_prep_fsync(sqe, directory_.get(), 0); }

  unique_fd directory_;  // open until the sync has completed and the awaiter goes away
  std::error_code open_error_;
};

}  // namespace coraft::io::uring
