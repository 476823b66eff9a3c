// coraft/sim/sockets.hpp — listening, accepting and connecting: how a simulated connection begins.
//
// connect() plays the handshake over the simulated links:
//  1. the request travels to the target host (a link's delay; retransmitted if lost, like data);
//  2. there, a listener on the port answers by creating the connection (the server end goes to
//     the listener's backlog, or straight to a waiting accept()) and replying; no listener means
//     the reply is a refusal;
//  3. the reply travels back; the connecting coroutine then gets its end, or ECONNREFUSED.
// If the link is cut (partition, disconnection) or the target host is down, nothing comes back and
// connect() fails with ETIMEDOUT once stream_settings::connect_timeout has passed — what a real
// client sees when its SYNs go unanswered. A connect to a host that is up but not listening on the
// port fails with ECONNREFUSED after one round trip. Connecting to a host that crashed and restarted
// without listening again is refused too; while it is down, it times out.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>

#include "coraft/co/context.hpp"
#include "coraft/co/detail/waiter.hpp"
#include "coraft/co/result.hpp"
#include "coraft/io/endpoint.hpp"
#include "coraft/sim/connections.hpp"
#include "coraft/sim/links.hpp"
#include "coraft/sim/world.hpp"

namespace coraft::sim {

class sockets;

// A bound, listening port. Move-only; destroying it stops listening and resets the connections
// that were never accepted.
class listener {
 public:
  listener() = default;
  listener(listener&& other) noexcept
      : table_(std::exchange(other.table_, nullptr)), id_(other.id_), where_(other.where_) {}
  listener& operator=(listener&& other) noexcept {
    if (this != &other) {
      close();
      table_ = std::exchange(other.table_, nullptr);
      id_ = other.id_;
      where_ = other.where_;
    }
    return *this;
  }
  ~listener() { close(); }

  io::endpoint local_endpoint() const { return where_; }
  inline void close() noexcept;

 private:
  friend class sockets;
  listener(sockets* table, std::uint64_t id, io::endpoint where)
      : table_(table), id_(id), where_(std::move(where)) {}

  sockets* table_ = nullptr;  // null once closed or moved from
  std::uint64_t id_ = 0;
  io::endpoint where_;
};

class sockets {
 public:
  sockets(world& w, sim::links& l) : world_(&w), links_(&l), streams_(w, l) {}
  sockets(const sockets&) = delete;
  sockets& operator=(const sockets&) = delete;

  sim::connections& streams() noexcept { return streams_; }

  // Listen on `where` for `host`. The endpoint's host must be `host` (or empty, meaning it); port
  // 0 picks a free port from 49152 up.
  co::result<listener> listen(const std::string& host, const io::endpoint& where) {
    if (!links_->is_up(host)) return co::cancelled();
    if (!where.host.empty() && where.host != host) return co::errno_code(EADDRNOTAVAIL);
    io::endpoint bound{host, where.port};
    if (bound.port == 0) {
      for (bound.port = 49152; bound_.contains(bound) && bound.port < 65535; ++bound.port) {
      }
    }
    if (bound_.contains(bound)) return co::errno_code(EADDRINUSE);
    const std::uint64_t id = next_id_++;
    bound_.emplace(bound, id);
    listening& l = listeners_[id];
    l.where = bound;
    world_->note(host, "listen", bound.port);
    return listener(this, id, bound);
  }

  // `co_await accept(l)`: the next connection made to `l`. Waits until one arrives; ends then, or
  // with an error if the listener closes, or cancelled().
  class accept_awaiter : public co::detail::waiter {
   public:
    accept_awaiter(sockets* table, const listener& l) noexcept : table_(table), id_(l.id_) {}
    bool await_ready() const noexcept { return false; }
    template <co::has_context Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      auto it = table_->listeners_.find(id_);
      if (h.promise().ctx().stop.stop_requested()) {
        accepted_.emplace(co::cancelled());
      } else if (it == table_->listeners_.end()) {
        accepted_.emplace(co::errno_code(EBADF));
      } else if (!it->second.backlog.empty()) {
        accepted_.emplace(std::move(it->second.backlog.front()));
        it->second.backlog.pop_front();
      } else {
        return park(it->second.acceptors, h);
      }
      return false;
    }
    co::result<stream> await_resume() {
      if (accepted_) return std::move(*accepted_);
      return outcome();
    }

