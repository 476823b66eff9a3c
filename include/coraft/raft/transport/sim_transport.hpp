// coraft/raft/transport/sim_transport.hpp — the transport contract over a simulated network.
//
// A `sim_switchboard` stands for the wires between the nodes of one simulated cluster and outlives
// every run of every node. Each run of a node owns a `sim_transport` registered with the board under
// the node's id. Messages travel through the board's `Network`, which decides for each one whether
// it arrives and when (drops, delays, reordering, partitions): `net.deliver(from, to, on_arrival)`
// calls on_arrival at the arrival time, or never. Nothing in flight refers to a transport: requests
// and replies find their recipient by id on arrival, so a node that crashed simply is not there.
//
// Like the TCP transport's frames, a simulated message has a size limit, measured with the wire
// codec: a request that encodes to more than max_message_bytes fails at once, undelivered.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "coraft/co/channel.hpp"
#include "coraft/co/event.hpp"
#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/co/deadline.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/raft/transport.hpp"
#include "coraft/raft/transport/call_table.hpp"
#include "coraft/wire/size.hpp"

namespace coraft::raft {

template <class N>
concept sim_network = requires(N& n, node_id from, node_id to, std::function<void()> on_arrival) {
  { n.deliver(from, to, std::move(on_arrival)) } -> std::same_as<void>;
};

template <sim_network Network, class Executor>
  requires io::timers<Executor>
class sim_transport;

template <sim_network Network, class Executor>
  requires io::timers<Executor>
class sim_switchboard {
 public:
  explicit sim_switchboard(Network& network) : network_(network) {}
  sim_switchboard(const sim_switchboard&) = delete;
  sim_switchboard& operator=(const sim_switchboard&) = delete;

  Network& network() noexcept { return network_; }

  // Requests and replies sent so far, and the bytes of entries they carried (for cost checks).
  std::uint64_t rpcs_sent() const noexcept { return rpcs_sent_; }
  std::uint64_t payload_bytes_sent() const noexcept { return payload_bytes_sent_; }
  // The largest request sent so far, as encoded, and how many were refused for their size.
  std::size_t largest_request_bytes() const noexcept { return largest_request_bytes_; }
  std::uint64_t requests_too_large() const noexcept { return requests_too_large_; }

 private:
  friend class sim_transport<Network, Executor>;
  using endpoint = sim_transport<Network, Executor>;

  endpoint* find(node_id id) const {
    auto it = endpoints_.find(id);
    return it == endpoints_.end() ? nullptr : it->second;
  }

  Network& network_;
  std::map<node_id, endpoint*> endpoints_;  // the running transport of each node, if it runs
  std::uint64_t next_call_ = 0;             // call ids are unique across runs of every node
  std::uint64_t rpcs_sent_ = 0;
  std::uint64_t payload_bytes_sent_ = 0;
  std::size_t largest_request_bytes_ = 0;
  std::uint64_t requests_too_large_ = 0;
};

template <sim_network Network, class Executor>
  requires io::timers<Executor>
class sim_transport {
 public:
  using board = sim_switchboard<Network, Executor>;

  // The TCP transport's default frame limit (16 MiB; it carries that less a call id).
  static constexpr std::size_t default_max_message_bytes = 16u << 20;

  // `rpc_timeout` bounds every call: a request or reply lost on the way shows up as unreachable.
  sim_transport(board& b, Executor& executor, node_id self, io::duration rpc_timeout,
                std::size_t inbox_capacity = 256,
                std::size_t max_message_bytes = default_max_message_bytes)
      : board_(b), executor_(executor), self_(self), rpc_timeout_(rpc_timeout),
        max_message_bytes_(max_message_bytes), inbox_(inbox_capacity) {
    if (board_.find(self)) throw std::logic_error("coraft::raft::sim_transport: id already running");
    board_.endpoints_[self] = this;
  }
  sim_transport(const sim_transport&) = delete;
  sim_transport& operator=(const sim_transport&) = delete;
  // The node using this transport must have stopped: no call may still be waiting.
  ~sim_transport() { board_.endpoints_.erase(self_); }

