// coraft/sim/connections.hpp — established byte streams between hosts: in order, late, breakable.
//
// A connection has two ends (side 0 connected, side 1 accepted) and, for each direction, a pipe:
// bytes in flight and bytes arrived but not yet read. The model is TCP's, seen from user space:
//  * send() hands bytes to the network at once and returns how many it took; they arrive after the
//    link's delay (losses cost retransmissions, see links.hpp), never before earlier bytes of the
//    same direction. A direction holds at most `window` bytes in flight or unread; a sender that
//    finds it full waits until the reader makes room (back-pressure, and short sends).
//  * recv() returns what has arrived, waiting if nothing has; 0 once the peer closed its end and
//    every byte before the close has been read (and, at once, for an empty buffer).
//  * Destroying a stream closes its end: the peer reads the rest, then end of stream. Bytes that
//    arrive at a closed end make the connection reset (the peer's next operation fails).
//  * A connection breaks, with an error on both ends and its unread bytes discarded, when a host
//    at either end crashes (ECONNRESET) or when the link between them is cut by a partition or a
//    disconnection (ETIMEDOUT: as if the peer had stopped answering and the stack had given up).
//  * Any operation by a host that is down yields cancelled().
#pragma once

#include <algorithm>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <sys/uio.h>
#include <utility>
#include <vector>

#include "coraft/co/context.hpp"
#include "coraft/co/detail/waiter.hpp"
#include "coraft/co/result.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/sim/links.hpp"
#include "coraft/sim/world.hpp"

namespace coraft::sim {

class connections;

// One end of an established connection. Move-only; destroying it closes that end.
class stream {
 public:
  stream() = default;
  stream(stream&& other) noexcept
      : table_(std::exchange(other.table_, nullptr)), id_(other.id_), side_(other.side_) {}
  stream& operator=(stream&& other) noexcept {
    if (this != &other) {
      close();
      table_ = std::exchange(other.table_, nullptr);
      id_ = other.id_;
      side_ = other.side_;
    }
    return *this;
  }
  ~stream() { close(); }

  bool is_open() const noexcept { return table_ != nullptr; }
  std::uint64_t connection_id() const noexcept { return id_; }
  inline void close() noexcept;

 private:
  friend class connections;
  stream(connections* table, std::uint64_t id, int side) noexcept
      : table_(table), id_(id), side_(side) {}

  connections* table_ = nullptr;  // null once closed or moved from
  std::uint64_t id_ = 0;
  int side_ = 0;
};

struct stream_settings {
  io::duration connect_timeout = std::chrono::seconds(1);  // a connect nobody answers fails then
  io::duration retransmission_timeout = std::chrono::milliseconds(200);
  std::size_t window = 256 * 1024;  // bytes one direction holds in flight or unread
};

class connections {
 public:
  connections(world& w, sim::links& l) : world_(&w), links_(&l) {}
  connections(const connections&) = delete;
  connections& operator=(const connections&) = delete;

  stream_settings& settings() noexcept { return settings_; }

  // A new connection from `client` (side 0) to `server` (side 1). Each end gets a handle through
  // end(); until then that end counts as open, with nobody reading.
  std::uint64_t open(const std::string& client, const std::string& server) {
    const std::uint64_t id = next_id_++;
    connection& c = by_id_[id];
    c.host[0] = client;
    c.host[1] = server;
    world_->note(client, "connected", id);
    return id;
  }
  stream end(std::uint64_t id, int side) noexcept { return stream(this, id, side); }

  // The error that broke the connection, if it broke (a missing connection counts as EBADF).
  std::error_code broken(std::uint64_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? co::errno_code(EBADF) : it->second.broken;
  }

  // Break the connection: both ends see `why`, unread and in-flight bytes are gone.
  void reset(std::uint64_t id, std::error_code why) {
    auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second.broken) return;
    connection& c = it->second;
    c.broken = why;
    world_->note(c.host[0] + "-" + c.host[1], "reset", id);
    for (pipe& p : c.toward) {
      p.arrived.clear();
      p.in_flight = 0;
      wake_all(p, why);
    }
  }
  // Break every connection with an end on `host` (it crashed).
  void reset_host(const std::string& host, std::error_code why) {
    for (auto& [id, c] : by_id_) {
      if (c.host[0] == host || c.host[1] == host) reset(id, why);
    }
  }
  // Break every connection whose link is now cut.
  void reset_cut(std::error_code why) {
    for (auto& [id, c] : by_id_) {
      if (links_->cut(c.host[0], c.host[1])) reset(id, why);
    }
  }

