// coraft/io/errors.hpp — the errors the I/O layer adds to errno, and kernel results as values.
//
// Most I/O errors are plain errno values (ECONNREFUSED, ENOENT, ENOSPC) and stay in the system
// category, so `r.error() == std::errc::connection_refused` reads naturally. This header adds the
// few outcomes errno has no word for, and the one conversion every awaiter uses.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <type_traits>

#include "coraft/co/result.hpp"

namespace coraft::io {

enum class errc {
  end_of_stream = 1,  // the peer closed the stream before the bytes we needed arrived
  short_write,        // the kernel accepted fewer bytes than asked and the write cannot go on
  invalid_address,    // the host is not an address this executor can use (not dotted IPv4)
};

inline const std::error_category& error_category() noexcept {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "coraft.io"; }
    std::string message(int code) const override {
      switch (static_cast<errc>(code)) {
        case errc::end_of_stream: return "end of stream";
        case errc::short_write: return "short write";
        case errc::invalid_address: return "invalid address";
      }
      return "unknown coraft.io error";
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace coraft::io

template <>
struct std::is_error_code_enum<coraft::io::errc> : std::true_type {};

namespace coraft::io {

// The error for a failed system call or completion whose result is `-err`. Cancellation is spelled
// co::cancelled() exactly, so that it compares equal to what every other awaitable returns.
inline std::error_code error_from_errno(int err) noexcept {
  if (err == ECANCELED) return co::cancelled();
  return co::errno_code(err);
}

}  // namespace coraft::io
