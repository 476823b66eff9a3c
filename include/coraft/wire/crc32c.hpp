// coraft/wire/crc32c.hpp — CRC-32C (Castagnoli), the checksum of frames and durable records.
//
// CRC-32C is chosen over the zlib CRC-32 because x86 computes it in hardware (SSE4.2) and its
// polynomial detects more error patterns in the message sizes Raft sends. The value follows the
// usual convention (reflected polynomial 0x82F63B78, initial value and final xor all ones), so
// crc32c("123456789") == 0xE3069283 and checksums agree with other implementations.
//
// `crc` carries a previous result forward: crc32c(b, crc32c(a)) == crc32c(a followed by b), which lets
// a record's header and payload be checksummed without first copying them together.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CORAFT_WIRE_CRC32C_X86 1
#endif

namespace coraft::wire {

namespace detail {

inline constexpr std::uint32_t crc32c_polynomial = 0x82F63B78u;  // 0x1EDC6F41 bit-reversed

// Slicing-by-8 tables: table[0] is the classic byte-at-a-time table; table[k][b] is the CRC of byte
// b followed by k zero bytes, so eight input bytes fold into the CRC with eight independent lookups.
using crc32c_tables = std::array<std::array<std::uint32_t, 256>, 8>;

consteval crc32c_tables make_crc32c_tables() {
  crc32c_tables tables{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? crc32c_polynomial : 0u);
    tables[0][byte] = crc;
  }
  for (std::size_t k = 1; k < tables.size(); ++k)
    for (std::size_t byte = 0; byte < 256; ++byte) {
      const std::uint32_t previous = tables[k - 1][byte];
      tables[k][byte] = (previous >> 8) ^ tables[0][previous & 0xFFu];
    }
  return tables;
}

inline constexpr crc32c_tables crc32c_table = make_crc32c_tables();

// Both kernels take and return the CRC register (already inverted), not the published value.

inline std::uint32_t crc32c_software(const std::byte* data, std::size_t size,
                                     std::uint32_t crc) noexcept {
  const auto& t = crc32c_table;
  const auto at = [&data](std::size_t i) { return static_cast<std::uint32_t>(data[i]); };
  while (size >= 8) {
    // Bytes are assembled explicitly (not loaded as a word) so the result is the same on any
    // endianness; compilers turn this into a single load on little-endian targets.
    const std::uint32_t low = crc ^ (at(0) | at(1) << 8 | at(2) << 16 | at(3) << 24);
    crc = t[7][low & 0xFFu] ^ t[6][(low >> 8) & 0xFFu] ^ t[5][(low >> 16) & 0xFFu] ^
          t[4][low >> 24] ^ t[3][at(4)] ^ t[2][at(5)] ^ t[1][at(6)] ^ t[0][at(7)];
    data += 8;
    size -= 8;
  }
  while (size-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ static_cast<std::uint32_t>(*data++)) & 0xFFu];
  return crc;
}

#if defined(CORAFT_WIRE_CRC32C_X86)

// The SSE4.2 crc32 instruction implements exactly this polynomial and bit order.
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_sse42(const std::byte* data,
                                                                    std::size_t size,
                                                                    std::uint32_t crc) noexcept {
#if defined(__x86_64__)
  std::uint64_t wide = crc;
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, data, sizeof word);  // unaligned and alias-safe; x86 is little-endian
    wide = _mm_crc32_u64(wide, word);
    data += 8;
    size -= 8;
  }
  crc = static_cast<std::uint32_t>(wide);
#endif
  while (size >= 4) {
    std::uint32_t word;
    std::memcpy(&word, data, sizeof word);
    crc = _mm_crc32_u32(crc, word);
    data += 4;
    size -= 4;
  }
  while (size-- > 0) crc = _mm_crc32_u8(crc, static_cast<unsigned char>(*data++));
  return crc;
}

inline bool cpu_has_sse42() noexcept {
#if defined(__SSE4_2__)
  return true;
#else
  static const bool supported = [] {
    __builtin_cpu_init();  // needed when called before the runtime's own constructors have run
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return supported;
#endif
}

#endif  // CORAFT_WIRE_CRC32C_X86

}  // namespace detail

// The CRC-32C of `data`, continuing from `crc` (the result for the bytes before it, 0 to start).
inline std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept {
  const std::uint32_t reg = ~crc;
#if defined(CORAFT_WIRE_CRC32C_X86)
  if (detail::cpu_has_sse42()) return ~detail::crc32c_sse42(data.data(), data.size(), reg);
#endif
  return ~detail::crc32c_software(data.data(), data.size(), reg);
}

}  // namespace coraft::wire