   private:
    friend class sockets;
    sockets* table_;
    std::uint64_t id_;
    std::optional<co::result<stream>> accepted_;  // set before waking, or when it did not wait
  };
  accept_awaiter accept(const listener& l) { return accept_awaiter(this, l); }

  // `co_await connect(from, target)`: the client end of a new connection, or ECONNREFUSED,
  // ETIMEDOUT, cancelled(). Waits for the handshake (see the top of this file); ends when the
  // reply arrives, the connect timeout passes, or the awaiting coroutine is cancelled.
  class connect_awaiter {
   public:
    connect_awaiter(sockets* table, std::string from, io::endpoint target)
        : table_(table), from_(std::move(from)), target_(std::move(target)) {}
    connect_awaiter(const connect_awaiter&) = delete;
    connect_awaiter& operator=(const connect_awaiter&) = delete;
    ~connect_awaiter() {
      if (attempt_) table_->give_up(attempt_);  // frame destroyed mid-handshake
    }

    bool await_ready() const noexcept { return false; }
    template <co::has_context Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
      const co::context& ctx = h.promise().ctx();
      if (ctx.stop.stop_requested() || !table_->links_->is_up(from_)) {
        connected_.emplace(co::cancelled());
        return false;
      }
      handle_ = h;
      sched_ = ctx.sched;
      attempt_ = table_->begin_connect(*this);
      on_stop_.emplace(ctx.stop, give_up_on_stop{this});
      return true;
    }
    co::result<stream> await_resume() { return std::move(*connected_); }

   private:
    friend class sockets;
    struct give_up_on_stop {
      connect_awaiter* self;
      void operator()() const noexcept {
        if (!self->attempt_) return;  // already finished
        self->table_->give_up(std::exchange(self->attempt_, 0));
        self->connected_.emplace(co::cancelled());
        self->sched_->schedule(self->handle_);
      }
    };
    // Called by sockets exactly once, with the attempt already forgotten.
    void finish(co::result<stream> outcome) {
      attempt_ = 0;
      connected_.emplace(std::move(outcome));
      sched_->schedule(handle_);
    }

