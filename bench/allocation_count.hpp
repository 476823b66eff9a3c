// bench/allocation_count.hpp — counts heap allocations, per thread, by replacing the global
// operator new. Include it in exactly one translation unit of a benchmark binary (the one with
// main): replacement allocation functions must be defined once per program.
//
// Every allocation made through operator new on a thread adds one to that thread's
// `bench::allocations` — coroutine frames, message buffers, map nodes, std::function targets that do
// not fit their small buffer, stop states. malloc() called directly is not counted.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>

namespace bench {
inline thread_local std::uint64_t allocations = 0;
}  // namespace bench

// None is inlined, so that the compiler does not pair malloc() and free() with new and delete.
// The array and nothrow forms call these.
[[gnu::noinline]] void* operator new(std::size_t size) {
  ++bench::allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t size, std::align_val_t alignment) {
  ++bench::allocations;
  const auto align = static_cast<std::size_t>(alignment);
  if (void* p = std::aligned_alloc(align, (size + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
