// tests/raft/stacks.hpp — the two stacks a simulated cluster runs a Raft node on, behind one view.
//
//  * fast: the node on the world itself, with memory_storage (a memory_disk that a crash reduces to
//    what was synced) and sim_transport (one message per RPC through the simulated network). Cheap,
//    so scenarios run many seeds on it.
//  * production: what ships. Each server is its own sim::host, and a raft::server runs on it:
//    file_storage in a data directory on the host's simulated disk, tcp_transport over the host's
//    simulated sockets. A crash is the host's power cut: the disk keeps what was synced (a torn last
//    write if its faults say so), the sockets break, and the restart recovers from the files.
//
// The cluster holds one `member` per running server: the node's public API, whatever the stack, so
// that the lab's scenarios, their checks and the safety checker are the same code for both.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <coraft/co/channel.hpp>
#include <coraft/co/task.hpp>
#include <coraft/raft/storage/memory_storage.hpp>
#include <coraft/raft/node.hpp>
#include <coraft/raft/server/server.hpp>
#include <coraft/raft/transport/sim_transport.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>

namespace coraft::test {

using namespace std::chrono_literals;

enum class stack { fast, production };

inline std::string to_string(stack s) { return s == stack::fast ? "fast" : "production"; }

// What one simulated run is: a stack and the seed of its world.
struct simulation {
  test::stack stack = stack::fast;
  std::uint64_t seed = 1;
  std::string describe() const { return to_string(stack) + " stack, seed " + std::to_string(seed); }
};

// The server behind node id `id` is host "n<id>" on the simulated network.
inline std::string host_name(raft::node_id id) {
  std::string name = "n";  // appended, not "n" + ...: g++ 12 -O3 warns falsely (-Wrestrict) there
  name += std::to_string(id);
  return name;
}

// The fast stack's messages: through the simulated network, between the hosts of two node ids.
struct raft_wires {
  sim::network* network;
  static std::string host(raft::node_id id) { return host_name(id); }
  void deliver(raft::node_id from, raft::node_id to, std::function<void()> on_arrival) {
    network->deliver(host(from), host(to), std::move(on_arrival));
  }
};

using sim_transport = raft::sim_transport<raft_wires, sim::world>;
using sim_storage = raft::memory_storage<sim::world>;
using sim_node = raft::node<sim::world, sim_transport, sim_storage>;
using sim_board = raft::sim_switchboard<raft_wires, sim::world>;
using production_server = raft::server<sim::host>;

}  // namespace coraft::test

// Each stack is compiled once, in stacks.cpp, rather than in every scenario's file.
namespace coraft::raft {
extern template class node<sim::world, test::sim_transport, test::sim_storage>;
extern template class memory_storage<sim::world>;
extern template class sim_transport<test::raft_wires, sim::world>;
extern template class node<sim::host, tcp_transport<sim::host>, file_storage<sim::host>>;
extern template class tcp_transport<sim::host>;
extern template class file_storage<sim::host>;
extern template class server<sim::host>;
}  // namespace coraft::raft

namespace coraft::test {

// RPCs (requests and replies) a run has sent, and the entry or snapshot bytes they carried.
struct traffic {
  std::uint64_t rpcs = 0;
  std::uint64_t payload_bytes = 0;
};

// One run of one server, on either stack: the node's API, and its life as one coroutine.
class member {
 public:
  virtual ~member() = default;

  // The node's life on its stack; ends once the node (and its transport) stopped, or once it
  // exited because its storage could not be loaded (see exit_reason()).
  virtual co::task<void> run() = 0;
  // Why this run's node exited on its own (its disk failed it at start), or empty while it runs.
  const std::string& exit_reason() const noexcept { return exit_reason_; }

  virtual raft::node_status status() const = 0;
  virtual raft::node_metrics metrics() const = 0;
  virtual void check_invariants() const = 0;
  virtual co::task<co::result<raft::node_status>> role_change(raft::node_status known) = 0;
  virtual const raft::log_window& log() const = 0;
  virtual const raft::configuration_log& configurations() const = 0;
  virtual raft::start_result start(raft::bytes command) = 0;
  virtual co::task<co::result<raft::proposal>> propose(raft::bytes command) = 0;
  virtual void snapshot(raft::index_t through, raft::bytes state) = 0;
  virtual co::task<co::result<void>> transfer_leadership(raft::node_id target) = 0;
  virtual co::task<co::result<raft::index_t>> read_index() = 0;
  virtual co::task<co::result<raft::configuration>> change_membership(std::vector<raft::member> next) = 0;
  virtual co::task<co::result<raft::configuration>> add_member(raft::member m) = 0;
  virtual co::task<co::result<raft::configuration>> remove_member(raft::node_id id) = 0;
  virtual co::channel<raft::applied_entry>& applied() = 0;
  virtual co::task<void> shutdown() = 0;
  // The production stack's traffic is counted by each run's transport; the fast stack's by the
  // switchboard they share (this returns nothing there).
  virtual traffic sent() const = 0;

