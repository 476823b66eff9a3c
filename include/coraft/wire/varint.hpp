// coraft/wire/varint.hpp — how integers look on the wire.
//
// Unsigned integers are LEB128 varints: seven bits per byte, least significant group first, the high
// bit set on every byte but the last. Terms, indexes and lengths are small almost always, so most
// take one or two bytes instead of eight, and no integer takes more than ten.
//
// Signed integers are zigzag-mapped first (0, -1, 1, -2, ... become 0, 1, 2, 3, ...) so that small
// negative numbers stay short instead of costing ten bytes each.
//
// Every value has exactly one encoding: the decoder rejects extra zero groups ("0x80 0x00" for 0)
// and anything past 64 bits. A unique encoding keeps checksums of equal messages equal.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coraft::wire {

inline constexpr std::size_t max_varint_size = 10;  // ceil(64 / 7)

// How many bytes `value` takes as a varint.
constexpr std::size_t varint_size(std::uint64_t value) noexcept {
  std::size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

// Writes `value` to `out`, which must have room for varint_size(value) bytes; returns the byte
// after the last one written.
constexpr std::byte* put_varint(std::byte* out, std::uint64_t value) noexcept {
  while (value >= 0x80) {
    *out++ = static_cast<std::byte>((value & 0x7F) | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<std::byte>(value);
  return out;
}

constexpr std::uint64_t zigzag_encode(std::int64_t value) noexcept {
  // C++20 defines >> on negative values as arithmetic, so the shift spreads the sign bit.
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}

constexpr std::int64_t zigzag_decode(std::uint64_t value) noexcept {
  return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

}  // namespace coraft::wire
