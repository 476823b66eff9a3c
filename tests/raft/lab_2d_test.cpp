// The lab's part 2D scenarios: log compaction, InstallSnapshot, and restarts from a snapshot.
#include <doctest/doctest.h>

#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

constexpr raft::index_t snapshot_interval = 10;
constexpr raft::index_t max_log_size = 2 * snapshot_interval;

raft::bytes random_command(cluster& c) { return command(c.world().random().below(1'000'000'000)); }

// The uncompacted log of every running server stays bounded: snapshots do compact it.
void check_log_sizes(cluster& c) {
  for (int i = 0; i < c.size(); ++i) {
    if (!c.running(i)) continue;
    const auto& log = c.node(i)->log();
    if (log.last_index() - log.base_index() > max_log_size)
      c.fail("server " + std::to_string(i) + " keeps " + std::to_string(log.last_index() - log.base_index()) +
             " entries despite snapshots");
  }
}

// The lab's snapcommon: a victim repeatedly falls behind (disconnected or crashed) while the others
// commit enough to compact past it, then catches up by InstallSnapshot.
void snapshot_common(simulation sim, bool disconnect, bool reliable, bool crash) {
  const int servers = 3;
  cluster c(sim, servers, !reliable);
  c.set_snapshot_interval(snapshot_interval);
  c.one(random_command(c), servers, true);
  int leader1 = c.check_one_leader();
  for (int i = 0; i < 30; ++i) {
    int victim = (leader1 + 1) % servers;
    int sender = leader1;
    if (i % 3 == 1) {
      sender = (leader1 + 1) % servers;
      victim = leader1;
    }
    if (disconnect) {
      c.disconnect(victim);
      c.one(random_command(c), servers - 1, true);
    }
    if (crash) {
      c.stop(victim);
      c.one(random_command(c), servers - 1, true);
    }
    // Enough commands to make the others snapshot past the victim.
    const auto commands = snapshot_interval / 2 + c.world().random().below(snapshot_interval);
    for (std::uint64_t k = 0; k < commands; ++k) {
      if (c.running(sender)) (void)c.node(sender)->start(random_command(c));
    }
    // Let the appliers catch up; without a victim, no InstallSnapshot should be needed.
    if (!disconnect && !crash) c.one(random_command(c), servers, true);
    else c.one(random_command(c), servers - 1, true);
    check_log_sizes(c);
    if (disconnect) {
      // The victim catches up, possibly from a snapshot.
      c.connect(victim);
      c.one(random_command(c), servers, true);
      leader1 = c.check_one_leader();
    }
    if (crash) {
      c.start(victim);
      c.connect(victim);
      c.one(random_command(c), servers, true);
      leader1 = c.check_one_leader();
    }
  }
}

}  // namespace

TEST_CASE("SnapshotBasic: servers snapshot and compact while all stay up") {
  for_each_seed("SnapshotBasic", [](simulation sim) { snapshot_common(sim, false, true, false); });
}

TEST_CASE("SnapshotInstall: a disconnected server catches up by InstallSnapshot") {
  for_each_seed("SnapshotInstall", [](simulation sim) { snapshot_common(sim, true, true, false); });
}

TEST_CASE("SnapshotInstallUnreliable: catching up by InstallSnapshot on a lossy network") {
  for_each_seed("SnapshotInstallUnreliable",
                [](simulation sim) { snapshot_common(sim, true, false, false); });
}

TEST_CASE("SnapshotInstallCrash: a crashed server restarts from its snapshot and catches up") {
  for_each_seed("SnapshotInstallCrash", [](simulation sim) { snapshot_common(sim, false, true, true); });
}

TEST_CASE("SnapshotInstallUnCrash: crash and restart from a snapshot on a lossy network") {
  for_each_seed("SnapshotInstallUnCrash",
                [](simulation sim) { snapshot_common(sim, false, false, true); });
}

TEST_CASE("SnapshotAllCrash: every server crashes after snapshots and the cluster goes on") {
  for_each_seed("SnapshotAllCrash", [](simulation sim) {
    const int servers = 3;
    cluster c(sim, servers);
    c.set_snapshot_interval(snapshot_interval);
    c.one(random_command(c), servers, true);
    for (int i = 0; i < 5; ++i) {
      const auto commands = snapshot_interval / 2 + c.world().random().below(snapshot_interval);
      for (std::uint64_t k = 0; k < commands; ++k) c.one(random_command(c), servers, true);
      raft::index_t index1 = c.one(random_command(c), servers, true);
      for (int s = 0; s < servers; ++s) c.stop(s);
      for (int s = 0; s < servers; ++s) c.start(s);
      raft::index_t index2 = c.one(random_command(c), servers, true);
      if (index2 < index1 + 1) c.fail("index decreased from " + std::to_string(index1) + " to " + std::to_string(index2));
    }
  });
}

TEST_CASE("SnapshotInit: a server restarted from a snapshot delivers it before any later entry") {
  for_each_seed("SnapshotInit", [](simulation sim) {
    const int servers = 3;
    cluster c(sim, servers);
    c.set_snapshot_interval(snapshot_interval);
    c.one(random_command(c), servers, true);
    // Enough to make every server snapshot.
    for (raft::index_t i = 0; i < snapshot_interval + 1; ++i) c.one(random_command(c), servers, true);
    for (int s = 0; s < servers; ++s) c.stop(s);
    for (int s = 0; s < servers; ++s) c.start(s);
    // A crash after an install must still find the snapshot first.
    c.one(random_command(c), servers, true);
    for (int s = 0; s < servers; ++s) c.stop(s);
    for (int s = 0; s < servers; ++s) c.start(s);
    c.one(random_command(c), servers, true);
  });
}
