// coraft/raft/transport/tcp/frame_reader.hpp — whole frames off a byte stream, in bounded memory.
//
// The reader receives into one buffer as much as the kernel has (several small frames often arrive
// in one recv) and hands out one decoded message at a time. A frame's header is checked before its
// payload is waited for, so a forged length larger than the frame options allow is refused at once,
// and the buffer never grows beyond one maximal frame.
//
// Entries' payloads are decoded as views of the buffer (raft::byte_block), not copies: a follower's
// log holds the very bytes that came off the wire. So the reader never rewrites bytes a view may
// share: while any view of its buffer lives, it receives only into the space after them, and when
// that runs out it moves the unread bytes to a new buffer and leaves the old one to its views.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>

#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/raft/shared_bytes.hpp"
#include "coraft/wire/frame.hpp"

namespace coraft::raft::tcp {

template <class Protocol, io::streams Executor>
class frame_reader {
 public:
  static constexpr std::size_t initial_capacity = 64 * 1024;

  // The executor and the stream must outlive the reader; the reader must outlive next()'s tasks.
  frame_reader(Executor& executor, typename Executor::stream& from, wire::frame_options options)
      : executor_(executor), from_(from), options_(options), buffer_(initial_capacity) {}

  // Awaits the next whole frame. Ends with its message; with a wire error for a frame that is not
  // valid (the stream has lost its place: close it); with io::errc::end_of_stream when the peer
  // closes; with recv's error; or cancelled().
  co::task<co::result<typename Protocol::message>> next() {
    while (true) {
      const std::span<const std::byte> available(buffer_.data() + begin_, end_ - begin_);
      std::size_t needed = wire::frame_header_size;
      if (available.size() >= wire::frame_header_size) {
        auto header = wire::parse_frame_header<Protocol>(available, options_);
        if (!header) co_return header.error();
        needed = header->frame_size();
        if (available.size() >= needed) {
          auto message = wire::decode_frame_payload<Protocol>(
              *header, available.subspan(wire::frame_header_size, header->payload_size), options_,
              wire::input_owner::of(buffer_));
          consume(needed);
          co_return message;
        }
      }
      make_room(needed);
      const std::span<std::byte> space(buffer_.data() + end_, buffer_.capacity() - end_);
      co::result<std::size_t> received = co_await executor_.recv(from_, space);
      if (!received) co_return received.error();
      if (*received == 0) co_return io::make_error_code(io::errc::end_of_stream);
      end_ += *received;
    }
  }

 private:
  void consume(std::size_t bytes) {
    begin_ += bytes;
    if (begin_ != end_ || buffer_.in_use()) return;  // views of the buffer keep what they see
    begin_ = end_ = 0;
    // After an unusually large frame, give the memory back.
    if (buffer_.capacity() > 4 * initial_capacity) buffer_ = byte_block(initial_capacity);
  }

  // Makes the buffer able to hold `frame_size` bytes from begin_, with free space after end_.
  void make_room(std::size_t frame_size) {
    if (begin_ + frame_size <= buffer_.capacity() && end_ < buffer_.capacity()) return;
    const std::size_t unread = end_ - begin_;
    if (!buffer_.in_use() && frame_size <= buffer_.capacity()) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, unread);
    } else {
      byte_block next(std::max({initial_capacity, frame_size,
                                frame_size > buffer_.capacity() ? 2 * buffer_.capacity() : 0}));
      std::memcpy(next.data(), buffer_.data() + begin_, unread);
      buffer_ = std::move(next);
    }
    begin_ = 0;
    end_ = unread;
  }

  Executor& executor_;
  typename Executor::stream& from_;
  wire::frame_options options_;
  byte_block buffer_;
  std::size_t begin_ = 0;  // the first byte not yet handed out
  std::size_t end_ = 0;    // one past the last byte received
};

}  // namespace coraft::raft::tcp
