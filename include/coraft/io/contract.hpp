// coraft/io/contract.hpp — what Raft needs from the world, as C++20 concepts.
//
// Two executors implement this contract: io::uring_executor (real time, real sockets, real files,
// one io_uring per thread) and sim::host (virtual time, a simulated network and disk, driven from a
// seed). Code written against the concepts — the Raft node, its storage and its transport — runs
// unchanged on both.
//
// Every operation is an awaitable that lives in the awaiting coroutine's frame (no allocation per
// operation) and yields a co::result: errors are values (a closed peer, a refused connect, ENOSPC),
// and every suspending operation returns co::cancelled() when the awaiting coroutine's stop token
// fires first. Coroutines are resumed on the executor's scheduler, never inline.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <sys/uio.h>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/co/scheduler.hpp"
#include "coraft/io/endpoint.hpp"

namespace coraft::io {

// Time is monotonic. The simulator's virtual clock uses the same types, starting from zero.
using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using duration = clock::duration;

// `A` is an awaitable (awaiter) whose co_await yields exactly `R`.
template <class A, class R>
concept awaitable_of = requires(A a) {
  { a.await_ready() } -> std::convertible_to<bool>;
  { a.await_resume() } -> std::same_as<R>;
};

// The executor is the scheduler its coroutines run on.
template <class E>
concept scheduling = std::derived_from<E, co::scheduler>;

// Clock and timers. sleep_until yields ok when the time has come, cancelled() if stopped first.
template <class E>
concept timers = requires(E& e, time_point when, duration how_long) {
  { e.now() } -> std::same_as<time_point>;
  { e.sleep_until(when) } -> awaitable_of<co::result<void>>;
  { e.sleep_for(how_long) } -> awaitable_of<co::result<void>>;
};

// Run a function on the executor's thread, from any thread (the only thread-safe entry point).
template <class E>
concept posting = requires(E& e, std::function<void()> fn) {
  { e.post(std::move(fn)) } -> std::same_as<void>;
};

// TCP-like byte streams. recv yields the number of bytes read, 0 meaning the peer closed in order;
// send yields the number of bytes written (possibly fewer than asked). Handles close on destruction.
template <class E>
concept streams = requires(E& e, typename E::listener& l, typename E::stream& s, const endpoint& ep,
                           std::span<std::byte> in, std::span<const std::byte> out,
                           std::span<const iovec> gather) {
  { e.listen(ep) } -> std::same_as<co::result<typename E::listener>>;
  { l.local_endpoint() } -> std::same_as<endpoint>;
  { e.accept(l) } -> awaitable_of<co::result<typename E::stream>>;
  { e.connect(ep) } -> awaitable_of<co::result<typename E::stream>>;
  { e.recv(s, in) } -> awaitable_of<co::result<std::size_t>>;
  { e.send(s, out) } -> awaitable_of<co::result<std::size_t>>;
  { e.sendv(s, gather) } -> awaitable_of<co::result<std::size_t>>;
};

// Files and the directory operations that durable storage needs. Offsets are explicit (pread /
// pwrite); write_and_sync writes and then fdatasyncs as one operation (a write with RWF_DSYNC on io_uring) and
// yields ok only once both have completed. remove takes a file's name away at once, on the calling
// thread; unlink does the same as an awaited operation, which on io_uring runs off the executor's
// thread (freeing a large file's blocks can take tens of milliseconds). punch_hole frees a file's
// blocks in a range without changing its size (reads there return zeros), also off the thread.
template <class E>
concept files = requires(E& e, typename E::file& f, const std::string& path, int flags,
                         std::span<std::byte> in, std::span<const std::byte> out,
                         std::span<const iovec> gather, std::uint64_t offset) {
  { e.open(path, flags) } -> awaitable_of<co::result<typename E::file>>;
  { e.pread(f, in, offset) } -> awaitable_of<co::result<std::size_t>>;
  { e.pwrite(f, out, offset) } -> awaitable_of<co::result<std::size_t>>;
  { e.pwritev(f, gather, offset) } -> awaitable_of<co::result<std::size_t>>;
  { e.fdatasync(f) } -> awaitable_of<co::result<void>>;
  { e.write_and_sync(f, gather, offset) } -> awaitable_of<co::result<void>>;
  { e.file_size(f) } -> std::same_as<co::result<std::uint64_t>>;
  { e.truncate(f, offset) } -> std::same_as<co::result<void>>;
  { e.preallocate(f, offset) } -> std::same_as<co::result<void>>;
  { e.punch_hole(f, offset, offset) } -> awaitable_of<co::result<void>>;
  { e.rename(path, path) } -> std::same_as<co::result<void>>;
  { e.remove(path) } -> std::same_as<co::result<void>>;
  { e.unlink(path) } -> awaitable_of<co::result<void>>;
  { e.make_directory(path) } -> std::same_as<co::result<void>>;
  { e.sync_directory(path) } -> awaitable_of<co::result<void>>;
  { e.list_directory(path) } -> std::same_as<co::result<std::vector<std::string>>>;
};

// Everything a Raft node, its file storage and its TCP transport need.
template <class E>
concept executor = scheduling<E> && timers<E> && posting<E> && streams<E> && files<E>;

}  // namespace coraft::io
