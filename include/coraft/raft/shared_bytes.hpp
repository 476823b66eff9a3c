// coraft/raft/shared_bytes.hpp — an immutable, reference-counted byte buffer: an entry's payload.
//
// An entry is copied many times on its way (into each follower's AppendEntries, the storage's write
// queue, the application's apply channel); with a plain vector each copy would copy its bytes and
// allocate. A shared_bytes is written once, when it is made, and its copies share those bytes: a copy
// is a reference count bumped, and the last copy destroyed frees them.
//
// Representation: one heap block holding the count, the size, and either the bytes themselves (right
// after the block) or the vector they came in. So a buffer made from a vector taken over allocates
// the block only, and one copied from a span (a decoded message, a record read from disk) allocates
// once for block and bytes together; a shared_ptr<const bytes> would need two for the latter. The
// empty buffer allocates nothing.
//
// Thread-safety: the count is atomic, so copies may live and die on different threads (an application
// may hand applied entries to its own threads). The bytes are never written after construction, so
// reading them concurrently needs no lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "coraft/raft/assert.hpp"

namespace coraft::raft {

using bytes = std::vector<std::byte>;

class shared_bytes {
 public:
  shared_bytes() noexcept = default;

  // Takes over the vector's buffer: allocates the shared block, never copies the bytes.
  shared_bytes(bytes&& owned)  // NOLINT(google-explicit-constructor): a payload is made from bytes
      : block_(owned.empty() ? nullptr : new block(std::move(owned))) {}

  // Copies the bytes.
  shared_bytes(const bytes& data)  // NOLINT(google-explicit-constructor)
      : shared_bytes(copy_of(data)) {}

  // A buffer holding a copy of `data`, in a single allocation.
  static shared_bytes copy_of(std::span<const std::byte> data) {
    shared_bytes out;
    if (data.empty()) return out;
    void* memory = ::operator new(sizeof(block) + data.size());  // the block, then the bytes
    auto* made = new (memory) block(data.size());
    std::memcpy(made->inline_bytes(), data.data(), data.size());
    out.block_ = made;
    return out;
  }

  shared_bytes(const shared_bytes& other) noexcept : block_(other.block_) { retain(); }
  shared_bytes(shared_bytes&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  shared_bytes& operator=(const shared_bytes& other) noexcept {
    shared_bytes(other).swap(*this);
    return *this;
  }
  shared_bytes& operator=(shared_bytes&& other) noexcept {
    shared_bytes(std::move(other)).swap(*this);
    return *this;
  }
  ~shared_bytes() { release(); }

  void swap(shared_bytes& other) noexcept { std::swap(block_, other.block_); }

  const std::byte* data() const noexcept { return block_ ? block_->data : nullptr; }
  std::size_t size() const noexcept { return block_ ? block_->size : 0; }
  bool empty() const noexcept { return size() == 0; }
  const std::byte& operator[](std::size_t i) const {
    CORAFT_ASSERT(i < size(), "shared_bytes: index within the buffer");
    return data()[i];
  }
  const std::byte* begin() const noexcept { return data(); }
  const std::byte* end() const noexcept { return data() + size(); }

  std::span<const std::byte> span() const noexcept { return {data(), size()}; }
  operator std::span<const std::byte>() const noexcept { return span(); }  // NOLINT

  // A private, mutable copy of the bytes.
  bytes to_bytes() const { return bytes(begin(), end()); }

  friend bool operator==(const shared_bytes& a, const shared_bytes& b) noexcept {
    return a.block_ == b.block_ || equal(a.span(), b.span());
  }
  friend bool operator==(const shared_bytes& a, const bytes& b) noexcept {
    return equal(a.span(), std::span<const std::byte>(b));
  }

 private:
  struct block {
    // The bytes follow the block, in the same allocation.
    explicit block(std::size_t n) noexcept : size(n), data(inline_bytes()) {}
    // The bytes stay in the vector taken over; its buffer does not move with it.
    explicit block(bytes&& taken) noexcept
        : size(taken.size()), data(taken.data()), owned(std::move(taken)) {}

    std::byte* inline_bytes() noexcept { return reinterpret_cast<std::byte*>(this + 1); }
    bool holds_inline() const noexcept { return owned.empty(); }

    std::atomic<std::size_t> references{1};
    const std::size_t size;
    const std::byte* const data;
    bytes owned;  // empty when the bytes are inline
  };

  static bool equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
  }

  void retain() noexcept {
    // A new reference is made from an existing one, which keeps the block alive meanwhile: no
    // ordering is needed.
    if (block_) block_->references.fetch_add(1, std::memory_order_relaxed);
  }

  void release() noexcept {
    if (!block_) return;
    // Release, so that this owner's reads of the bytes happen before the last owner frees them;
    // acquire (for the last owner) to see every other owner's release.
    if (block_->references.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (block_->holds_inline()) {
      block_->~block();
      ::operator delete(static_cast<void*>(block_));
    } else {
      delete block_;
    }
    block_ = nullptr;
  }

  block* block_ = nullptr;  // null for the empty buffer; never points to an empty block
};

// The bytes as text: handy for examples and tests.
inline std::string to_string(const shared_bytes& data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace coraft::raft
