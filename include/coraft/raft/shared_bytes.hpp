// coraft/raft/shared_bytes.hpp — an immutable, reference-counted byte buffer: an entry's payload.
//
// An entry is copied many times on its way (into each follower's AppendEntries, the storage's write
// queue, the application's apply channel); with a plain vector each copy would copy its bytes and
// allocate. A shared_bytes is written once, when it is made, and its copies share those bytes: a copy
// is a reference count bumped, and the last copy destroyed frees them.
//
// Representation: a pointer to a shared heap block (the count, and the vector the bytes came in if
// they did), and the bytes' place and size. A block may hold the bytes of many buffers:
//  * a buffer made from a vector taken over allocates the block only;
//  * small copies (copy_of: a proposal's command, an entry decoded from a message or read from disk)
//    are cut from a block of 32 KiB that the thread fills in turn, so they allocate nothing most of
//    the time; a bigger copy gets a block of its own, bytes included;
//  * a byte_block (below) is a block being filled by its owner, who hands out buffers of the parts
//    it has written: a receive buffer whose messages' entries are decoded as views of it.
// A block is freed when the last buffer of its bytes is: a small copy kept long keeps its whole
// block. Under AddressSanitizer (co/detail/pooling.hpp) every copy gets a block of its own, so that a
// read past a buffer is caught. The empty buffer allocates nothing.
//
// Thread-safety: the count is atomic, so copies may live and die on different threads (an application
// may hand applied entries to its own threads). The bytes are never written after a buffer of them is
// made, so reading them concurrently needs no lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "coraft/co/detail/pooling.hpp"
#include "coraft/raft/assert.hpp"

namespace coraft::raft {

using bytes = std::vector<std::byte>;

class byte_block;

class shared_bytes {
 public:
  using owner_type = byte_block;  // the buffer a decoder may cut views from (wire::input_owner)

  shared_bytes() noexcept = default;

  // Takes over the vector's buffer: allocates the shared block, never copies the bytes.
  shared_bytes(bytes&& owned)  // NOLINT(google-explicit-constructor): a payload is made from bytes
      : block_(owned.empty() ? nullptr : new block(std::move(owned))),
        data_(block_ ? block_->owned.data() : nullptr),
        size_(block_ ? block_->owned.size() : 0) {}

  // Copies the bytes.
  shared_bytes(const bytes& data)  // NOLINT(google-explicit-constructor)
      : shared_bytes(copy_of(data)) {}

  // A buffer holding a copy of `data`: cut from this thread's current block when small.
  static shared_bytes copy_of(std::span<const std::byte> data) {
    if (data.empty()) return {};
#if CORAFT_POOLING
    if (data.size() <= arena::largest_cut && !arena::thread_done) return arena::mine().copy(data);
#endif
    block* made = block::with_room(data.size());
    std::memcpy(made->inline_bytes(), data.data(), data.size());
    return shared_bytes(made, made->inline_bytes(), data.size());
  }

  // A view of `run`, which lies in the written part of `owner`'s block (see byte_block).
  static shared_bytes share(const byte_block& owner, std::span<const std::byte> run);

