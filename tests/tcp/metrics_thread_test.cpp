// A member on a thread of its own (raft::server_thread): its metrics, asked for from the test's
// thread through the member's executor, are one consistent copy that agrees with status() and
// counts what was done there.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "node_thread.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

TEST_CASE("Metrics from another thread: a lone member's snapshot matches its status and its proposals") {
  std::string directory = (std::filesystem::temp_directory_path() / "coraft-metrics-XXXXXX").string();
  REQUIRE(::mkdtemp(directory.data()) != nullptr);
  {
    coraft::raft::server_config config;
    config.id = 1;
    config.members = tcp_test::loopback_members(1);
    config.data_directory = directory + "/node-1";
    tcp_test::node_thread member(config);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (member.metrics().role != coraft::raft::role::leader && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    const coraft::raft::node_metrics elected = member.metrics();
    REQUIRE(elected.role == coraft::raft::role::leader);
    CHECK(elected.leader == 1);
    CHECK(elected.elections_started >= 1);
    CHECK(elected.leader_changes == 1);
    CHECK(elected.peers.empty());  // a lone member replicates to nobody

    const int proposals = 10;
    coraft::raft::index_t last = 0;
    for (int k = 0; k < proposals; ++k) {
      auto committed = member.propose("command " + std::to_string(k));
      REQUIRE(committed);
      last = committed->index;
    }
    const coraft::raft::node_metrics m = member.metrics();
    const coraft::raft::node_status status = member.status();
    CHECK(m.term == status.term);
    CHECK(m.commit_index == status.commit_index);
    CHECK(m.commit_index >= last);
    CHECK(m.last_index == status.last_index);
    CHECK(m.apply_lag == m.commit_index - m.last_applied);
    CHECK(m.commit_latency.count() >= elected.commit_latency.count() + proposals - 1);
    CHECK(m.sync_latency.count() > elected.sync_latency.count());  // real fdatasyncs, timed
    CHECK(m.sync_latency.sum() > std::chrono::microseconds(0));
    CHECK(m.log_entries == m.last_index - m.first_index + 1);
  }
  std::filesystem::remove_all(directory);
}