    sockets* table_;
    std::string from_;
    io::endpoint target_;
    std::uint64_t attempt_ = 0;  // non-zero exactly while the handshake is in progress
    timer_key timeout_{};
    std::coroutine_handle<> handle_;
    co::scheduler* sched_ = nullptr;
    std::optional<co::result<stream>> connected_;
    std::optional<std::stop_callback<give_up_on_stop>> on_stop_;
  };
  connect_awaiter connect(const std::string& from, const io::endpoint& target) {
    return connect_awaiter(this, from, target);
  }

  // `host` crashed: its listeners close, its connections break (peers see ECONNRESET).
  void host_down(const std::string& host) {
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      auto next = std::next(it);
      if (it->second.where.host == host) stop_listening(it->first);
      it = next;
    }
    streams_.reset_host(host, co::errno_code(ECONNRESET));
  }

 private:
  friend class listener;

  struct listening {
    io::endpoint where;
    std::deque<stream> backlog;              // server ends not yet accepted, oldest first
    co::detail::waiter_queue acceptors;      // accept_awaiters, waiting while the backlog is empty
  };

  // Step 1: register the attempt, arm the timeout and send the request.
  std::uint64_t begin_connect(connect_awaiter& a) {
    const std::uint64_t attempt = next_id_++;
    connecting_.emplace(attempt, &a);
    a.timeout_ = world_->after(streams_.settings().connect_timeout,
                               [this, attempt] { finish_connect(attempt, co::errno_code(ETIMEDOUT)); });
    world_->note(a.from_, "connect", a.target_.port);
    const auto delay = links_->segment_delay(a.from_, a.target_.host,
                                             streams_.settings().retransmission_timeout);
    if (delay) {
      world_->after(*delay, [this, attempt, from = a.from_, target = a.target_] {
        request_arrives(attempt, from, target);
      });
    }
    return attempt;
  }

  // Step 2, at the target: accept or refuse, and send the reply back.
  void request_arrives(std::uint64_t attempt, const std::string& from, const io::endpoint& target) {
    if (!connecting_.contains(attempt)) return;  // the client gave up; nothing to answer
    if (!links_->is_up(target.host)) return;     // it went down meanwhile: no answer at all
    const auto delay = links_->segment_delay(target.host, from,
                                             streams_.settings().retransmission_timeout);
    auto bound = bound_.find(target);
    if (bound == bound_.end()) {
      world_->note(target.host, "refuse", target.port);
      if (delay) {
        world_->after(*delay, [this, attempt] {
          finish_connect(attempt, co::errno_code(ECONNREFUSED));
        });
      }
      return;
    }
    const std::uint64_t id = streams_.open(from, target.host);
    listening& l = listeners_.at(bound->second);
    stream server_end = streams_.end(id, 1);
    if (auto* a = static_cast<accept_awaiter*>(l.acceptors.pop_front())) {
      a->accepted_.emplace(std::move(server_end));
      a->wake();
    } else {
      l.backlog.push_back(std::move(server_end));
    }
    if (!delay) {
      streams_.reset(id, co::errno_code(ETIMEDOUT));  // the reply cannot get back
      return;
    }
    world_->after(*delay, [this, attempt, id] { reply_arrives(attempt, id); });
  }

  // Step 3, back at the client: hand over the client end (or close it if nobody wants it).
  void reply_arrives(std::uint64_t attempt, std::uint64_t id) {
    stream client_end = streams_.end(id, 0);  // closes the end if it goes nowhere
    if (std::error_code broken = streams_.broken(id)) {
      finish_connect(attempt, broken);
      return;
    }
    finish_connect(attempt, std::move(client_end));
  }

  void finish_connect(std::uint64_t attempt, co::result<stream> outcome) {
    auto it = connecting_.find(attempt);
    if (it == connecting_.end()) return;  // finished before, or abandoned
    connect_awaiter* a = it->second;
    connecting_.erase(it);
    world_->cancel(a->timeout_);
    world_->note(a->from_, outcome ? "connect-ok" : "connect-failed",
                 static_cast<std::uint64_t>(outcome.error().value()));
    a->finish(std::move(outcome));
  }

  void give_up(std::uint64_t attempt) noexcept {
    auto it = connecting_.find(attempt);
    if (it == connecting_.end()) return;
    world_->cancel(it->second->timeout_);
    connecting_.erase(it);
  }

  void stop_listening(std::uint64_t id) noexcept {
    auto it = listeners_.find(id);
    if (it == listeners_.end()) return;
    listening& l = it->second;
    while (auto* a = l.acceptors.pop_front()) a->wake(co::errno_code(EBADF));
    for (stream& never_accepted : l.backlog) {
      streams_.reset(never_accepted.connection_id(), co::errno_code(ECONNRESET));
    }
    bound_.erase(l.where);
    listeners_.erase(it);
  }

  world* world_;
  sim::links* links_;
  sim::connections streams_;
  std::map<std::uint64_t, listening> listeners_;    // by id: a stale handle finds nothing
  std::map<io::endpoint, std::uint64_t> bound_;     // endpoint -> listener id
  std::map<std::uint64_t, connect_awaiter*> connecting_;  // handshakes in progress, by attempt
  std::uint64_t next_id_ = 1;
};

void listener::close() noexcept {
  if (table_) std::exchange(table_, nullptr)->stop_listening(id_);
}

}  // namespace coraft::sim
