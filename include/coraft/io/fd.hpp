// coraft/io/fd.hpp — unique_fd: the one owner of a file descriptor, which it closes when it dies.
#pragma once

#include <unistd.h>

#include <utility>

namespace coraft::io {

class unique_fd {
 public:
  unique_fd() noexcept = default;
  // Takes ownership of `fd`; a negative value (a failed open or socket call) owns nothing.
  explicit unique_fd(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Close now. An error from close() is ignored: the descriptor is released either way, and the
  // data-loss case it could report is what fdatasync, checked before, exists to catch.
  void reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

}  // namespace coraft::io
