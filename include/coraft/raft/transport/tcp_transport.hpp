// coraft/raft/transport/tcp_transport.hpp — the transport contract over TCP, on any io::executor.
//
// Each node opens one connection to every peer and sends its requests on it; the peer answers on
// the same connection. So between two nodes there are two connections, one per direction of
// requests, and neither end ever has to tell a request from a reply by guessing.
//
// Coroutines (all in the scope of run(), on the executor's thread):
//   keep_connected(peer)  connects, says hello, then runs send_requests and read_replies until the
//                         connection fails; waits a capped, jittered, growing backoff; again.
//   send_requests         takes every request queued for the peer and writes them with one gathered
//                         write: entry payloads go to the socket from where they live, uncopied.
//   read_replies          matches each reply to its waiting call by call id (pipelining).
//   expire_calls(peer)    fails the calls to the peer that waited rpc_timeout without a reply.
//   accept_connections    accepts peers' connections and serves each in serve_inbound:
//   serve_inbound         checks the hello, then runs read_requests (into the node's inbox) and
//                         send_replies until the connection fails.
//
// Bounds: a peer that reads slowly makes calls fail once max_queued_bytes_per_peer is queued; a peer
// that does not read its replies is disconnected at max_reply_backlog_bytes; a peer that sends a
// frame that is not valid (garbage, oversized, bad checksum) is logged and disconnected, while the
// node goes on serving the others.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "coraft/co/channel.hpp"
#include "coraft/co/context.hpp"
#include "coraft/co/deadline.hpp"
#include "coraft/co/event.hpp"
#include "coraft/co/result.hpp"
#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"
#include "coraft/co/when_any.hpp"
#include "coraft/io/backoff.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/io/random.hpp"
#include "coraft/io/stream_ops.hpp"
#include "coraft/raft/configuration.hpp"
#include "coraft/raft/transport/tcp/frame_reader.hpp"
#include "coraft/raft/transport/tcp/messages.hpp"
#include "coraft/raft/transport/tcp/options.hpp"
#include "coraft/raft/transport.hpp"
#include "coraft/raft/transport/call_table.hpp"
#include "coraft/wire/frame.hpp"
#include "coraft/wire/size.hpp"

namespace coraft::raft {

// Counters for tests, benchmarks and operators.
struct tcp_statistics {
  std::uint64_t connections_opened = 0;    // outbound connections that said hello
  std::uint64_t connections_accepted = 0;  // inbound connections whose hello was accepted
  std::uint64_t connections_refused = 0;   // inbound connections dropped: bad hello or bad frame
  std::uint64_t requests_sent = 0;
  std::uint64_t payload_bytes_sent = 0;    // entry payloads and snapshot data those requests carried
  std::uint64_t request_writes = 0;        // gathered writes that carried them
  std::uint64_t requests_received = 0;
  std::uint64_t requests_dropped = 0;      // received while the inbox was full
  std::uint64_t replies_sent = 0;          // queued on a connection still open
  std::uint64_t calls_refused = 0;         // failed at once: peer not connected, or queue full
  std::uint64_t calls_timed_out = 0;       // failed after waiting rpc_timeout for a reply
  std::uint64_t requests_too_large = 0;    // not sent: their frame would exceed the frame limit
  std::size_t largest_request_frame = 0;   // the largest request frame's payload sent, in bytes
};

template <class Executor>
  requires io::streams<Executor> && io::timers<Executor> && io::scheduling<Executor>
class tcp_transport {
 public:
  using stream = typename Executor::stream;

  // `members` holds the address of every member known at the start, this node's own included
  // (a member waiting to join knows only its own); configure() brings in the others.
  tcp_transport(Executor& executor, node_id self, std::map<node_id, io::endpoint> members,
                tcp::options opts = {})
      : executor_(executor), self_(self), options_(tcp::validated(std::move(opts))),
        inbox_(options_.inbox_capacity), jitter_(0x9e3779b97f4a7c15ULL * (self + 1)) {
    auto own = members.find(self);
    if (own == members.end())
      throw std::invalid_argument("coraft::raft::tcp_transport: no address for this node");
    address_ = own->second;
    for (auto& [id, address] : members)
      if (id != self) links_.try_emplace(id, id, address);
  }
  tcp_transport(const tcp_transport&) = delete;
  tcp_transport& operator=(const tcp_transport&) = delete;

