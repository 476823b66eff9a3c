// frame_pool: coroutine frames' memory is reused per thread, by size class (where pooling is on:
// not under AddressSanitizer, which must see every frame's end).
#include <doctest/doctest.h>

#include <thread>

#include <coraft/co/co.hpp>
#include <coraft/co/frame_pool.hpp>

using coraft::co::task;
using coraft::co::detail::frame_pool;

TEST_CASE("a frame's memory goes to the next frame of its size class") {
  void* first = frame_pool::allocate(200);
  frame_pool::deallocate(first, 200);
  void* same_class = frame_pool::allocate(250);  // 193..256 bytes
  void* other_class = frame_pool::allocate(100);
  if (CORAFT_POOLING) {
    CHECK(same_class == first);
    CHECK(other_class != first);
  }
  frame_pool::deallocate(other_class, 100);
  frame_pool::deallocate(same_class, 250);

  void* huge = frame_pool::allocate(1 << 20);  // beyond the classes: a plain allocation
  frame_pool::deallocate(huge, 1 << 20);
}

TEST_CASE("a task's frame comes from the pool and goes back to it") {
  // (Through the promise's operator new and delete: a compiler may build a task's frame inside its
  // caller's instead, when it sees the whole of the task's life.)
  using promise = task<int>::promise_type;
  void* frame = promise::operator new(200);
  promise::operator delete(frame, 200);
  void* next = frame_pool::allocate(200);
  if (CORAFT_POOLING) CHECK(next == frame);
  frame_pool::deallocate(next, 200);
}

TEST_CASE("a frame may end on another thread than the one it began on") {
  void* frame = frame_pool::allocate(300);
  std::thread other([frame] {
    frame_pool::deallocate(frame, 300);      // joins that thread's list...
    void* again = frame_pool::allocate(300);  // ...which serves it next
    if (CORAFT_POOLING) CHECK(again == frame);
    frame_pool::deallocate(again, 300);
  });  // the thread's lists are freed when it ends
  other.join();
}
