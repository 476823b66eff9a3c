// coraft/wire/writer.hpp — appends encoded bytes to a caller's buffer.
//
// The writer owns nothing: it appends to a std::vector<std::byte> the caller keeps, so a transport
// can encode a frame straight into its send buffer and reuse that buffer's capacity message after
// message, with no intermediate copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "coraft/wire/varint.hpp"

namespace coraft::wire {

class writer {
 public:
  explicit writer(std::vector<std::byte>& out) noexcept : out_(&out) {}

  std::vector<std::byte>& buffer() noexcept { return *out_; }
  std::size_t size() const noexcept { return out_->size(); }

  void write_byte(std::byte value) { out_->push_back(value); }

  void write_bytes(std::span<const std::byte> data) {
    out_->insert(out_->end(), data.begin(), data.end());
  }

  void write_varint(std::uint64_t value) {
    if (value < 0x80) return write_byte(static_cast<std::byte>(value));  // the common case
    std::byte encoded[max_varint_size];
    std::byte* end = put_varint(encoded, value);
    out_->insert(out_->end(), encoded, end);
  }

  // Fixed-width little-endian, for frame headers whose size must be known before the payload is.
  void write_u32_le(std::uint32_t value) {
    const std::size_t at = out_->size();
    out_->resize(at + 4);
    store_u32_le(at, value);
  }

  // Overwrites four bytes already written, at `offset` from the start of the buffer: used to fill
  // in a header's length and checksum once the payload after it has been encoded.
  void store_u32_le(std::size_t offset, std::uint32_t value) noexcept {
    for (std::size_t i = 0; i < 4; ++i)
      (*out_)[offset + i] = static_cast<std::byte>(value >> (8 * i));
  }

 private:
  std::vector<std::byte>* out_;  // never null; the caller keeps it alive while the writer is used
};

}  // namespace coraft::wire