  // Binds this node's address. An error value (address in use, not an address) is the caller's to
  // report. Call it once, before run().
  co::result<void> listen() {
    auto bound = executor_.listen(address_);
    if (!bound) return bound.error();
    listener_.emplace(std::move(*bound));
    return {};
  }
  // Serves on `bound`, a listener the caller made on this node's address (io::listen_when_free).
  // Call it once, before run(), instead of listen().
  void listen_on(typename Executor::listener bound) { listener_.emplace(std::move(bound)); }

  // The address actually bound (with port 0 in the member list, the port the kernel chose).
  io::endpoint local_endpoint() const { return listener_ ? listener_->local_endpoint() : address_; }

  // Accepts and keeps connections until cancelled; ends once every connection is closed. The node
  // using this transport must stop before run() ends or the transport is destroyed. Without a
  // listen() first, throws std::logic_error here, in the caller, rather than from inside a scope.
  co::task<void> run() {
    if (!listener_)
      throw std::logic_error(
          "coraft::raft::tcp_transport: run() before listen(): call listen() (or listen_on()) first");
    ran_ = true;
    return serve();
  }

  // The members' addresses as the node's latest configuration names them (the node calls this
  // whenever that configuration changes), each "host:port": a member new to the transport gets a
  // connection, kept like the others; one whose address moved is reached there from its next
  // connection on. A member the configuration no longer names keeps its link: the node sends it
  // nothing, and it costs one idle connection.
  void configure(const configuration& config) {
    for (const auto* set : {&config.members, &config.outgoing}) {
      for (const member& m : *set) {
        if (m.id == self_ || m.address.empty()) continue;
        auto address = io::endpoint::parse(raft::to_string(m.address));
        if (!address) {
          options_.log("member " + std::to_string(m.id) + ": not an address: " +
                       raft::to_string(m.address));
          continue;
        }
        if (m.id == self_) continue;
        auto [it, added] = links_.try_emplace(m.id, m.id, *address);
        if (!added) {
          it->second.address = *address;
        } else if (jobs_) {
          jobs_->spawn(keep_connected(it->second));
          jobs_->spawn(expire_calls(it->second));
        }
      }
    }
  }

  // Any request (transport.hpp); resumes with its reply, unreachable, or cancelled(). Throws
  // std::logic_error if run() was never started: no peer could ever be reached.
  template <request Args>
  co::task<co::result<typename Args::reply>> call(node_id peer, Args args) {
    if (!ran_)
      throw std::logic_error("coraft::raft::tcp_transport: a call to peer " + std::to_string(peer) +
                             " before run(): spawn transport.run() beside node.run()");
    return call_as(peer, std::move(args));
  }

  co::task<co::result<inbound_rpc>> receive() { co_return co_await inbox_.recv(); }

  // The largest Raft message a frame carries: the frame's payload limit less the envelope around
  // the message (its call id, at its widest).
  std::size_t max_message_bytes() const noexcept {
    const tcp::envelope<request_vote_reply> widest{std::numeric_limits<std::uint64_t>::max(), {}};
    const std::size_t envelope = wire::encoded_size(widest) - wire::encoded_size(widest.body);
    const std::size_t frame = options_.frames.max_payload_size;
    return frame > envelope ? frame - envelope : 0;
  }

  const tcp_statistics& statistics() const noexcept { return statistics_; }
  bool connected_to(node_id peer) const {
    auto it = links_.find(peer);
    return it != links_.end() && it->second.connected;
  }
  std::size_t queued_bytes(node_id peer) const {
    auto it = links_.find(peer);
    return it == links_.end() ? 0 : it->second.queued_bytes;
  }

 private:
  using outgoing_request = std::variant<tcp::envelope<request_vote_args>,
                                        tcp::envelope<append_entries_args>,
                                        tcp::envelope<install_snapshot_args>,
                                        tcp::envelope<pre_vote_args>,
                                        tcp::envelope<timeout_now_args>,
                                        tcp::envelope<read_index_args>>;

  struct pending_call {
    std::optional<rpc_reply> reply;  // empty when the connection failed or the time ran out first
    io::time_point give_up_at;       // rpc_timeout after the call was made
    co::event arrived;
  };

  // One peer, as seen by the node that sends it requests.
  struct peer_link {
    peer_link(node_id i, io::endpoint a) : id(i), address(std::move(a)) {}
    node_id id;
    io::endpoint address;
    bool connected = false;
    std::deque<std::pair<outgoing_request, std::size_t>> queue;  // requests and their sizes
    std::size_t queued_bytes = 0;
    co::event queued;                          // set when the queue gains a request
    co::event came_back;                       // set when the peer connects to us: retry at once
    call_table<pending_call> calls;  // sent or queued, awaiting a reply
    co::event call_made;             // set when `calls` gains one
  };

