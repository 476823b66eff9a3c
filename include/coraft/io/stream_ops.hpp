// coraft/io/stream_ops.hpp — whole-buffer reads and writes on any executor's streams.
//
// recv and send move "some bytes": as many as the kernel (or the simulated network) had at hand.
// Framed protocols want all of them. These two tasks loop until the buffer is done, and turn a peer
// that goes away in the middle into an error value instead of a short count to check by hand.
// They are written against the io::streams concept, so the real and the simulated transport share
// them.
//
// Both take the executor and the stream by reference: the caller awaits the task at once, and its
// frame (or whatever owns the connection) keeps both alive until the task ends.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <span>

#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/errors.hpp"

namespace coraft::io {

// Awaits recv until `buffer` is full. Ends with ok; with errc::end_of_stream if the peer closes
// first (the bytes received so far are at the front of `buffer`); with recv's error; or
// cancelled().
template <streams E>
co::task<co::result<void>> read_exactly(E& executor, typename E::stream& from,
                                        std::span<std::byte> buffer) {
  while (!buffer.empty()) {
    co::result<std::size_t> received = co_await executor.recv(from, buffer);
    if (!received) co_return received.error();
    if (*received == 0) co_return make_error_code(errc::end_of_stream);
    buffer = buffer.subspan(*received);
  }
  co_return co::result<void>{};
}

// Awaits send until every byte of `bytes` is sent. Ends with ok; with send's error (EPIPE or
// ECONNRESET when the peer has gone); with errc::short_write if the stream accepts nothing; or
// cancelled().
template <streams E>
co::task<co::result<void>> write_all(E& executor, typename E::stream& to,
                                     std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    co::result<std::size_t> sent = co_await executor.send(to, bytes);
    if (!sent) co_return sent.error();
    if (*sent == 0) co_return make_error_code(errc::short_write);
    bytes = bytes.subspan(*sent);
  }
  co_return co::result<void>{};
}

// Awaits sendv until every byte that `pieces` describes is sent: the gathered form of write_all, for
// frames whose large parts are referenced where they live. At most IOV_MAX pieces go in one sendv.
// `pieces` is used up: its entries are advanced past what was sent. Ends as write_all does.
template <streams E>
co::task<co::result<void>> write_all(E& executor, typename E::stream& to, std::span<iovec> pieces) {
  while (!pieces.empty()) {
    if (pieces.front().iov_len == 0) {
      pieces = pieces.subspan(1);
      continue;
    }
    const std::span<const iovec> batch = pieces.first(std::min<std::size_t>(pieces.size(), IOV_MAX));
    co::result<std::size_t> sent = co_await executor.sendv(to, batch);
    if (!sent) co_return sent.error();
    if (*sent == 0) co_return make_error_code(errc::short_write);
    for (std::size_t left = *sent; left > 0;) {
      iovec& first = pieces.front();
      const std::size_t taken = std::min(left, first.iov_len);
      first.iov_base = static_cast<std::byte*>(first.iov_base) + taken;
      first.iov_len -= taken;
      left -= taken;
      if (first.iov_len == 0) pieces = pieces.subspan(1);
    }
  }
  co_return co::result<void>{};
}

}  // namespace coraft::io