  // `co_await recv(s, buffer)`: the number of bytes read (at least one), 0 at end of stream, or an
  // error. Waits while nothing has arrived; ends when bytes or the end arrive, the connection
  // breaks, or the awaiting coroutine is cancelled.
  class recv_awaiter : public co::detail::waiter {
   public:
    recv_awaiter(connections* table, const stream& s, std::span<std::byte> buffer) noexcept
        : table_(table), id_(s.id_), side_(s.side_), buffer_(buffer) {}
    bool await_ready() const noexcept { return false; }
    template <co::has_context Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      if (h.promise().ctx().stop.stop_requested()) {
        completed_.emplace(co::cancelled());
        return false;
      }
      if (auto done = table_->try_recv(id_, side_, buffer_)) {
        completed_.emplace(std::move(*done));
        return false;
      }
      return park(table_->by_id_.at(id_).toward[side_].readers, h);
    }
    co::result<std::size_t> await_resume() {
      if (completed_) return std::move(*completed_);
      if (outcome()) return outcome();
      return received_;
    }

   private:
    friend class connections;
    connections* table_;
    std::uint64_t id_;
    int side_;
    std::span<std::byte> buffer_;
    std::size_t received_ = 0;  // set by whoever wakes this reader with bytes
    std::optional<co::result<std::size_t>> completed_;  // set when it completed without waiting
  };
  recv_awaiter recv(const stream& s, std::span<std::byte> buffer) {
    return recv_awaiter(this, s, buffer);
  }

  // `co_await send(s, pieces)`: how many bytes the network took (at least one, unless nothing was
  // asked), or an error. Waits while the direction's window is full; ends when the reader makes
  // room, the connection breaks, or the awaiting coroutine is cancelled.
  class send_awaiter : public co::detail::waiter {
   public:
    send_awaiter(connections* table, const stream& s, std::span<const iovec> pieces) noexcept
        : table_(table), id_(s.id_), side_(s.side_), pieces_(pieces) {}
    send_awaiter(connections* table, const stream& s, std::span<const std::byte> bytes) noexcept
        : table_(table), id_(s.id_), side_(s.side_),
          single_{const_cast<std::byte*>(bytes.data()), bytes.size()}, pieces_(&single_, 1) {}
    bool await_ready() const noexcept { return false; }
    template <co::has_context Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      if (h.promise().ctx().stop.stop_requested()) {
        completed_.emplace(co::cancelled());
        return false;
      }
      if (auto done = table_->try_send(id_, side_, pieces_)) {
        completed_.emplace(std::move(*done));
        return false;
      }
      return park(table_->by_id_.at(id_).toward[1 - side_].writers, h);
    }
    co::result<std::size_t> await_resume() {
      if (completed_) return std::move(*completed_);
      if (outcome()) return outcome();
      return sent_;
    }

   private:
    friend class connections;
    connections* table_;
    std::uint64_t id_;
    int side_;
    iovec single_{};  // the one piece of a plain send(); pieces_ may point at it, so no moving
    std::span<const iovec> pieces_;
    std::size_t sent_ = 0;  // set by whoever wakes this writer after sending for it
    std::optional<co::result<std::size_t>> completed_;
  };
  send_awaiter send(const stream& s, std::span<const std::byte> bytes) {
    return send_awaiter(this, s, bytes);
  }
  send_awaiter sendv(const stream& s, std::span<const iovec> pieces) {
    return send_awaiter(this, s, pieces);
  }

 private:
  friend class stream;

  // The bytes travelling toward one end.
  struct pipe {
    std::deque<std::byte> arrived;    // delivered, not yet read
    std::size_t in_flight = 0;        // sent, not yet delivered
    io::time_point last_arrival{};    // no segment may arrive before this: keeps bytes in order
    bool ended = false;               // the sender's close has arrived, after all its bytes
    co::detail::waiter_queue readers;  // recv_awaiters of the receiving end
    co::detail::waiter_queue writers;  // send_awaiters of the sending end, waiting for room
  };
  struct connection {
    std::string host[2];
    pipe toward[2];                  // toward[s]: bytes on their way to side s
    bool open[2] = {true, true};     // side s has not been closed
    std::error_code broken;          // once set, every operation on either end yields it
  };

  std::optional<co::result<std::size_t>> try_recv(std::uint64_t id, int side,
                                                  std::span<std::byte> buffer) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return co::errno_code(EBADF);
    connection& c = it->second;
    if (!links_->is_up(c.host[side])) return co::cancelled();
    if (c.broken) return c.broken;
    pipe& p = c.toward[side];
    if (buffer.empty()) return 0;
    if (!p.arrived.empty()) {
      const std::size_t n = take(p, buffer);
      make_room(c, id, side);
      return n;
    }
    if (p.ended) return 0;
    return std::nullopt;  // wait
  }

  std::optional<co::result<std::size_t>> try_send(std::uint64_t id, int side,
                                                  std::span<const iovec> pieces) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return co::errno_code(EBADF);
    connection& c = it->second;
    if (!links_->is_up(c.host[side])) return co::cancelled();
    if (c.broken) return c.broken;
    std::size_t total = 0;
    for (const iovec& piece : pieces) total += piece.iov_len;
    if (total == 0) return 0;
    const std::size_t room = free_space(c.toward[1 - side]);
    if (room == 0) return std::nullopt;  // wait
    return transmit(c, id, side, pieces, room);
  }

  std::size_t free_space(const pipe& p) const noexcept {
    const std::size_t used = p.in_flight + p.arrived.size();
    return used >= settings_.window ? 0 : settings_.window - used;
  }

  static std::size_t take(pipe& p, std::span<std::byte> buffer) {
    const std::size_t n = std::min(buffer.size(), p.arrived.size());
    std::copy_n(p.arrived.begin(), n, buffer.begin());
    p.arrived.erase(p.arrived.begin(), p.arrived.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }

  // Send up to `limit` bytes of `pieces` from `side`; they arrive in order after the link's delay.
  std::size_t transmit(connection& c, std::uint64_t id, int side, std::span<const iovec> pieces,
                       std::size_t limit) {
    std::vector<std::byte> segment;
    for (const iovec& piece : pieces) {
      const std::size_t n = std::min(piece.iov_len, limit - segment.size());
      const auto* base = static_cast<const std::byte*>(piece.iov_base);
      segment.insert(segment.end(), base, base + n);
      if (segment.size() == limit) break;
    }
    const std::size_t n = segment.size();
    world_->note(c.host[side], "send", n);
    deliver_in_order(c, id, 1 - side, std::move(segment), false);
    return n;
  }

  void deliver_in_order(connection& c, std::uint64_t id, int to, std::vector<std::byte> segment,
                        bool end_of_stream) {
    auto delay = links_->segment_delay(c.host[1 - to], c.host[to],
                                       settings_.retransmission_timeout);
    if (!delay) {  // the link is down: nothing more can get through this connection
      reset(id, co::errno_code(ETIMEDOUT));
      return;
    }
    pipe& p = c.toward[to];
    p.last_arrival = std::max(world_->now() + *delay, p.last_arrival);
    p.in_flight += segment.size();
    world_->at(p.last_arrival, [this, id, to, segment = std::move(segment), end_of_stream] {
      arrive(id, to, segment, end_of_stream);
    });
  }

  // A segment (or the end of the stream) reaches side `to`.
  void arrive(std::uint64_t id, int to, const std::vector<std::byte>& segment, bool end_of_stream) {
    auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second.broken) return;  // it died while the bytes travelled
    connection& c = it->second;
    pipe& p = c.toward[to];
    p.in_flight -= segment.size();
    if (!c.open[to]) {
      if (!segment.empty()) reset(id, co::errno_code(ECONNRESET));  // nobody will ever read it
      return;
    }
    world_->note(c.host[to], end_of_stream ? "end-of-stream" : "arrive", segment.size());
    p.arrived.insert(p.arrived.end(), segment.begin(), segment.end());
    if (end_of_stream) p.ended = true;
    hand_to_readers(c, id, to);
  }

  // Give what has arrived at side `side` to the readers waiting there, oldest first.
  void hand_to_readers(connection& c, std::uint64_t id, int side) {
    pipe& p = c.toward[side];
    bool took = false;
    while (!p.readers.empty() && (!p.arrived.empty() || p.ended)) {
      auto* reader = static_cast<recv_awaiter*>(p.readers.pop_front());
      reader->received_ = take(p, reader->buffer_);
      took = took || reader->received_ > 0;
      reader->wake();
    }
    if (took) make_room(c, id, side);
  }

  // Bytes were read at side `side`: send for the writers that waited for room toward it.
  void make_room(connection& c, std::uint64_t id, int side) {
    pipe& p = c.toward[side];
    while (!p.writers.empty() && !c.broken) {
      const std::size_t room = free_space(p);
      if (room == 0) return;
      auto* writer = static_cast<send_awaiter*>(p.writers.pop_front());
      writer->sent_ = transmit(c, id, 1 - side, writer->pieces_, room);
      writer->wake();
    }
  }

  static void wake_all(pipe& p, std::error_code why) {
    while (co::detail::waiter* w = p.readers.pop_front()) w->wake(why);
    while (co::detail::waiter* w = p.writers.pop_front()) w->wake(why);
  }

  // The handle of side `side` is gone: the peer gets the end of the stream after the last byte.
  void close(std::uint64_t id, int side) noexcept {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    connection& c = it->second;
    c.open[side] = false;
    // No one can still wait on a closed end; if someone does, it must not be left dangling.
    while (auto* w = c.toward[side].readers.pop_front()) w->wake(co::errno_code(EBADF));
    while (auto* w = c.toward[1 - side].writers.pop_front()) w->wake(co::errno_code(EBADF));
    if (!c.open[1 - side]) {
      wake_all(c.toward[1 - side], co::errno_code(EBADF));
      by_id_.erase(it);
      return;
    }
    if (!c.broken) deliver_in_order(c, id, 1 - side, {}, true);
  }

  world* world_;
  sim::links* links_;
  stream_settings settings_;
  std::map<std::uint64_t, connection> by_id_;  // in creation order
  std::uint64_t next_id_ = 1;
};

void stream::close() noexcept {
  if (table_) std::exchange(table_, nullptr)->close(id_, side_);
}

}  // namespace coraft::sim