  // One peer, as seen by the node that answers its requests.
  // The node's replies go here, through the weak references its requests hold: a live
  // connection means a live transport (the transport owns the connection).
  struct inbound_connection final : reply_sink {
    inbound_connection(std::size_t backlog_limit, wire::frame_options f, tcp_statistics* s)
        : limit(backlog_limit), frames(f), statistics(s) {}

    // Encodes the reply onto the backlog, unless the connection is closing; a backlog over the
    // limit closes it (the peer does not read).
    void deliver(node_id, std::uint64_t call_id, rpc_reply reply) override {
      if (!open) return;
      ++statistics->replies_sent;
      std::visit(
          [&](auto& body) {
            using body_type = std::decay_t<decltype(body)>;
            const tcp::envelope<body_type> envelope{call_id, std::move(body)};
            (void)wire::encode_frame<tcp::protocol>(envelope, replies, frames);
          },
          reply);
      if (replies.size() > limit) open = false;
      ready.set();
    }

    const std::size_t limit;
    const wire::frame_options frames;
    tcp_statistics* const statistics;
    std::vector<std::byte> replies;  // encoded, waiting to be written
    co::event ready;                 // set when replies gain bytes or the connection must close
    bool open = true;
  };

  // run()'s work: accepts connections and keeps one to each peer.
  co::task<void> serve() {
    co::scope jobs(co_await co::current_context());
    jobs_ = &jobs;
    jobs.spawn(accept_connections());
    for (auto& [id, link] : links_) {
      jobs.spawn(keep_connected(link));
      jobs.spawn(expire_calls(link));
    }
    co_await jobs.join();
    jobs_ = nullptr;
  }

  static std::error_code protocol_violation() {
    return std::make_error_code(std::errc::protocol_error);
  }

  // ---- Calls (the caller's side) ----------------------------------------------------------------

  // Queues one request for the peer's connection and awaits its reply, or expire_calls saying
  // its time is up. Ends with the reply, errc::unreachable (not connected, queue full,
  // connection lost, timed out) or cancelled().
  template <class Args>
  co::task<co::result<typename Args::reply>> call_as(node_id peer, Args args) {
    using reply_type = typename Args::reply;
    auto found = links_.find(peer);
    if (found == links_.end()) co_return make_error_code(errc::unreachable);
    peer_link& link = found->second;
    const std::size_t size = approximate_size(args);
    if (!link.connected ||
        (!link.queue.empty() && link.queued_bytes + size > options_.max_queued_bytes_per_peer)) {
      ++statistics_.calls_refused;
      co_return make_error_code(errc::unreachable);
    }
    const std::uint64_t id = ++next_call_id_;
    pending_call pending;
    pending.give_up_at = executor_.now() + std::chrono::duration_cast<io::duration>(options_.rpc_timeout);
    link.calls.add(id, &pending);
    link.call_made.set();
    tcp::envelope<Args> request{id, std::move(args)};
    link.queue.emplace_back(outgoing_request(std::move(request)), size);
    link.queued_bytes += size;
    link.queued.set();

    auto arrived = co_await pending.arrived.wait();
    link.calls.remove(id);
    withdraw(link, id);
    if (pending.reply && std::holds_alternative<reply_type>(*pending.reply))
      co_return std::get<reply_type>(std::move(*pending.reply));
    if (!arrived) co_return arrived.error();  // cancelled
    co_return make_error_code(errc::unreachable);
  }

  // Fails each call to the peer that has waited rpc_timeout. Calls are numbered as they are made
  // and all wait equally long, so the oldest call waiting is always the next to run out of time:
  // one timer serves them all, where a timer raced per call would cost a stop state each. Awaits
  // the oldest call's time, or a call when none waits; ends when cancelled.
  co::task<void> expire_calls(peer_link& link) {
    for (;;) {
      pending_call* oldest = link.calls.oldest();
      if (!oldest) {
        link.call_made.reset();
        if (!co_await link.call_made.wait()) co_return;
      } else if (executor_.now() < oldest->give_up_at) {
        if (!co_await executor_.sleep_until(oldest->give_up_at)) co_return;
      } else {
        ++statistics_.calls_timed_out;
        link.calls.remove_oldest();
        oldest->arrived.set();  // with no reply: the caller withdraws the request if still queued
      }
    }
  }