 protected:
  std::string exit_reason_;
};

// The view of a node of any stack, for the member's API.
template <class Node>
class node_member : public member {
 public:
  raft::node_status status() const override { return node().status(); }
  raft::node_metrics metrics() const override { return node().metrics(); }
  void check_invariants() const override { node().check_invariants(); }
  co::task<co::result<raft::node_status>> role_change(raft::node_status known) override {
    return node().role_change(known);
  }
  const raft::log_window& log() const override { return node().log(); }
  const raft::configuration_log& configurations() const override { return node().configurations(); }
  raft::start_result start(raft::bytes command) override { return node().start(std::move(command)); }
  co::task<co::result<raft::proposal>> propose(raft::bytes command) override {
    return node().propose(std::move(command));
  }
  void snapshot(raft::index_t through, raft::bytes state) override {
    node().snapshot(through, std::move(state));
  }
  co::task<co::result<void>> transfer_leadership(raft::node_id target) override {
    return node().transfer_leadership(target);
  }
  co::task<co::result<raft::index_t>> read_index() override { return node().read_index(); }
  co::task<co::result<raft::configuration>> change_membership(std::vector<raft::member> next) override {
    return node().change_membership(std::move(next));
  }
  co::task<co::result<raft::configuration>> add_member(raft::member m) override {
    return node().add_member(std::move(m));
  }
  co::task<co::result<raft::configuration>> remove_member(raft::node_id id) override {
    return node().remove_member(id);
  }
  co::channel<raft::applied_entry>& applied() override { return node().applied(); }
  co::task<void> shutdown() override { return node().shutdown(); }

 protected:
  virtual Node& node() = 0;
  virtual const Node& node() const = 0;
};

// ---- the fast stack -------------------------------------------------------------------------------

class fast_member final : public node_member<sim_node> {
 public:
  fast_member(sim::world& w, sim_board& board, raft::memory_disk& disk, raft::node_id id,
              raft::membership_start how, raft::options o)
      : storage_(w, disk, 500us), transport_(board, w, id, 100ms),
        node_(w, transport_, storage_, id, std::move(how), o) {}

  co::task<void> run() override { return node_.run(); }
  traffic sent() const override { return {}; }

 protected:
  sim_node& node() override { return node_; }
  const sim_node& node() const override { return node_; }

 private:
  sim_storage storage_;
  sim_transport transport_;
  sim_node node_;
};

// ---- the production stack -------------------------------------------------------------------------

inline constexpr std::uint16_t raft_port = 7000;
// Where a member's transport listens, as a configuration names it.
inline std::string address_of(raft::node_id id) { return host_name(id) + ":" + std::to_string(raft_port); }
inline constexpr const char* data_directory = "/raft";

// The TCP transport's timing, scaled to the lab's: an election timeout of 150 ms must be able to
// outlast a reconnect after a restart or a healed partition.
inline raft::tcp::options lab_tcp_options() {
  raft::tcp::options o;
  o.rpc_timeout = 100ms;  // as the fast stack's
  o.connect_timeout = 200ms;
  o.reconnect_min = 10ms;
  o.reconnect_max = 100ms;
  o.hello_timeout = 200ms;
  o.log = [](const std::string&) {};  // lost connections are the point of the tests
  return o;
}

class production_member final : public node_member<production_server::node_type> {
 public:
  // `members`: the cluster's first members; `joins`: this one is added later, and waits.
  production_member(sim::host& machine, raft::node_id id, const std::vector<raft::node_id>& members,
                    bool joins, raft::options o)
      : server_(machine, config(id, members, joins, o)) {}

  // A node that cannot load its storage refuses to start (raft::server throws): on a failing disk
  // (EIO, ENOSPC) that is the process exiting, which the harness treats as a crash; a power cut
  // during the load cancels it. Anything else, corruption included, is a failure of the test.
  co::task<void> run() override {
    try {
      co_await server_.run();
    } catch (const std::system_error& e) {
      const std::error_code why = e.code();
      if (!co::is_cancelled(why) && why != co::errno_code(EIO) && why != co::errno_code(ENOSPC)) throw;
      exit_reason_ = e.what();
    }
  }
  traffic sent() const override {
    const raft::tcp_statistics& s = server_.transport().statistics();
    return {s.requests_sent + s.replies_sent, s.payload_bytes_sent};
  }
  production_server& server() { return server_; }

 protected:
  production_server::node_type& node() override { return server_.node(); }
  const production_server::node_type& node() const override { return server_.node(); }

 private:
  static raft::server_config config(raft::node_id id, const std::vector<raft::node_id>& members,
                                    bool joins, raft::options o) {
    raft::server_config c;
    c.id = id;
    c.join = joins;
    if (joins) c.members.emplace(id, io::endpoint(host_name(id), raft_port));
    else
      for (raft::node_id m : members) c.members.emplace(m, io::endpoint(host_name(m), raft_port));
    c.data_directory = data_directory;
    c.node = o;
    c.transport = lab_tcp_options();
    // Small segments, so that the scenarios roll segments over and delete compacted ones.
    c.storage.segment_size = 4096;
    return c;
  }

  production_server server_;
};

}  // namespace coraft::test
