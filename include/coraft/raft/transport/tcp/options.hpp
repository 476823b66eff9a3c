// coraft/raft/transport/tcp/options.hpp — the knobs of the TCP transport, with defaults suited to a LAN.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

#include "coraft/raft/option_checks.hpp"
#include "coraft/wire/frame.hpp"

namespace coraft::raft::tcp {

using namespace std::chrono_literals;

struct options {
  // A call that has no reply after this long yields errc::unreachable.
  std::chrono::nanoseconds rpc_timeout = 500ms;
  // A connect that has not completed after this long is abandoned and retried.
  std::chrono::nanoseconds connect_timeout = 1s;
  // Reconnecting backs off exponentially between these bounds, with jitter.
  std::chrono::nanoseconds reconnect_min = 20ms;
  std::chrono::nanoseconds reconnect_max = 1s;
  // An accepted connection must say hello within this long.
  std::chrono::nanoseconds hello_timeout = 1s;
  // Requests waiting to be written to one peer, in bytes. Beyond it calls fail at once
  // (errc::unreachable): a slow peer costs at most this much memory.
  std::size_t max_queued_bytes_per_peer = 64u << 20;
  // Replies waiting to be written to one peer that does not read them. Beyond it the connection is
  // closed.
  std::size_t max_reply_backlog_bytes = 16u << 20;
  // Requests received and not yet taken by the node; beyond it requests are dropped (the caller
  // times out and retries, as after a lost packet).
  std::size_t inbox_capacity = 1024;
  // Byte runs at least this large (entry payloads, snapshot chunks) are sent from where they live
  // with a gathered write; smaller ones are copied into the frame, which is cheaper than an iovec.
  std::size_t gather_threshold = 1024;
  // Frames of one gathered write, in bytes: requests queued behind a large batch wait for the next.
  std::size_t max_bytes_per_write = 4u << 20;
  wire::frame_options frames;
  // Where the transport reports what an operator should know: a peer sending garbage, a refused
  // connection. One line per call, without a trailing newline.
  std::function<void(const std::string&)> log = [](const std::string& line) {
    std::fprintf(stderr, "coraft: %s\n", line.c_str());
  };
};

// Throws std::invalid_argument, naming the option and the rule, unless every option has a value
// the transport can run with. The transport's constructor calls it.
inline void validate(const options& o) {
  using namespace option_checks;
  constexpr const char* owner = "coraft::raft::tcp::options";
  require_duration(owner, "rpc_timeout", o.rpc_timeout);
  require_duration(owner, "connect_timeout", o.connect_timeout);
  require_duration(owner, "reconnect_min", o.reconnect_min);
  require_duration(owner, "reconnect_max", o.reconnect_max);
  if (o.reconnect_max < o.reconnect_min)
    refuse(owner, "reconnect_max", to_text(o.reconnect_max),
           "must be at least reconnect_min (" + to_text(o.reconnect_min) + ")");
  require_duration(owner, "hello_timeout", o.hello_timeout);
  require_at_least(owner, "frames.max_payload_size", o.frames.max_payload_size, 1);
  // A request larger than the bound is still sent when nothing else waits.
  require_at_least(owner, "max_queued_bytes_per_peer", o.max_queued_bytes_per_peer, 1,
                   "a request would be refused whenever another waits to be written");
  require_at_least(owner, "max_reply_backlog_bytes", o.max_reply_backlog_bytes, 4096,
                   "a peer that reads its replies normally would be disconnected");
  require_at_least(owner, "inbox_capacity", o.inbox_capacity, 1, "every request would be dropped");
  require_at_least(owner, "max_bytes_per_write", o.max_bytes_per_write, 1,
                   "nothing would be written");
  if (!o.log)
    throw std::invalid_argument(std::string(owner) +
                                ": log must be callable (to silence the transport, give it a "
                                "function that ignores its line)");
}

// `o`, once validate(o) has passed: for the transport's constructor.
inline options validated(options o) {
  validate(o);
  return o;
}

}  // namespace coraft::raft::tcp
