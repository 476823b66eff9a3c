// Raft clusters in one process over real TCP: each member on its own thread and io_uring executor,
// with file storage in a temporary directory. Members are stopped abruptly and restarted from what
// they made durable.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <coraft/raft/message_sizes.hpp>

#include "node_thread.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using coraft::raft::node_id;
using tcp_test::node_thread;

namespace {

class temp_directory {
 public:
  temp_directory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "coraft-tcp-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~temp_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct cluster {
  temp_directory data;
  std::map<node_id, coraft::io::endpoint> members;
  std::size_t snapshot_every;
  std::map<node_id, std::unique_ptr<node_thread>> running;

  std::function<void(coraft::raft::server_config&)> adjust;  // changes each member's configuration

  cluster(std::size_t size, std::size_t snapshot_every_entries,
          std::function<void(coraft::raft::server_config&)> adjust_config = {})
      : members(tcp_test::loopback_members(size)), snapshot_every(snapshot_every_entries),
        adjust(std::move(adjust_config)) {
    for (const auto& [id, address] : members) start(id);
  }

  void start(node_id id) {
    coraft::raft::server_config config;
    config.id = id;
    config.members = members;
    config.data_directory = data / ("node-" + std::to_string(id));
    config.node.random_seed = 1000 + id;
    config.transport.reconnect_max = 100ms;
    config.storage.segment_size = 64 * 1024;  // small segments, so that compaction removes some
    if (adjust) adjust(config);
    running[id] = std::make_unique<node_thread>(config, snapshot_every);
  }
  void stop(node_id id) { running.erase(id); }

  // The member that leads, once exactly one running member believes it leads in the highest term.
  node_id await_leader() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      node_id leader = coraft::raft::nobody;
      coraft::raft::term_t term = 0;
      for (auto& [id, member] : running) {
        auto status = member->status();
        if (status.role == coraft::raft::role::leader && status.term >= term) {
          leader = id;
          term = status.term;
        }
      }
      if (leader != coraft::raft::nobody) return leader;
      std::this_thread::sleep_for(10ms);
    }
    FAIL("no leader within 10 s");
    return coraft::raft::nobody;
  }

  // Proposes each command at the current leader until it commits there.
  void commit(const std::vector<std::string>& commands) {
    for (const auto& command : commands) {
      for (int attempt = 0;; ++attempt) {
        REQUIRE(attempt < 50);
        auto outcome = running.at(await_leader())->propose(command);
        if (outcome) break;
        std::this_thread::sleep_for(20ms);
      }
    }
  }

  // Waits until every running member has applied exactly `expected`.
  void await_histories(const std::vector<std::string>& expected) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    for (auto& [id, member] : running) {
      while (member->history() != expected) {
        if (std::chrono::steady_clock::now() > deadline) {
          auto seen = member->history();
          FAIL("node " << id << " applied " << seen.size() << " of " << expected.size()
                       << " commands");
        }
        std::this_thread::sleep_for(10ms);
      }
    }
  }
};