  // Takes a request the caller gave up on out of the queue, if it has not been written yet.
  static void withdraw(peer_link& link, std::uint64_t id) {
    for (auto it = link.queue.begin(); it != link.queue.end(); ++it) {
      if (std::visit([](const auto& r) { return r.call_id; }, it->first) != id) continue;
      link.queued_bytes -= it->second;
      link.queue.erase(it);
      return;
    }
  }

  template <class Args>
  static std::size_t payload_size(const Args& args) {
    std::size_t size = 0;
    if constexpr (std::is_same_v<Args, append_entries_args>) {
      for (const auto& e : args.entries) size += e.payload.size();
    } else if constexpr (std::is_same_v<Args, install_snapshot_args>) {
      size += args.data.size();
    }
    return size;
  }

  template <class Args>
  static std::size_t approximate_size(const Args& args) {
    std::size_t size = 64;
    if constexpr (std::is_same_v<Args, append_entries_args>) {
      for (const auto& e : args.entries) size += e.payload.size() + 16;
    } else if constexpr (std::is_same_v<Args, install_snapshot_args>) {
      size += args.data.size();
    }
    return size;
  }

  // Every call waiting on `link` learns that its connection is gone.
  static void fail_calls(peer_link& link) {
    link.calls.take_all([](pending_call& call) { call.arrived.set(); });
    link.queue.clear();
    link.queued_bytes = 0;
  }

  // ---- Outbound connections ---------------------------------------------------------------------

  // Keeps one connection to the peer: connect, hello, then requests out and replies in until the
  // connection fails; then a backoff that doubles up to reconnect_max (reset by a connection that
  // lasted longer than that), with jitter so that peers do not retry in step. A peer that connects
  // to us has restarted: the backoff is cut short, so that a restarted follower hears from its
  // leader before its election timer runs out. Ends when cancelled.
  co::task<void> keep_connected(peer_link& link) {
    io::backoff backoff(std::chrono::duration_cast<io::duration>(options_.reconnect_min),
                        std::chrono::duration_cast<io::duration>(options_.reconnect_max));
    while (true) {
      auto connected = co_await connect_within(link.address);
      if (connected) {
        const io::time_point since = executor_.now();
        co::result<void> ended = co_await serve_outbound(link, *connected);
        link.connected = false;
        fail_calls(link);
        if (!ended && co::is_cancelled(ended.error())) co_return;
        report_lost(link, ended.error());
        if (executor_.now() - since > options_.reconnect_max) backoff.reset();
      } else if (co::is_cancelled(connected.error())) {
        co_return;
      }
      link.came_back.reset();
      auto waited = co_await co::with_timeout(executor_, backoff.next(jitter_), link.came_back.wait());
      if (!waited.timed_out() && !*waited) co_return;  // cancelled
      if (!waited.timed_out()) backoff.reset();        // the peer came back: start over
    }
  }

  // A connect racing the connect timeout; ends with the stream or the reason there is none.
  co::task<co::result<stream>> connect_within(io::endpoint address) {
    auto connected = co_await co::with_timeout(executor_, options_.connect_timeout, connect(address));
    if (connected.timed_out()) co_return std::make_error_code(std::errc::timed_out);
    co_return std::move(*connected);
  }
  // The executor's connect awaiter, which need not be movable, as a task that can be raced.
  co::task<co::result<stream>> connect(io::endpoint address) {
    co_return co_await executor_.connect(address);
  }

  // Says hello, then runs the two directions of the connection until one fails; ends with why.
  co::task<co::result<void>> serve_outbound(peer_link& link, stream& connection) {
    std::vector<std::byte> greeting;
    const tcp::hello hello{self_, link.id};
    (void)wire::encode_frame<tcp::protocol>(hello, greeting, options_.frames);
    const std::span<const std::byte> unsent(greeting);
    if (auto sent = co_await io::write_all(executor_, connection, unsent); !sent)
      co_return sent.error();
    link.connected = true;
    ++statistics_.connections_opened;
    auto first = co_await co::when_any(send_requests(link, connection),
                                       read_replies(link, connection));
    co_return std::visit([](auto& outcome) { return outcome; }, first);
  }

