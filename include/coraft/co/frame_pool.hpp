// coraft/co/frame_pool.hpp — coroutine frames recycled per thread.
//
// A Raft node starts a coroutine for each proposal, each RPC and each timer race, and most of them
// are gone again within the millisecond: with plain operator new each would cost a trip through the
// heap allocator. Frames of task<T> and of scope's children come from here instead: the memory of a
// frame that ends is kept on a free list of its thread, by size class (multiples of 64 bytes up to
// 2 KiB), and the next frame of about that size takes it back. So in the steady state a coroutine
// allocates nothing. Larger frames, and frames beyond what a list keeps, go to operator new as usual.
//
// A frame may end on another thread than the one it began on: its memory joins that thread's lists.
// A thread's lists are freed when the thread ends; frames ended after that (by other thread_local
// destructors) go straight back to operator delete.
//
// Under AddressSanitizer, or with CORAFT_NO_POOLING defined, every frame is a plain allocation, so
// that a frame used after its end is still caught (detail/pooling.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "coraft/co/detail/pooling.hpp"

namespace coraft::co::detail {

class frame_pool {
 public:
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t size_classes = 32;  // frames up to 32 * 64 = 2 KiB
  static constexpr std::uint32_t kept_per_class = 1024;

  static void* allocate(std::size_t size) {
#if CORAFT_POOLING
    const std::size_t c = size_class(size);
    if (c < size_classes) {
      if (!thread_done) {
        free_lists& mine = lists();
        if (free_frame* f = mine.head[c]) {
          mine.head[c] = f->next;
          --mine.count[c];
          return f;
        }
      }
      // The class's full size, even once this thread's lists are gone: a frame may end on another
      // thread, whose lists then hand its memory to any frame of the class.
      return ::operator new((c + 1) * granule);
    }
#endif
    return ::operator new(size);
  }

  static void deallocate(void* frame, std::size_t size) noexcept {
#if CORAFT_POOLING
    const std::size_t c = size_class(size);
    if (c < size_classes && !thread_done) {
      free_lists& mine = lists();
      if (mine.count[c] < kept_per_class) {
        mine.head[c] = new (frame) free_frame{mine.head[c]};
        ++mine.count[c];
        return;
      }
    }
#else
    (void)size;
#endif
    ::operator delete(frame);
  }

 private:
  struct free_frame {
    free_frame* next;
  };

  struct free_lists {
    std::array<free_frame*, size_classes> head{};
    std::array<std::uint32_t, size_classes> count{};
    free_lists() = default;
    free_lists(const free_lists&) = delete;
    free_lists& operator=(const free_lists&) = delete;
    ~free_lists() {
      thread_done = true;
      for (free_frame* f : head) {
        while (f) ::operator delete(std::exchange(f, f->next));
      }
    }
  };

  // Sizes 1..64 are class 0, 65..128 class 1, and so on.
  static constexpr std::size_t size_class(std::size_t size) noexcept {
    return size == 0 ? 0 : (size - 1) / granule;
  }

  static free_lists& lists() noexcept {
    thread_local free_lists mine;
    return mine;
  }

  // Set when this thread's lists are gone (trivially destructible, so readable until the end).
  static inline thread_local bool thread_done = false;
};

// The operator new and delete a promise type inherits to take its frames from the pool.
struct pooled_frame {
  static void* operator new(std::size_t size) { return frame_pool::allocate(size); }
  static void operator delete(void* frame, std::size_t size) noexcept {
    frame_pool::deallocate(frame, size);
  }
};

}  // namespace coraft::co::detail
