// coraft/sim/host.hpp — one simulated machine: the io::executor contract on the simulated world.
//
// A host has a name (its network address), a disk, and the coroutines that run on it. It is the
// executor those coroutines are written against: code generic over io::executor (a Raft node, its
// storage, its transport) runs on a host exactly as on the io_uring executor, but in virtual time,
// over the simulated network and disk, and reproducibly from the world's seed.
//
// Life cycle, which is what the simulator adds to the contract:
//  * spawn(task) runs a coroutine on the host, owned by the host's scope for its current life.
//  * crash() ends that life at once: every coroutine of the host is cancelled (each suspended await
//    yields cancelled(), and so does every awaitable a winding-down coroutine starts, with no
//    effect), its listeners close, its connections break (peers see ECONNRESET), messages on their
//    way to it are lost, and its disk keeps only what was durable. While the host is down, its
//    synchronous operations (listen, rename, file_size...) fail with cancelled() too.
//  * restart() starts a new life with an empty scope; the test spawns the node again, and it
//    recovers from its disk. The cancelled coroutines of the past life normally end within the
//    next steps of the world; one still winding down after restart() must not call the host's
//    synchronous operations, which would act on the new life.
// A host is a co::scheduler: its coroutines are queued on it and the world runs them (in the order
// hosts were created), and its step() steps the whole world. An exception escaping a coroutine
// spawned on a host is a bug in the code under test: the world's step() rethrows it.
//
// Lifetime: create the world, then the network, then the hosts; destroy in reverse (locals declared
// in that order do it). A host's destructor cancels its coroutines and runs the world until they end.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <sys/uio.h>
#include <utility>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/co/scheduler.hpp"
#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/endpoint.hpp"
#include "coraft/sim/clock.hpp"
#include "coraft/sim/connections.hpp"
#include "coraft/sim/disk.hpp"
#include "coraft/sim/network.hpp"
#include "coraft/sim/operations.hpp"
#include "coraft/sim/sockets.hpp"
#include "coraft/sim/world.hpp"

namespace coraft::sim {

class host final : public co::scheduler {
 public:
  using listener = sim::listener;
  using stream = sim::stream;
  using file = sim::file;

  host(sim::world& w, sim::network& net, std::string name)
      : world_(&w), network_(&net), name_(std::move(name)), disk_(w, name_),
        scope_(std::make_unique<co::scope>(*this)) {
    network_->add_host(name_);
    world_->attach(*this);
  }
  host(const host&) = delete;
  host& operator=(const host&) = delete;

  ~host() override {
    if (scope_) retire_scope();
    // Let the cancelled coroutines wind down. One that can never end, or that throws now, is a bug
    // with nowhere to go: like co::scope, give up loudly (an exception leaving here terminates).
    for (reap(); !retired_.empty() || has_ready(); reap()) {
      if (!world_->step()) std::terminate();
    }
    world_->forget_posts(this);
    world_->detach(*this);
    network_->remove_host(name_);
  }

  const std::string& name() const noexcept { return name_; }
  bool is_up() const noexcept { return scope_ != nullptr; }
  sim::world& world() noexcept { return *world_; }
  sim::network& network() noexcept { return *network_; }
  sim::disk& disk() noexcept { return disk_; }

  // ---- life cycle ------------------------------------------------------------------------------

  // Run `t` on this host until it ends or the host crashes.
  void spawn(co::task<void> t) {
    if (!scope_) throw std::logic_error("coraft::sim::host::spawn: " + name_ + " is down");
    scope_->spawn(guarded(std::move(t), world_));
  }
  // Coroutines spawned in the current life that have not ended yet.
  std::size_t running() const noexcept { return scope_ ? scope_->size() : 0; }

  void crash() {
    if (!scope_) return;
    world_->note(name_, "crash");
    retire_scope();              // first its coroutines learn they are cancelled,
    network_->host_down(name_);  // then the network forgets the host,
    disk_.crash();               // and the disk keeps only what was durable
  }
  void restart() {
    if (scope_) return;
    reap();
    world_->note(name_, "restart");
    network_->host_up(name_);
    scope_ = std::make_unique<co::scope>(*this);
  }

  // The host's step is the world's: waiting for this host means letting the world move.
  bool step() override { return world_->step(); }

  // ---- io::timers, io::posting -----------------------------------------------------------------

  // The host's own clock (sim/clock.hpp): the world's unless set_clock_rate() made it drift.
  io::time_point now() const noexcept { return clock_.local(world_->now()); }
  sleep_awaiter sleep_until(io::time_point when) { return world_->sleep_until(clock_.world(when)); }
  sleep_awaiter sleep_for(io::duration how_long) { return sleep_until(now() + how_long); }
  // From now on, the host's clock advances `rate` of its time per unit of the world's (> 0), through
  // crashes and restarts, as the machine's oscillator would.
  void set_clock_rate(double rate) { clock_.set_rate(world_->now(), rate); }

  // Run `fn` on this host from the world's next step (from any thread). Dropped if the host is down
  // by then.
  void post(std::function<void()> fn) {
    world_->post([this, fn = std::move(fn)] { if (scope_) fn(); }, this);
  }

  // ---- io::streams -----------------------------------------------------------------------------