  // Any request (transport.hpp); resumes with its reply, unreachable, or cancelled().
  template <request Args>
  co::task<co::result<typename Args::reply>> call(node_id peer, Args args) {
    return call_as(peer, std::move(args));
  }

  co::task<co::result<inbound_rpc>> receive() { co_return co_await inbox_.recv(); }

  std::size_t max_message_bytes() const noexcept { return max_message_bytes_; }

 private:
  struct pending_call {
    std::optional<rpc_reply> reply;
    co::event arrived;
  };

  // Sends one request and awaits its reply racing the timeout; ends with either.
  template <class Args, class Reply = typename Args::reply>
  co::task<co::result<Reply>> call_as(node_id peer, Args args) {
    const std::size_t size = wire::encoded_size(args);
    if (size > max_message_bytes_) {
      ++board_.requests_too_large_;
      co_return make_error_code(errc::unreachable);
    }
    board_.largest_request_bytes_ = std::max(board_.largest_request_bytes_, size);
    const std::uint64_t id = ++board_.next_call_;
    pending_call pending;
    calls_.add(id, &pending);
    count(args);
    board* b = &board_;
    node_id from = self_;
    board_.network_.deliver(from, peer, [b, from, peer, id, request = rpc_request(std::move(args))]() mutable {
      if (auto* target = b->find(peer)) target->accept(from, id, std::move(request));
    });
    auto arrived = co_await co::with_timeout(executor_, rpc_timeout_, pending.arrived.wait());
    calls_.remove(id);
    if (!arrived.timed_out() && !*arrived) co_return arrived->error();  // cancelled
    if (!pending.reply) co_return make_error_code(errc::unreachable);
    co_return std::get<Reply>(std::move(*pending.reply));
  }

  // A request arrived for this node: queue it, with the way back for its reply (sender).
  void accept(node_id from, std::uint64_t id, rpc_request request) {
    inbound_rpc rpc{from, std::move(request), replies_, id};
    (void)inbox_.try_send(rpc);  // a full inbox drops the request, as an overloaded server would
  }

  // Sends replies back through the network to whichever run of the caller is still waiting for
  // the call. Lives as long as its transport.
  struct sender final : reply_sink {
    explicit sender(sim_transport* t) noexcept : transport(t) {}
    void deliver(node_id caller, std::uint64_t call_id, rpc_reply reply) override {
      board* b = &transport->board_;
      const node_id me = transport->self_;
      transport->count(reply);
      b->network_.deliver(me, caller, [b, caller, call_id, reply = std::move(reply)]() mutable {
        if (auto* target = b->find(caller)) target->complete(call_id, std::move(reply));
      });
    }
    sim_transport* transport;
  };


  void complete(std::uint64_t id, rpc_reply reply) {
    pending_call* call = calls_.find(id);
    if (!call) return;  // the call gave up already
    call->reply = std::move(reply);
    call->arrived.set();
  }

  template <class Message>
  void count(const Message& message) {
    ++board_.rpcs_sent_;
    if constexpr (std::is_same_v<Message, append_entries_args>) {
      for (const auto& e : message.entries) board_.payload_bytes_sent_ += e.payload.size();
    } else if constexpr (std::is_same_v<Message, install_snapshot_args>) {
      board_.payload_bytes_sent_ += message.data.size();
    }
  }
  void count(const rpc_reply&) { ++board_.rpcs_sent_; }

  board& board_;
  Executor& executor_;
  const node_id self_;
  const io::duration rpc_timeout_;
  const std::size_t max_message_bytes_;
  co::channel<inbound_rpc> inbox_;
  std::shared_ptr<sender> replies_ = std::make_shared<sender>(this);
  call_table<pending_call> calls_;  // calls awaiting a reply, by id
};

}  // namespace coraft::raft
