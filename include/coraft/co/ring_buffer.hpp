// coraft/co/ring_buffer.hpp — a double-ended queue in one circular array, for hot queues.
//
// A std::deque allocates and frees a block for every few elements that pass through it (a block is
// 512 bytes in libstdc++): a log appending a million entries a second, or a scheduler's ready queue,
// would allocate a hundred thousand times a second. This queue keeps its elements in one array whose capacity is a power of two, grown by doubling when
// full and halved when mostly empty: appending and dropping from either end allocate nothing in the
// steady state. Slots not in use hold default-constructed elements (for a log entry: no payload).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "coraft/raft/assert.hpp"

namespace coraft::co {

template <class T>
class ring_buffer {
 public:
  ring_buffer() = default;
  ring_buffer(const ring_buffer&) = default;
  ring_buffer& operator=(const ring_buffer&) = default;
  // A moved-from buffer is empty.
  ring_buffer(ring_buffer&& other) noexcept
      : slots_(std::move(other.slots_)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)) {
    other.slots_.clear();
  }
  ring_buffer& operator=(ring_buffer&& other) noexcept {
    slots_ = std::move(other.slots_);
    other.slots_.clear();
    head_ = std::exchange(other.head_, 0);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return slots_.size(); }

  T& operator[](std::size_t i) noexcept { return slots_[slot(i)]; }
  const T& operator[](std::size_t i) const noexcept { return slots_[slot(i)]; }
  T& front() noexcept { return (*this)[0]; }
  T& back() noexcept { return (*this)[size_ - 1]; }

  void push_back(T value) {
    if (size_ == slots_.size()) reallocate(slots_.empty() ? minimum_capacity : 2 * slots_.size());
    slots_[slot(size_)] = std::move(value);
    ++size_;
  }

  void pop_back() noexcept {
    CORAFT_ASSERT(size_ > 0, "ring_buffer: pop_back of an empty buffer");
    slots_[slot(size_ - 1)] = T{};
    --size_;
    shrink_if_sparse();
  }

  // Drops the first `count` elements.
  void pop_front(std::size_t count = 1) noexcept {
    CORAFT_ASSERT(count <= size_, "ring_buffer: pop_front of more than it holds");
    for (std::size_t i = 0; i < count; ++i) slots_[slot(i)] = T{};
    head_ = slot(count);
    size_ -= count;
    shrink_if_sparse();
  }

  void clear() noexcept { pop_front(size_); }

 private:
  static constexpr std::size_t minimum_capacity = 64;

  std::size_t slot(std::size_t i) const noexcept { return (head_ + i) & (slots_.size() - 1); }

  // Moves the elements to the front of a new array of `capacity` slots (a power of two).
  void reallocate(std::size_t capacity) {
    std::vector<T> moved(capacity);
    for (std::size_t i = 0; i < size_; ++i) moved[i] = std::move(slots_[slot(i)]);
    slots_ = std::move(moved);
    head_ = 0;
  }

  // After a large compaction, gives most of the array back (never below minimum_capacity). Best
  // effort: a failed allocation keeps the larger array.
  void shrink_if_sparse() noexcept {
    if (slots_.size() <= 4096 || size_ * 8 > slots_.size()) return;
    try {
      reallocate(slots_.size() / 4);
    } catch (...) {
    }
  }

  std::vector<T> slots_;  // size a power of two, or zero
  std::size_t head_ = 0;  // the slot of element 0
  std::size_t size_ = 0;
};

}  // namespace coraft::co