  co::result<listener> listen(const io::endpoint& where) {
    return network_->sockets().listen(name_, where);
  }
  sockets::accept_awaiter accept(listener& l) { return network_->sockets().accept(l); }
  sockets::connect_awaiter connect(const io::endpoint& target) {
    return network_->sockets().connect(name_, target);
  }
  connections::recv_awaiter recv(stream& s, std::span<std::byte> buffer) {
    return network_->streams().recv(s, buffer);
  }
  connections::send_awaiter send(stream& s, std::span<const std::byte> bytes) {
    return network_->streams().send(s, bytes);
  }
  connections::send_awaiter sendv(stream& s, std::span<const iovec> pieces) {
    return network_->streams().sendv(s, pieces);
  }

  // ---- io::files -------------------------------------------------------------------------------

  auto open(const std::string& path, int flags) {
    return make_immediate<co::result<file>>([this, path, flags]() -> co::result<file> {
      if (!scope_) return co::cancelled();
      return disk_.open(path, flags);
    });
  }
  auto pread(file& f, std::span<std::byte> buffer, std::uint64_t offset) {
    return make_immediate<co::result<std::size_t>>(
        [this, &f, buffer, offset]() -> co::result<std::size_t> {
          if (!scope_) return co::cancelled();
          return disk_.read(f, buffer, offset);
        });
  }
  auto pwrite(file& f, std::span<const std::byte> bytes, std::uint64_t offset) {
    return make_immediate<co::result<std::size_t>>(
        [this, &f, bytes, offset]() -> co::result<std::size_t> {
          if (!scope_) return co::cancelled();
          const iovec piece{const_cast<std::byte*>(bytes.data()), bytes.size()};
          return disk_.write(f, std::span(&piece, 1), offset);
        });
  }
  auto pwritev(file& f, std::span<const iovec> pieces, std::uint64_t offset) {
    return make_immediate<co::result<std::size_t>>(
        [this, &f, pieces, offset]() -> co::result<std::size_t> {
          if (!scope_) return co::cancelled();
          return disk_.write(f, pieces, offset);
        });
  }
  auto fdatasync(file& f) {
    return disk_sync(*world_, disk_, [this, &f]() -> co::result<disk::sync_ticket> {
      if (!scope_) return co::cancelled();
      return disk_.begin_sync(f);
    });
  }
  // The write happens when awaited; the await ends once the fdatasync after it has completed.
  auto write_and_sync(file& f, std::span<const iovec> pieces, std::uint64_t offset) {
    return disk_sync(*world_, disk_, [this, &f, pieces, offset]() -> co::result<disk::sync_ticket> {
      if (!scope_) return co::cancelled();
      if (auto written = disk_.write(f, pieces, offset); !written) return written.error();
      return disk_.begin_sync(f);
    });
  }
  auto sync_directory(const std::string& path) {
    return disk_sync(*world_, disk_, [this, path]() -> co::result<disk::sync_ticket> {
      if (!scope_) return co::cancelled();
      return disk_.begin_sync(path);
    });
  }

  co::result<std::uint64_t> file_size(file& f) {
    if (!scope_) return co::cancelled();
    return disk_.size(f);
  }
  co::result<void> truncate(file& f, std::uint64_t length) {
    if (!scope_) return co::cancelled();
    return disk_.truncate(f, length);
  }
  co::result<void> preallocate(file& f, std::uint64_t length) {
    if (!scope_) return co::cancelled();
    return disk_.preallocate(f, length);
  }
  co::result<void> rename(const std::string& from, const std::string& to) {
    if (!scope_) return co::cancelled();
    return disk_.rename(from, to);
  }
  co::result<void> remove(const std::string& path) {
    if (!scope_) return co::cancelled();
    return disk_.remove(path);
  }
  auto punch_hole(file& f, std::uint64_t offset, std::uint64_t length) {
    return make_immediate<co::result<void>>([this, &f, offset, length]() -> co::result<void> {
      if (!scope_) return co::cancelled();
      return disk_.punch_hole(f, offset, length);
    });
  }
  // As remove, when awaited: the name goes at once, and the removal is durable once a
  // sync_directory issued after it completes (a crash before brings the file back).
  auto unlink(const std::string& path) {
    return make_immediate<co::result<void>>([this, path]() -> co::result<void> {
      if (!scope_) return co::cancelled();
      return disk_.remove(path);
    });
  }
  co::result<void> make_directory(const std::string& path) {
    if (!scope_) return co::cancelled();
    return disk_.make_directory(path);
  }
  co::result<std::vector<std::string>> list_directory(const std::string& path) {
    if (!scope_) return co::cancelled();
    return disk_.list_directory(path);
  }

 private:
  // Awaits one coroutine spawned on the host; ends when it ends. What it throws goes to the world.
  static co::task<void> guarded(co::task<void> t, sim::world* w) {
    try {
      co_await std::move(t);
    } catch (...) {
      w->fail(std::current_exception());
    }
  }

  void retire_scope() {
    scope_->request_stop();
    retired_.push_back(std::move(scope_));
  }
  // Drop the scopes of past lives whose coroutines have all ended.
  void reap() {
    std::erase_if(retired_, [](const std::unique_ptr<co::scope>& s) { return s->size() == 0; });
  }

  sim::world* world_;
  sim::network* network_;
  std::string name_;
  sim::disk disk_;
  machine_clock clock_;
  std::unique_ptr<co::scope> scope_;  // the current life's coroutines; null while the host is down
  std::vector<std::unique_ptr<co::scope>> retired_;  // past lives still winding down
};

static_assert(io::executor<host>);

}  // namespace coraft::sim