  // Writes the requests queued for the peer, all that are waiting in one gathered write (up to
  // max_bytes_per_write). The batch owns the requests while they are written, so the payloads
  // the iovecs point into stay put. Ends when a write fails, or when cancelled.
  co::task<co::result<void>> send_requests(peer_link& link, stream& connection) {
    std::vector<outgoing_request> batch;
    wire::gathered_bytes frames;
    std::vector<iovec> pieces;
    while (true) {
      while (link.queue.empty()) {
        link.queued.reset();
        if (auto woke = co_await link.queued.wait(); !woke) co_return woke.error();
      }
      batch.clear();
      frames.clear();
      pieces.clear();
      while (!link.queue.empty() && frames.size() < options_.max_bytes_per_write) {
        batch.push_back(std::move(link.queue.front().first));
        link.queued_bytes -= link.queue.front().second;
        link.queue.pop_front();
      }
      for (const auto& request : batch) {
        const std::size_t before = frames.size();
        auto encoded = std::visit(
            [&](const auto& r) {
              return wire::encode_frame_gathered<tcp::protocol>(r, frames,
                                                                options_.gather_threshold,
                                                                options_.frames);
            },
            request);
        if (!encoded) {  // too large to send: the call learns at once, instead of timing out
          ++statistics_.requests_too_large;
          auto* call = link.calls.find(std::visit([](const auto& r) { return r.call_id; }, request));
          if (call) call->arrived.set();
          options_.log("peer " + std::to_string(link.id) + ": request not sent: " +
                       encoded.error().message());
        } else {
          statistics_.largest_request_frame = std::max(
              statistics_.largest_request_frame, frames.size() - before - wire::frame_header_size);
        }
      }
      frames.append_iovecs(pieces);
      if (pieces.empty()) continue;
      const std::span<iovec> unsent(pieces);
      if (auto written = co_await io::write_all(executor_, connection, unsent); !written)
        co_return written.error();
      statistics_.requests_sent += batch.size();
      for (const auto& request : batch)
        statistics_.payload_bytes_sent += std::visit([](const auto& r) { return payload_size(r.body); }, request);
      ++statistics_.request_writes;
    }
  }

  // Hands each reply to the call waiting for it. Ends when the connection fails, the peer sends
  // something other than a reply, or when cancelled.
  co::task<co::result<void>> read_replies(peer_link& link, stream& connection) {
    tcp::frame_reader<tcp::protocol, Executor> reader(executor_, connection, options_.frames);
    while (true) {
      auto message = co_await reader.next();
      if (!message) co_return message.error();
      const bool was_reply = std::visit([&](auto& m) { return deliver_reply(link, m); }, *message);
      if (!was_reply) co_return protocol_violation();
    }
  }

  template <class Message>
  static bool deliver_reply(peer_link& link, Message& message) {
    if constexpr (tcp::envelope_of<Message, rpc_reply>) {
      pending_call* call = link.calls.find(message.call_id);
      if (!call) return true;  // the caller gave up already
      call->reply = std::move(message.body);
      call->arrived.set();
      link.calls.remove(message.call_id);
      return true;
    } else {
      return false;
    }
  }

  void report_lost(const peer_link& link, std::error_code why) {
    if (why == io::make_error_code(io::errc::end_of_stream)) return;  // an orderly close
    options_.log("connection to peer " + std::to_string(link.id) + " (" +
                 link.address.to_string() + ") lost: " + why.message());
  }

  // ---- Inbound connections ----------------------------------------------------------------------

  // Accepts connections and serves each in its own coroutine. Ends when cancelled, after every
  // connection it serves has ended.
  co::task<void> accept_connections() {
    co::scope connections(co_await co::current_context());
    while (true) {
      auto accepted = co_await executor_.accept(*listener_);
      if (!accepted) {
        if (co::is_cancelled(accepted.error())) break;
        options_.log("accept failed: " + accepted.error().message());
        if (!co_await executor_.sleep_for(options_.reconnect_min)) break;  // EMFILE and the like
        continue;
      }
      connections.spawn(serve_inbound(std::move(*accepted)));
    }
    co_await connections.join();
  }

