// examples/embed.cpp — coraft inside a program, assembled from its parts: three members of one
// cluster in one process, each an io_uring-driven Raft node with a TCP transport and a file
// storage. They elect a leader, commit one command on every member, and stop cleanly.
//
//   embed [PORT PORT PORT]    (members 1-3 on these loopback ports; 7301-7303 by default)
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/node.hpp>
#include <coraft/raft/storage/file_storage.hpp>
#include <coraft/raft/transport/tcp_transport.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using namespace coraft;

using executor_type = io::uring_executor;
using transport_type = raft::tcp_transport<executor_type>;
using storage_type = raft::file_storage<executor_type>;
using node_type = raft::node<executor_type, transport_type, storage_type>;
using addresses = std::map<raft::node_id, io::endpoint>;

// One member: how it reaches its peers, where its term, vote and log become durable, and the node
// over both. Every member is given every member's address, its own included.
struct member {
  member(executor_type& executor, raft::node_id id, const addresses& all,
         const std::filesystem::path& data_directory, raft::options opts)
      : transport(executor, id, all),
        storage(executor, data_directory.string()),
        node(executor, transport, storage, id, peers_of(id, all), opts) {}

  static std::vector<raft::node_id> peers_of(raft::node_id id, const addresses& all) {
    std::vector<raft::node_id> peers;
    for (const auto& [peer, address] : all)
      if (peer != id) peers.push_back(peer);
    return peers;
  }

  transport_type transport;
  storage_type storage;
  node_type node;
};
using cluster = std::vector<std::unique_ptr<member>>;

// Prints each command the member applies, in log order; ends when its node stops.
co::task<void> print_applied(member& m) {
  while (auto entry = co_await m.node.applied().recv()) {
    if (entry->kind != raft::entry_kind::command) continue;  // the leaders' no-ops
    std::printf("member %llu applied \"%s\" at index %llu\n",
                static_cast<unsigned long long>(m.node.status().id),
                raft::to_string(entry->payload).c_str(),
                static_cast<unsigned long long>(entry->index));
  }
}

// Resumes with true once `holds()` does, looking every 10 ms; with false after `patience`.
template <class Condition>
co::task<bool> eventually(executor_type& executor, Condition holds,
                          std::chrono::milliseconds patience) {
  const auto deadline = executor.now() + patience;
  while (!holds()) {
    if (executor.now() >= deadline) co_return false;
    (void)co_await executor.sleep_for(10ms);
  }
  co_return true;
}

// Runs the members, commits one command through the leader, waits until every member applied it,
// then stops them. Rethrows the first failure of a member's transport or node.
co::task<void> run_cluster(executor_type& executor, cluster& members) {
  co::scope running(co_await co::current_context());
  for (auto& m : members) {
    if (auto bound = m->transport.listen(); !bound)
      throw std::system_error(bound.error(), "cannot listen on " + m->transport.local_endpoint().to_string());
    running.spawn(m->transport.run());  // accepts the peers' connections and keeps one to each
    running.spawn(m->node.run());       // recovers from storage, then serves, applies, elects
    running.spawn(print_applied(*m));
  }
  // A failed member cancels the others (the scope failed): stop waiting, and let join() say why.
  const auto failed = [&] { return running.failures() > 0; };

  member* leader = nullptr;
  const auto elected = [&] {
    for (auto& m : members)
      if (m->node.status().role == raft::role::leader) leader = m.get();
    return leader != nullptr || failed();
  };
  if (!co_await eventually(executor, elected, 5s)) throw std::runtime_error("no leader within 5 s");

  if (!failed()) {
    auto outcome = co_await leader->node.propose(raft::to_bytes("x=1"));
    if (!outcome) throw std::system_error(outcome.error(), "the proposal was not committed");
    std::printf("member %llu committed \"x=1\" at index %llu in term %llu\n",
                static_cast<unsigned long long>(leader->node.status().id),
                static_cast<unsigned long long>(outcome->index),
                static_cast<unsigned long long>(outcome->term));
    const auto everywhere = [&] {
      for (auto& m : members)
        if (m->node.status().last_applied < outcome->index) return failed();
      return true;
    };
    if (!co_await eventually(executor, everywhere, 5s))
      throw std::runtime_error("a member did not apply the command within 5 s");
  }

  // Stopping: the nodes first (each ends its run() and closes its apply channel), then the
  // transports, which a node must not outlive.
  for (auto& m : members) co_await m->node.shutdown();
  running.request_stop();
  co_await running.join();
}

int main(int argc, char** argv) {
  addresses all;
  for (raft::node_id id = 1; id <= 3; ++id) {
    const int port = argc == 4 ? std::stoi(argv[id]) : 7300 + static_cast<int>(id);
    all[id] = io::endpoint{"127.0.0.1", static_cast<std::uint16_t>(port)};
  }
  const auto data = std::filesystem::temp_directory_path() /
                    ("coraft-embed-" + std::to_string(all[1].port));
  std::filesystem::remove_all(data);

  raft::options opts;
  opts.election_timeout = 150ms;  // each timeout drawn from [T, 2T)
  opts.heartbeat_interval = 50ms;

  executor_type executor;
  cluster members;
  for (const auto& [id, address] : all)
    members.push_back(std::make_unique<member>(executor, id, all,
                                               data / ("member-" + std::to_string(id)), opts));
  int status = 0;
  try {
    co::block_on(executor, run_cluster(executor, members));
    std::printf("stopped\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embed: %s\n", e.what());
    status = 1;
  }
  members.clear();
  std::filesystem::remove_all(data);
  return status;
}
