// Power cuts on the production stack: each server on its own simulated machine recovers from its
// files after its machine loses power, alone or all at once, with every committed entry kept.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

TEST_CASE("PowerCuts: servers keep every committed entry through power cuts of one and of all") {
  for_each_seed("PowerCuts", [](simulation sim) {
    const int servers = 3;
    cluster c(sim, servers);
    c.set_snapshot_interval(16);
    auto& rng = c.world().random();
    std::uint64_t value = 0;
    for (int round = 0; round < 8; ++round) {
      raft::index_t last = 0;
      for (int k = 0; k < 12; ++k) last = c.one(command(++value), servers, true);
      c.wait(last, servers, std::nullopt);
      if (round == 4) {
        for (int i = 0; i < servers; ++i) c.stop(i);  // all at once
        for (int i = 0; i < servers; ++i) c.start(i);
      } else {
        const int victim = static_cast<int>(rng.below(servers));
        c.stop(victim);
        c.start(victim);
      }
    }
    c.one(command(++value), servers, true);
    for (int i = 0; i < servers; ++i) {
      if (c.node(i)->log().base_index() == 0)
        c.fail("server " + std::to_string(i) + " never compacted its log into a snapshot");
      if (!c.production()) continue;
      // On disk: one snapshot file, the older ones deleted once the new one was durable.
      auto names = c.machine(i).list_directory(data_directory);
      if (!names) c.fail("cannot list the data directory of server " + std::to_string(i));
      const auto snapshots = std::count_if(names->begin(), names->end(),
                                           [](const std::string& n) { return n.starts_with("snapshot-"); });
      if (snapshots != 1)
        c.fail("server " + std::to_string(i) + " holds " + std::to_string(snapshots) + " snapshot files");
    }
  });
}
