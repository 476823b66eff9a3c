// coraft/sim/network.hpp — the simulated network: faulty links, byte streams, and a message hook.
//
// One object for everything a test does to the network:
//  * faults: set_faults() for every link or for one direction of one link (drop probability,
//    delay range, chance and range of long delays — see links.hpp for the model);
//  * cuts: partition(groups) / heal(), disconnect(host) / reconnect(host). Cutting a link breaks the
//    streams across it at once (both ends see ETIMEDOUT) and makes new connects across it time out;
//  * streams: what sim::host uses to implement listen / accept / connect / recv / send;
//  * deliver(from, to, on_arrival): one message, for transports that want the network's faults
//    without a byte stream (a simulated Raft transport). It is lost if the link is cut, if either
//    host is down, or with the link's drop probability; otherwise on_arrival runs after the link's
//    delay, from the world's step() — unless by then the link is cut or the destination has crashed
//    (a message addressed to a host is lost with the host, even if it has restarted since).
//    Messages are delayed independently of each other, so they reorder.
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/sim/connections.hpp"
#include "coraft/sim/links.hpp"
#include "coraft/sim/sockets.hpp"
#include "coraft/sim/world.hpp"

namespace coraft::sim {

class network {
 public:
  explicit network(world& w) : world_(&w), links_(w), sockets_(w, links_) {}
  network(const network&) = delete;
  network& operator=(const network&) = delete;

  // ---- faults ----------------------------------------------------------------------------------

  void set_faults(const link_faults& everywhere) { links_.set_faults(everywhere); }
  void set_faults(const std::string& from, const std::string& to, const link_faults& on_link) {
    links_.set_faults(from, to, on_link);
  }
  void clear_link_faults() { links_.clear_link_faults(); }
  void set_stream_settings(const stream_settings& settings) {
    sockets_.streams().settings() = settings;
  }

  // Hosts in different groups cannot reach each other; a host named in no group reaches no one.
  void partition(const std::vector<std::vector<std::string>>& groups) {
    links_.partition(groups);
    world_->note("network", "partition", groups.size());
    break_cut_streams();
  }
  void heal() {
    links_.heal();
    world_->note("network", "heal");
  }
  void disconnect(const std::string& host) {
    links_.disconnect(host);
    world_->note(host, "disconnect");
    break_cut_streams();
  }
  void reconnect(const std::string& host) {
    links_.reconnect(host);
    world_->note(host, "reconnect");
  }
  bool reachable(const std::string& from, const std::string& to) const {
    return links_.reachable(from, to);
  }

  // ---- the message hook ------------------------------------------------------------------------

  struct message_counts {
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t dropped = 0;  // lost on the way, for any reason
  };

  // Send one message from `from` to `to`: on_arrival runs on arrival, or never (see the top).
  void deliver(const std::string& from, const std::string& to, std::function<void()> on_arrival) {
    ++counts_.sent;
    const auto delay = links_.message_delay(from, to);
    if (!delay) {
      drop(from, to);
      return;
    }
    const std::uint64_t incarnation = links_.incarnation(to);
    world_->after(*delay, [this, from, to, incarnation, on_arrival = std::move(on_arrival)] {
      if (!links_.is_up(to) || links_.incarnation(to) != incarnation || links_.cut(from, to)) {
        drop(from, to);
        return;
      }
      ++counts_.delivered;
      world_->note(to, "message", counts_.delivered);
      on_arrival();
    });
  }
  const message_counts& counts() const noexcept { return counts_; }

  // ---- for sim::host ---------------------------------------------------------------------------

  void add_host(const std::string& name) { links_.add_host(name); }
  void remove_host(const std::string& name) { links_.remove_host(name); }
  // The host crashed: it is unreachable, its listeners close and its streams break.
  void host_down(const std::string& name) {
    links_.set_up(name, false);
    sockets_.host_down(name);
  }
  void host_up(const std::string& name) { links_.set_up(name, true); }
  bool is_up(const std::string& name) const { return links_.is_up(name); }

  sim::sockets& sockets() noexcept { return sockets_; }
  sim::connections& streams() noexcept { return sockets_.streams(); }
  sim::links& links() noexcept { return links_; }

 private:
  void drop(const std::string& from, const std::string& to) {
    ++counts_.dropped;
    world_->note(from + ">" + to, "lost", counts_.dropped);
  }
  void break_cut_streams() { sockets_.streams().reset_cut(co::errno_code(ETIMEDOUT)); }

  world* world_;
  sim::links links_;
  sim::sockets sockets_;
  message_counts counts_;
};

}  // namespace coraft::sim
