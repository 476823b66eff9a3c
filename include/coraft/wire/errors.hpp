// coraft/wire/errors.hpp — why a sequence of bytes is not a valid message or frame.
//
// Bytes arrive from peers and from disk, so every malformation is an expected outcome, returned as
// a value in this category. Each error names the first rule the input broke, which is what a test
// or a log line needs to tell a torn read from a corrupted or hostile one.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

namespace coraft::wire {

enum class errc {
  truncated = 1,   // the input ends before the value, or declares more bytes than it holds
  bad_varint,      // an integer encoded in more bytes than needed, or beyond 64 bits
  out_of_range,    // an integer that does not fit the type of the field it decodes into
  bad_bool,        // a bool or an optional's presence byte that is neither 0 nor 1
  bad_enum,        // a value that is not one of the described enumerators of the field's enum
  trailing_bytes,  // bytes left over after a complete message or frame
  too_deep,        // recursive message nesting deeper than the decoder allows
  bad_magic,       // a frame that does not start with the expected magic bytes
  bad_version,     // a frame of a format version this decoder does not speak
  unknown_type,    // a frame whose message type is not in the protocol
  too_large,       // a frame payload larger than the configured maximum
  bad_crc,         // a frame whose checksum does not match its contents
};

inline const std::error_category& error_category() noexcept {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "coraft.wire"; }
    std::string message(int code) const override {
      switch (static_cast<errc>(code)) {
        case errc::truncated: return "truncated input";
        case errc::bad_varint: return "malformed varint";
        case errc::out_of_range: return "integer out of range for its field";
        case errc::bad_bool: return "bool byte neither 0 nor 1";
        case errc::bad_enum: return "value is not an enumerator";
        case errc::trailing_bytes: return "trailing bytes after the message";
        case errc::too_deep: return "message nesting too deep";
        case errc::bad_magic: return "bad frame magic";
        case errc::bad_version: return "unsupported frame version";
        case errc::unknown_type: return "unknown message type";
        case errc::too_large: return "frame too large";
        case errc::bad_crc: return "frame checksum mismatch";
      }
      return "unknown coraft.wire error";
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace coraft::wire

template <>
struct std::is_error_code_enum<coraft::wire::errc> : std::true_type {};
