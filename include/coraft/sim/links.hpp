// coraft/sim/links.hpp — whether a packet from one host reaches another, and how late.
//
// The fault model of the simulated network, in one place:
//  * Each direction of each pair of hosts (a link) follows a link_faults policy: the global one set
//    by set_faults(), or its own set by set_faults(from, to, ...).
//  * A packet's one-way delay is drawn uniformly from [min_delay, max_delay]; with probability
//    long_delay it is drawn from [long_delay_min, long_delay_max] instead. Packets are delayed
//    independently, so two messages on one link can overtake each other; only a stream keeps its
//    own bytes in order (as TCP does, see sockets.hpp).
//  * A packet is lost with probability `drop`. A datagram-like message is then gone; a stream's
//    segment is instead retransmitted after the retransmission timeout (TCP hides loss as delay),
//    and so is one held back longer than that timeout: its retransmission may arrive first.
//  * A link is cut, and every packet on it lost, while its hosts are in different groups of a
//    partition, or while either host is disconnected. A host that is down (crashed) neither sends
//    nor receives. Traffic between a host and itself never crosses a link and is never cut.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coraft/io/contract.hpp"
#include "coraft/sim/world.hpp"

namespace coraft::sim {

struct link_faults {
  double drop = 0.0;  // probability that one packet is lost
  io::duration min_delay = std::chrono::milliseconds(1);
  io::duration max_delay = std::chrono::milliseconds(3);
  double long_delay = 0.0;  // probability that a packet is held back far longer than usual
  io::duration long_delay_min = std::chrono::milliseconds(50);
  io::duration long_delay_max = std::chrono::milliseconds(500);
};

class links {
 public:
  explicit links(world& w) : world_(&w) {}

  // ---- the hosts on the network ----------------------------------------------------------------

  void add_host(const std::string& name) {
    if (!hosts_.emplace(name, host_state{}).second) {
      throw std::invalid_argument("coraft::sim: two hosts named " + name);
    }
  }
  void remove_host(const std::string& name) { hosts_.erase(name); }
  bool knows(const std::string& name) const { return hosts_.contains(name); }

  // A host goes down when it crashes and up when it restarts; each time it comes up it starts a new
  // incarnation, so that a message addressed to the old one can be recognised and lost.
  void set_up(const std::string& name, bool up) {
    host_state& h = hosts_.at(name);
    if (up && !h.up) ++h.incarnation;
    h.up = up;
  }
  bool is_up(const std::string& name) const {
    auto it = hosts_.find(name);
    return it != hosts_.end() && it->second.up;
  }
  std::uint64_t incarnation(const std::string& name) const { return hosts_.at(name).incarnation; }

  // ---- faults ----------------------------------------------------------------------------------

  void set_faults(const link_faults& everywhere) { default_faults_ = everywhere; }
  void set_faults(const std::string& from, const std::string& to, const link_faults& on_link) {
    link_faults_[{from, to}] = on_link;
  }
  void clear_link_faults() { link_faults_.clear(); }
  const link_faults& faults(const std::string& from, const std::string& to) const {
    auto it = link_faults_.find({from, to});
    return it == link_faults_.end() ? default_faults_ : it->second;
  }

  // Split the hosts into groups that cannot reach each other. A host named in no group is alone.
  void partition(const std::vector<std::vector<std::string>>& groups) {
    group_of_.clear();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      for (const auto& name : groups[g]) group_of_[name] = g;
    }
    partitioned_ = true;
  }
  void heal() {
    group_of_.clear();
    partitioned_ = false;
  }
  void disconnect(const std::string& name) { disconnected_.insert(name); }
  void reconnect(const std::string& name) { disconnected_.erase(name); }

  // Is every packet from `a` to `b` (or back) lost by the partition or a disconnection?
  bool cut(const std::string& a, const std::string& b) const {
    if (a == b) return false;
    if (disconnected_.contains(a) || disconnected_.contains(b)) return true;
    if (!partitioned_) return false;
    auto group_a = group_of_.find(a);
    auto group_b = group_of_.find(b);
    // A host named in no group is alone, cut off from everyone else.
    if (group_a == group_of_.end() || group_b == group_of_.end()) return true;
    return group_a->second != group_b->second;
  }
  // Can a packet sent now from `from` reach `to` at all?
  bool reachable(const std::string& from, const std::string& to) const {
    return is_up(from) && is_up(to) && !cut(from, to);
  }

  // ---- drawing the fate of one packet ----------------------------------------------------------

  // For a message that is lost when dropped: its delay, or nullopt if it is lost.
  std::optional<io::duration> message_delay(const std::string& from, const std::string& to) {
    if (!reachable(from, to)) return std::nullopt;
    if (from == to) return io::duration::zero();
    const link_faults& f = faults(from, to);
    if (world_->random().chance(f.drop)) return std::nullopt;
    return draw_delay(f);
  }

  // For a stream segment: its delay including retransmissions, or nullopt if the link is cut.
  std::optional<io::duration> segment_delay(const std::string& from, const std::string& to,
                                            io::duration retransmission_timeout) {
    if (!reachable(from, to)) return std::nullopt;
    if (from == to) return io::duration::zero();
    const link_faults& f = faults(from, to);
    // The sender sends the segment again each retransmission timeout until a copy arrives, so a
    // loss costs a timeout and a new attempt, and a copy held back longer than the timeout is
    // overtaken by the next: whichever copy arrives first counts. After 16 copies lost the sender
    // gives up, as a real stack does: nullopt, and the connection is reset.
    io::duration sent_at = io::duration::zero();
    std::optional<io::duration> arrival;
    for (int attempt = 0; attempt < 16; ++attempt) {
      const io::duration transit = draw_delay(f);
      const bool lost = world_->random().chance(f.drop);
      if (!lost && (!arrival || sent_at + transit < *arrival)) arrival = sent_at + transit;
      sent_at += retransmission_timeout;
      if (arrival && *arrival <= sent_at) break;  // it arrived before the next copy would leave
    }
    return arrival;
  }

 private:
  struct host_state {
    bool up = true;
    std::uint64_t incarnation = 0;
  };

  io::duration draw_delay(const link_faults& f) {
    auto& rng = world_->random();
    if (rng.chance(f.long_delay)) return rng.uniform(f.long_delay_min, f.long_delay_max);
    return rng.uniform(f.min_delay, f.max_delay);
  }

  world* world_;
  std::map<std::string, host_state> hosts_;  // ordered by name: iteration never depends on addresses
  link_faults default_faults_;
  std::map<std::pair<std::string, std::string>, link_faults> link_faults_;  // (from, to) overrides
  bool partitioned_ = false;
  std::map<std::string, std::size_t> group_of_;  // during a partition: host name -> group index
  std::set<std::string> disconnected_;
};

}  // namespace coraft::sim
