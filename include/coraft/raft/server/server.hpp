// coraft/raft/server/server.hpp — a Raft node with its TCP transport and file storage: a cluster member.
//
// The node is generic over executor, transport and storage; most applications want the same three:
// the io_uring executor, TCP between the members, files in a data directory. A server assembles
// them from one configuration and runs them as one coroutine:
//
//   coraft::io::uring_executor executor;
//   coraft::raft::server<coraft::io::uring_executor> server(executor, config);
//   coraft::co::scope scope(executor);
//   scope.spawn(server.run());
//   ... propose through server.node(), read server.node().applied() ...
//   executor.run();
#pragma once

#include <chrono>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "coraft/co/context.hpp"
#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/listen.hpp"
#include "coraft/raft/option_checks.hpp"
#include "coraft/raft/storage/file_storage.hpp"
#include "coraft/raft/node.hpp"
#include "coraft/raft/options.hpp"
#include "coraft/raft/transport/tcp_transport.hpp"

namespace coraft::raft {

struct server_config {
  node_id id = nobody;
  // A new cluster's members, every one's Raft address, this one's included: the initial
  // configuration, used on an empty data directory only. A member that joins a running cluster
  // (`join`) lists only its own address, where it listens; it learns the others from the leader.
  std::map<node_id, io::endpoint> members;
  bool join = false;
  // The new cluster's id; 0: one drawn from the member ids (every member given the same list
  // agrees). It names the cluster in every request: members of another cluster drop them.
  cluster_id cluster = 0;
  std::map<node_id, bytes> info;            // each first member's member::info, if any
  std::string data_directory;               // created if missing, with its parents
  options node;
  tcp::options transport;
  file_storage_options storage;
};

// Throws std::invalid_argument, naming the field and the rule, unless a server can be built from
// `c`: its own fields here, then each part's options (validate of options, tcp::options and
// file_storage_options). The server's constructor calls it first.
inline void validate(const server_config& c) {
  constexpr const char* owner = "coraft::raft::server_config";
  if (c.id == nobody) option_checks::refuse(owner, "id", "0", "is reserved: number members from 1");
  if (!c.members.contains(c.id))
    option_checks::refuse(owner, "members", std::to_string(c.members.size()) + " addresses",
                          "must hold this member's own address (id " + std::to_string(c.id) + ")");
  if (c.data_directory.empty())
    throw std::invalid_argument(std::string(owner) + ": data_directory must name a directory");
  validate(c.node);
  tcp::validate(c.transport);
  validate(c.storage);
}

// `c`, once validate(c) has passed: for the server's constructor.
inline server_config validated(server_config c) {
  validate(c);
  return c;
}

template <io::executor Executor>
class server {
 public:
  using transport_type = tcp_transport<Executor>;
  using storage_type = file_storage<Executor>;
  using node_type = raft::node<Executor, transport_type, storage_type>;

  server(Executor& executor, server_config config)
      : server(executor, validated(std::move(config)), already_validated{}) {}
  server(const server&) = delete;
  server& operator=(const server&) = delete;

 private:
  struct already_validated {};
  server(Executor& executor, server_config config, already_validated)
      : executor_(executor), transport_(executor, config.id, config.members, std::move(config.transport)),
        storage_(executor, config.data_directory, config.storage),
        node_(executor, transport_, storage_, config.id, start_of(config), config.node) {}

 public:
  // Binds the member's address (retrying "address in use" for a few seconds after a crash, see
  // io/listen.hpp), then runs the transport and the node until cancelled or until
  // node().shutdown(); ends once both have stopped. Throws std::system_error when the address cannot
  // be bound or the data directory cannot be loaded (a corrupt log is never silently dropped).
  co::task<void> run() {
    auto bound = co_await io::listen_when_free(executor_, transport_.local_endpoint());
    if (!bound)
      throw std::system_error(bound.error(),
                              "coraft: cannot listen on " + transport_.local_endpoint().to_string());
    transport_.listen_on(std::move(*bound));
    co::scope network(co_await co::current_context());
    network.spawn(transport_.run());
    std::exception_ptr failure;
    try {
      co_await node_.run();
    } catch (...) {
      failure = std::current_exception();
    }
    network.request_stop();
    co_await network.join();
    if (failure) std::rethrow_exception(failure);
  }

  Executor& executor() noexcept { return executor_; }
  node_type& node() noexcept { return node_; }
  const node_type& node() const noexcept { return node_; }
  transport_type& transport() noexcept { return transport_; }
  const transport_type& transport() const noexcept { return transport_; }
  storage_type& storage() noexcept { return storage_; }

 private:
  // The initial configuration of the config's members, with their addresses; or a join.
  static membership_start start_of(const server_config& config) {
    if (config.join) return membership_start::join();
    std::vector<node_id> peers;
    for (const auto& [id, address] : config.members)
      if (id != config.id) peers.push_back(id);
    configuration initial = initial_configuration(config.id, peers);
    if (config.cluster != 0) initial.cluster = config.cluster;
    for (member& m : initial.members) {
      if (auto a = config.members.find(m.id); a != config.members.end())
        m.address = to_bytes(a->second.to_string());
      if (auto i = config.info.find(m.id); i != config.info.end()) m.info = i->second;
    }
    return membership_start::new_cluster(std::move(initial));
  }

  Executor& executor_;
  transport_type transport_;
  storage_type storage_;
  node_type node_;
};

}  // namespace coraft::raft