  // Serves one peer's requests: awaits its hello (within hello_timeout), then reads requests into
  // the node's inbox and writes the node's replies, until the connection fails or the peer
  // misbehaves. Ends when either direction ends, or when cancelled.
  co::task<void> serve_inbound(stream connection) {
    tcp::frame_reader<tcp::protocol, Executor> reader(executor_, connection, options_.frames);
    auto greeting = co_await co::with_timeout(executor_, options_.hello_timeout, reader.next());
    if (greeting.timed_out()) {
      refuse("no hello in time");
      co_return;
    }
    auto& hello_frame = *greeting;
    if (!hello_frame) {
      if (!co::is_cancelled(hello_frame.error())) refuse("bad hello: " + hello_frame.error().message());
      co_return;
    }
    const auto* hello = std::get_if<tcp::hello>(&*hello_frame);
    if (!hello) {
      refuse("the first frame is not a hello");
      co_return;
    }
    // Any other member may call: a member waiting to join hears first from a leader it does not
    // know yet (the node drops requests of another cluster).
    if (hello->to != self_ || hello->from == self_ || hello->from == nobody) {
      refuse("hello from " + std::to_string(hello->from) + " to " + std::to_string(hello->to) +
             ": not for node " + std::to_string(self_));
      co_return;
    }
    const node_id from = hello->from;
    ++statistics_.connections_accepted;
    if (auto link = links_.find(from); link != links_.end()) link->second.came_back.set();

    auto state = std::make_shared<inbound_connection>(options_.max_reply_backlog_bytes,
                                                      options_.frames, &statistics_);
    auto first = co_await co::when_any(read_requests(from, reader, state),
                                       send_replies(connection, *state));
    state->open = false;
    co::result<void> ended = std::visit([](auto& outcome) { return outcome; }, first);
    if (ended || co::is_cancelled(ended.error()) ||
        ended.error() == io::make_error_code(io::errc::end_of_stream))
      co_return;
    if (ended.error().category() == wire::error_category() ||
        ended.error() == protocol_violation()) {
      ++statistics_.connections_refused;
    }
    options_.log("connection from peer " + std::to_string(from) + " closed: " +
                 ended.error().message());
  }


  void refuse(const std::string& why) {
    ++statistics_.connections_refused;
    options_.log("refused a connection: " + why);
  }

  // Reads requests and queues each in the inbox with a respond function that encodes the reply
  // onto this connection (a no-op once it is closed). Ends when the connection fails, the peer
  // sends something other than a request, or when cancelled.
  co::task<co::result<void>> read_requests(node_id from,
                                           tcp::frame_reader<tcp::protocol, Executor>& reader,
                                           std::shared_ptr<inbound_connection> state) {
    while (true) {
      auto message = co_await reader.next();
      if (!message) co_return message.error();
      const bool was_request =
          std::visit([&](auto& m) { return accept_request(from, state, m); }, *message);
      if (!was_request) co_return protocol_violation();
    }
  }

  template <class Message>
  bool accept_request(node_id from, const std::shared_ptr<inbound_connection>& state,
                      Message& message) {
    if constexpr (!tcp::envelope_of<Message, rpc_request>) {
      return false;
    } else {
      ++statistics_.requests_received;
      inbound_rpc rpc{from, rpc_request(std::move(message.body)),
                      std::weak_ptr<reply_sink>(state), message.call_id};
      if (!inbox_.try_send(rpc)) ++statistics_.requests_dropped;
      return true;
    }
  }

  // Writes the replies the node has queued, all that are waiting in one write. Ends when a write
  // fails, when the backlog overflowed, or when cancelled.
  co::task<co::result<void>> send_replies(stream& connection, inbound_connection& state) {
    std::vector<std::byte> sending;
    while (true) {
      while (state.replies.empty() && state.open) {
        state.ready.reset();
        if (auto woke = co_await state.ready.wait(); !woke) co_return woke.error();
      }
      if (!state.open) co_return std::make_error_code(std::errc::no_buffer_space);
      std::swap(sending, state.replies);
      const std::span<const std::byte> unsent(sending);
      if (auto written = co_await io::write_all(executor_, connection, unsent); !written)
        co_return written.error();
      sending.clear();
    }
  }

  Executor& executor_;
  const node_id self_;
  const tcp::options options_;
  io::endpoint address_;
  std::optional<typename Executor::listener> listener_;
  std::map<node_id, peer_link> links_;  // a map: a link never moves once added
  co::scope* jobs_ = nullptr;            // run()'s scope, while it runs: configure() adds to it
  bool ran_ = false;                     // run() was called: calls may reach the peers
  co::channel<inbound_rpc> inbox_;
  std::uint64_t next_call_id_ = 0;
  io::seeded_random jitter_;  // reconnect jitter: the same seed per node id, different across ids
  tcp_statistics statistics_;
};

}  // namespace coraft::raft
