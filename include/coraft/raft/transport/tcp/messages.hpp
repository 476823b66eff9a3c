// coraft/raft/transport/tcp/messages.hpp — what travels on the TCP transport's connections.
//
// A connection is opened by the node that sends requests on it; the other end only answers. Its
// first frame is a hello naming both ends, so that the acceptor knows which peer it serves (and
// refuses a stranger, or a peer that meant someone else). Every later frame is a Raft message in an
// envelope carrying a call id: the caller numbers its requests, the callee copies the number into
// its reply, and replies may come back in any order while several requests are in flight.
#pragma once

#include <cstdint>
#include <type_traits>

#include <boost/describe/class.hpp>

#include "coraft/raft/messages.hpp"
#include "coraft/wire/protocol.hpp"

namespace coraft::raft::tcp {

struct hello {
  node_id from = nobody;  // the node that opened the connection and will send requests on it
  node_id to = nobody;    // the node it meant to reach
  friend bool operator==(const hello&, const hello&) = default;
};
BOOST_DESCRIBE_STRUCT(hello, (), (from, to))

template <class Body>
struct envelope {
  std::uint64_t call_id = 0;  // chosen by the caller, unique per connection
  Body body;
  friend bool operator==(const envelope&, const envelope&) = default;
  BOOST_DESCRIBE_CLASS(envelope, (), (call_id, body), (), ())
};

template <class T>
inline constexpr bool is_envelope = false;
template <class Body>
inline constexpr bool is_envelope<envelope<Body>> = true;

// An envelope around one of the types in `Variant` (a request, or a reply).
template <class T, class Variant>
concept envelope_of = is_envelope<T> && std::is_constructible_v<Variant, decltype(T::body)>;

// The wire protocol of a connection. Type numbers are positions: the list only grows at its end.
using protocol = wire::protocol<hello, envelope<request_vote_args>, envelope<request_vote_reply>,
                                envelope<append_entries_args>, envelope<append_entries_reply>,
                                envelope<install_snapshot_args>, envelope<install_snapshot_reply>,
                                envelope<pre_vote_args>, envelope<pre_vote_reply>,
                                envelope<timeout_now_args>, envelope<timeout_now_reply>,
                                envelope<read_index_args>, envelope<read_index_reply>>;

}  // namespace coraft::raft::tcp
