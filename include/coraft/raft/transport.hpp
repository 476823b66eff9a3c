// coraft/raft/transport.hpp — the transport contract: how a node reaches its peers.
//
// Outbound, `co_await call(peer, args)` yields the peer's reply or an error value (unreachable,
// timed out, cancelled); it never waits forever. Inbound, the node pulls requests with
// `co_await receive()` and answers each through its `respond()`, whenever it is ready: a
// follower answers AppendEntries only once the entries are durable. Pulling keeps every coroutine
// that touches the node inside the node's own scope.
//
// `max_message_bytes()` is the largest request or reply, as the wire codec encodes it
// (wire/size.hpp), that the transport can carry; a larger one fails at once. A node checks its
// options against it when it is constructed, so that it never sends a request that cannot travel.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/raft/messages.hpp"

namespace coraft::raft {

using rpc_request = std::variant<request_vote_args, append_entries_args, install_snapshot_args,
                                 pre_vote_args, timeout_now_args, read_index_args>;
using rpc_reply = std::variant<request_vote_reply, append_entries_reply, install_snapshot_reply,
                               pre_vote_reply, timeout_now_reply, read_index_reply>;

// Where the replies to a transport's inbound requests go: the transport implements it (one sink
// for all its requests, or one per connection) and lends it weakly to each request it hands out.
class reply_sink {
 public:
  // Sends `reply` to call `call_id` of node `caller`.
  virtual void deliver(node_id caller, std::uint64_t call_id, rpc_reply reply) = 0;

 protected:
  ~reply_sink() = default;
};

// A request from a peer, and the way back for its reply: a weak reference to the sink and the
// call's number, so that answering allocates nothing.
struct inbound_rpc {
  node_id from = nobody;
  rpc_request request;
  std::weak_ptr<reply_sink> replies;
  std::uint64_t call_id = 0;

  // Sends the reply back; a no-op if the connection or the transport is gone.
  void respond(rpc_reply reply) const {
    if (const auto sink = replies.lock()) sink->deliver(from, call_id, std::move(reply));
  }
};

// One of the requests above; it names its reply type as Args::reply.
template <class Args>
concept request = std::is_constructible_v<rpc_request, Args> &&
                  std::is_constructible_v<rpc_reply, typename Args::reply>;

// `co_await t.call(peer, args)` for one kind of request.
template <class T, class Args>
concept calls = requires(T& t, node_id peer, Args args) {
  { t.call(peer, args) } -> std::same_as<co::task<co::result<typename Args::reply>>>;
};

template <class T>
concept transport = calls<T, request_vote_args> && calls<T, append_entries_args> &&
                    calls<T, install_snapshot_args> && calls<T, pre_vote_args> &&
                    calls<T, timeout_now_args> && calls<T, read_index_args> && requires(T& t) {
  { t.receive() } -> std::same_as<co::task<co::result<inbound_rpc>>>;
  { std::as_const(t).max_message_bytes() } -> std::same_as<std::size_t>;
};

}  // namespace coraft::raft
