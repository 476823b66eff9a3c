// frame_pool: coroutine frames' memory is reused per thread, by size class (where pooling is on:
// not under AddressSanitizer, which must see every frame's end).
#include <doctest/doctest.h>

#include <coroutine>
#include <thread>
#include <utility>

#include <coraft/co/co.hpp>
#include <coraft/co/frame_pool.hpp>

using coraft::co::block_on;
using coraft::co::manual_scheduler;
using coraft::co::task;
using coraft::co::detail::frame_pool;

namespace {

// Yields the address of the frame of the coroutine that awaits it, without suspending.
struct own_frame {
  void* address = nullptr;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    address = h.address();
    return false;
  }
  void* await_resume() const noexcept { return address; }
};

task<void*> frame_of_this_task() { co_return co_await own_frame{}; }

}  // namespace

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

TEST_CASE("a task started after another one ended takes over its frame") {
  manual_scheduler sched;
  auto twice = []() -> task<std::pair<void*, void*>> {
    void* first = co_await frame_of_this_task();
    void* second = co_await frame_of_this_task();
    co_return std::pair{first, second};
  };
  const auto [first, second] = block_on(sched, twice());
  CHECK(first != nullptr);
  if (CORAFT_POOLING) CHECK(second == first);
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