  shared_bytes(const shared_bytes& other) noexcept
      : block_(other.block_), data_(other.data_), size_(other.size_) {
    retain();
  }
  shared_bytes(shared_bytes&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  shared_bytes& operator=(const shared_bytes& other) noexcept {
    shared_bytes(other).swap(*this);
    return *this;
  }
  shared_bytes& operator=(shared_bytes&& other) noexcept {
    shared_bytes(std::move(other)).swap(*this);
    return *this;
  }
  ~shared_bytes() { release(); }

  void swap(shared_bytes& other) noexcept {
    std::swap(block_, other.block_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
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
    return (a.data_ == b.data_ && a.size_ == b.size_) || equal(a.span(), b.span());
  }
  friend bool operator==(const shared_bytes& a, const bytes& b) noexcept {
    return equal(a.span(), std::span<const std::byte>(b));
  }

 private:
  friend class byte_block;

  // The shared part: the count, and the bytes (after the block, in the same allocation, or in the
  // vector taken over). One block may hold the bytes of many buffers.
  struct block {
    block() noexcept = default;
    explicit block(bytes&& taken) noexcept : owned(std::move(taken)) {}

    // A block followed by `room` bytes, in one allocation.
    static block* with_room(std::size_t room) {
      void* memory = ::operator new(sizeof(block) + room);
      return new (memory) block();
    }

    std::byte* inline_bytes() noexcept { return reinterpret_cast<std::byte*>(this + 1); }
    bool holds_inline() const noexcept { return owned.empty(); }

    void retain() noexcept {
      // A new reference is made from an existing one, which keeps the block alive meanwhile: no
      // ordering is needed.
      references.fetch_add(1, std::memory_order_relaxed);
    }
    bool shared() const noexcept { return references.load(std::memory_order_acquire) > 1; }
    void release() noexcept {
      // Release, so that this owner's reads of the bytes happen before the last owner frees them;
      // acquire (for the last owner) to see every other owner's release.
      if (references.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      if (holds_inline()) {
        this->~block();
        ::operator delete(static_cast<void*>(this));
      } else {
        delete this;
      }
    }

    std::atomic<std::size_t> references{1};
    bytes owned;  // empty when the bytes are inline
  };

  // The block small copies are cut from, one per thread: filled from the front, each copy a buffer
  // holding a reference; when a copy does not fit, a fresh block replaces it.
  class arena {
   public:
    static constexpr std::size_t block_bytes = 32 * 1024;
    static constexpr std::size_t largest_cut = 1024;

    static arena& mine() {
      thread_local arena a;
      return a;
    }
    arena() = default;
    arena(const arena&) = delete;
    arena& operator=(const arena&) = delete;
    ~arena() {
      thread_done = true;  // copies made after this, by later thread_local destructors, get blocks of their own
      if (current_) std::exchange(current_, nullptr)->release();
    }

    // Set when this thread's arena is gone (trivially destructible, so readable until the end).
    static inline thread_local bool thread_done = false;

    shared_bytes copy(std::span<const std::byte> data) {
      if (!current_ || used_ + data.size() > block_bytes) {
        if (current_) current_->release();
        current_ = block::with_room(block_bytes);
        used_ = 0;
      }
      std::byte* at = current_->inline_bytes() + used_;
      std::memcpy(at, data.data(), data.size());
      used_ += data.size();
      current_->retain();
      return shared_bytes(current_, at, data.size());
    }

   private:
    block* current_ = nullptr;  // holds one reference of its own
    std::size_t used_ = 0;
  };

  shared_bytes(block* b, const std::byte* data, std::size_t size) noexcept
      : block_(b), data_(data), size_(size) {}

  static bool equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
  }

  void retain() noexcept {
    if (block_) block_->retain();
  }
  void release() noexcept {
    if (block_) std::exchange(block_, nullptr)->release();
  }

  block* block_ = nullptr;  // null for the empty buffer
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// A block its owner fills (a receive buffer): bytes are written at its end and never again once a
// buffer shares them. in_use() says whether any buffer still does; while none does, the owner may
// rewrite the whole block.
class byte_block {
 public:
  byte_block() = default;
  explicit byte_block(std::size_t capacity)
      : block_(shared_bytes::block::with_room(capacity)), capacity_(capacity) {}
  byte_block(byte_block&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)), capacity_(std::exchange(other.capacity_, 0)) {}
  byte_block& operator=(byte_block&& other) noexcept {
    byte_block(std::move(other)).swap(*this);
    return *this;
  }
  ~byte_block() {
    if (block_) block_->release();
  }
  void swap(byte_block& other) noexcept {
    std::swap(block_, other.block_);
    std::swap(capacity_, other.capacity_);
  }

  std::byte* data() noexcept { return block_ ? block_->inline_bytes() : nullptr; }
  const std::byte* data() const noexcept { return block_ ? block_->inline_bytes() : nullptr; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool in_use() const noexcept { return block_ && block_->shared(); }

  // A buffer of `run`, bytes of this block that will not be written again.
  shared_bytes share(std::span<const std::byte> run) const {
    if (run.empty()) return {};
    CORAFT_ASSERT(run.data() >= data() && run.data() + run.size() <= data() + capacity_,
                  "byte_block::share: the run lies in the block");
    block_->retain();
    return shared_bytes(block_, run.data(), run.size());
  }

 private:
  shared_bytes::block* block_ = nullptr;  // holds one reference of its own
  std::size_t capacity_ = 0;
};

inline shared_bytes shared_bytes::share(const byte_block& owner, std::span<const std::byte> run) {
  return owner.share(run);
}

// The bytes as text: handy for examples and tests.
inline std::string to_string(const shared_bytes& data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace coraft::raft