std::vector<std::string> numbered(const std::string& prefix, int from, int count) {
  std::vector<std::string> out;
  for (int i = from; i < from + count; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

}  // namespace

TEST_CASE("tcp cluster: three members elect, replicate, survive the leader's loss, and catch up") {
  cluster c(3, /*snapshot_every_entries=*/0);
  std::vector<std::string> history = numbered("first-", 0, 100);
  c.commit(history);
  c.await_histories(history);

  const node_id old_leader = c.await_leader();
  c.stop(old_leader);
  const node_id new_leader = c.await_leader();
  CHECK(new_leader != old_leader);
  auto more = numbered("second-", 0, 100);
  c.commit(more);
  history.insert(history.end(), more.begin(), more.end());
  c.await_histories(history);

  // The old leader restarts from its durable log and catches up with what it missed.
  c.start(old_leader);
  c.await_histories(history);
  CHECK(c.running.at(old_leader)->snapshots_restored() == 0);
}

TEST_CASE("tcp cluster: a member that missed compacted entries catches up from a snapshot") {
  cluster c(3, /*snapshot_every_entries=*/40);
  std::vector<std::string> history = numbered("a-", 0, 50);
  c.commit(history);
  c.await_histories(history);

  // A follower goes down; the others commit enough to compact past what it holds.
  node_id follower = coraft::raft::nobody;
  const node_id leader = c.await_leader();
  for (auto& [id, member] : c.running)
    if (id != leader) follower = id;
  c.stop(follower);
  auto more = numbered("b-", 0, 200);
  c.commit(more);
  history.insert(history.end(), more.begin(), more.end());
  c.await_histories(history);
  CHECK(c.running.at(leader)->snapshots_taken() >= 4);

  // It restarts: its own snapshot and log first, then the leader's snapshot, then the tail.
  c.start(follower);
  c.await_histories(history);
  CHECK(c.running.at(follower)->snapshots_restored() >= 1);

  // The whole cluster restarts: each member restores its snapshot plus its log tail.
  for (auto& [id, address] : c.members) c.stop(id);
  for (auto& [id, address] : c.members) c.start(id);
  auto last = numbered("c-", 0, 10);
  c.commit(last);
  history.insert(history.end(), last.begin(), last.end());
  c.await_histories(history);
  for (auto& [id, member] : c.running) CHECK(member->snapshots_restored() == 1);
}

// Every member sent each request in one frame within the frame limit, refusing none for its size.
void check_frames_within_limit(cluster& c, std::size_t frame_limit) {
  for (auto& [id, member] : c.running) {
    const auto statistics = member->transport_statistics();
    CHECK(statistics.requests_too_large == 0);
    CHECK(statistics.largest_request_frame <= frame_limit);
  }
}

TEST_CASE("tcp cluster: an entry larger than a frame is refused at once, and the leader keeps committing") {
  // An election timeout of a second: the term must not change for the refusals, and on two cores
  // shared with other suites under the sanitizers, 150 ms of starvation is not a refusal's doing.
  cluster c(3, /*snapshot_every_entries=*/0, [](coraft::raft::server_config& config) {
    config.node.election_timeout = std::chrono::seconds(1);
    config.node.heartbeat_interval = std::chrono::milliseconds(100);
  });
  c.commit({"before"});
  const node_id leader = c.await_leader();
  node_thread& member = *c.running.at(leader);
  const auto term = member.status().term;
  const std::size_t frame_limit = coraft::wire::frame_options{}.max_payload_size;
  auto too_large = member.propose_later(std::string(frame_limit + 1, 'x'));
  auto over_limit = member.propose_later(std::string(coraft::raft::options{}.max_entry_bytes + 1, 'y'));
  // Proposed behind them at the same leader: it must commit in the same term.
  auto after = member.propose("after");
  CHECK(after.has_value());
  for (auto* refused : {&too_large, &over_limit}) {
    REQUIRE(refused->wait_for(10s) == std::future_status::ready);
    auto outcome = refused->get();
    REQUIRE_FALSE(outcome.has_value());
    CHECK(outcome.error() == coraft::raft::errc::entry_too_large);
  }
  CHECK(member.status().term == term);
  c.await_histories({"before", "after"});
  check_frames_within_limit(c, frame_limit);
}

TEST_CASE("tcp cluster: an entry as large as the frames allow commits on every member") {
  // Frames of 1 MiB rather than the default 16: entries that fill them still travel well within
  // the default election timeout, on a loaded machine too.
  const std::size_t frame_limit = 1 << 20;
  // The frame's payload less the envelope's widest call id.
  const std::size_t largest_message = frame_limit - coraft::wire::max_varint_size;
  cluster c(3, /*snapshot_every_entries=*/0, [&](coraft::raft::server_config& config) {
    config.transport.frames.max_payload_size = frame_limit;
    config.node.max_bytes_per_append = largest_message;
    config.node.max_entry_bytes = coraft::raft::largest_entry_fitting(largest_message);
  });
  const node_id leader = c.await_leader();
  CHECK(c.running.at(leader)->max_message_bytes() == largest_message);
  const std::size_t limit = coraft::raft::largest_entry_fitting(largest_message);
  std::vector<std::string> history = {std::string(limit, 'a'), "small", std::string(limit, 'b')};
  c.commit(history);
  c.await_histories(history);
  check_frames_within_limit(c, frame_limit);
  CHECK(c.running.at(leader)->transport_statistics().largest_request_frame > limit);
}
