// coraft/wire/writer.hpp — appends encoded bytes to a caller's buffer.
//
// The writer owns nothing: it appends to a std::vector<std::byte> the caller keeps, so a transport
// can encode a frame straight into its send buffer and reuse that buffer's capacity message after
// message, with no intermediate copy.
//
// A writer may also gather: given a `gathered_bytes`, it copies small values into the buffer as
// usual but only *references* byte runs of at least a threshold (an entry's payload, a snapshot
// chunk). The result is a list of segments for one gathered send (sendmsg with an iovec array), so a
// large AppendEntries goes to the socket without a copy of its entries. The referenced bytes must
// stay alive and unchanged until the segments are sent.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "coraft/wire/varint.hpp"

namespace coraft::wire {

// Encoded bytes in pieces: runs of `own` bytes, and runs of bytes held elsewhere.
struct gathered_bytes {
  struct segment {
    const std::byte* external = nullptr;  // null: a run of `own`, starting at `offset`
    std::size_t offset = 0;
    std::size_t size = 0;
  };

  std::vector<std::byte> own;
  std::vector<segment> segments;  // in order; every byte of `own` is in one once it is closed
  std::size_t closed = 0;         // bytes of `own` that segments already cover

  // Ends the current run of own bytes, so that what follows starts a new segment.
  void close_own_run() {
    if (own.size() > closed) segments.push_back({nullptr, closed, own.size() - closed});
    closed = own.size();
  }

  void reference(std::span<const std::byte> bytes) {
    close_own_run();
    segments.push_back({bytes.data(), 0, bytes.size()});
  }

  std::span<const std::byte> bytes_of(const segment& s) const noexcept {
    return s.external ? std::span(s.external, s.size) : std::span(own).subspan(s.offset, s.size);
  }

  // The segments as iovecs, valid until `own` next changes.
  void append_iovecs(std::vector<iovec>& out) {
    close_own_run();
    for (const segment& s : segments) {
      auto bytes = bytes_of(s);
      out.push_back({const_cast<std::byte*>(bytes.data()), bytes.size()});
    }
  }

  std::size_t size() const noexcept {
    std::size_t total = own.size() - closed;
    for (const segment& s : segments) total += s.size;
    return total;
  }

  void clear() noexcept {
    own.clear();
    segments.clear();
    closed = 0;
  }
};

class writer {
 public:
  explicit writer(std::vector<std::byte>& out) noexcept : out_(&out) {}

  // A gathering writer: byte runs of at least `reference_threshold` bytes are referenced, not
  // copied. The threshold is at least 16, so that frame headers are always copied.
  writer(gathered_bytes& out, std::size_t reference_threshold) noexcept
      : out_(&out.own), gathered_(&out),
        reference_threshold_(reference_threshold < 16 ? 16 : reference_threshold) {}

  std::vector<std::byte>& buffer() noexcept { return *out_; }

  void write_byte(std::byte value) { out_->push_back(value); }

  void write_bytes(std::span<const std::byte> data) {
    if (gathered_ && data.size() >= reference_threshold_) return gathered_->reference(data);
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
  gathered_bytes* gathered_ = nullptr;  // set for a gathering writer
  std::size_t reference_threshold_ = 0;
};

}  // namespace coraft::wire
