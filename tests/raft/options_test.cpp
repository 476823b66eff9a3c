// Options validated at construction: every bad value of raft::options, tcp::options,
// file_storage_options and server_config is refused, by validate() and by the constructor of what it configures,
// with a message that names the option and the rule.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>

#include "cluster.hpp"

using namespace std::chrono_literals;
using namespace coraft;
using namespace coraft::test;

namespace {

// The message of the std::invalid_argument `call` throws, or "" when it throws none.
std::string refusal(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

// Checks that `message` holds every one of `parts`, saying which is missing.
void check_names(const std::string& message, std::initializer_list<const char*> parts) {
  INFO("message: ", message);
  for (const char* part : parts) CHECK(message.find(part) != std::string::npos);
}

// A production member (raft::server on the simulated host) built from `config`: its transport,
// storage and node each check their options when constructed.
struct server_rig {
  sim::world world{1};
  sim::network network{world};
  sim::host machine{world, network, host_name(1)};

  std::string construct(const raft::server_config& config) {
    return refusal([&] { production_server server(machine, config); });
  }
  static raft::server_config valid_config() {
    raft::server_config c;
    c.id = 1;
    c.members.emplace(1, io::endpoint(host_name(1), 7000));
    c.data_directory = "/data";
    return c;
  }
};

}  // namespace

TEST_CASE("OptionsValidation: the defaults pass, and a raft::server is built from them") {
  CHECK_NOTHROW(raft::validate(raft::options{}));
  CHECK_NOTHROW(raft::tcp::validate(raft::tcp::options{}));
  CHECK_NOTHROW(raft::validate(raft::file_storage_options{}));
  server_rig rig;
  CHECK(rig.construct(server_rig::valid_config()) == "");
}

TEST_CASE("OptionsValidation: each bad raft::options value is refused, naming the option and the rule") {
  struct bad_case {
    std::function<void(raft::options&)> spoil;
    std::initializer_list<const char*> names;
  };
  const bad_case cases[] = {
      {[](auto& o) { o.election_timeout = 0ns; }, {"election_timeout (0ms)", "must be positive"}},
      {[](auto& o) { o.election_timeout = -5ms; }, {"election_timeout", "must be positive"}},
      {[](auto& o) { o.election_timeout = std::chrono::hours(25); },
       {"election_timeout", "at most 24 hours"}},
      {[](auto& o) { o.heartbeat_interval = 0ns; }, {"heartbeat_interval (0ms)", "must be positive"}},
      {[](auto& o) { o.heartbeat_interval = 76ms; },
       {"heartbeat_interval (76ms)", "at most half of election_timeout (150ms)"}},
      {[](auto& o) { o.heartbeat_interval = 200ms; }, {"heartbeat_interval", "half of election_timeout"}},
      {[](auto& o) { o.max_entry_bytes = 0; }, {"max_entry_bytes (0)", "at least 1"}},
      {[](auto& o) { o.max_entries_per_append = 0; }, {"max_entries_per_append (0)", "at least 1"}},
      {[](auto& o) { o.max_bytes_per_append = 0; }, {"max_bytes_per_append (0)", "at least 1"}},
      {[](auto& o) { o.max_appends_in_flight = 0; },
       {"max_appends_in_flight (0)", "at least 1", "nothing would be replicated"}},
      {[](auto& o) { o.snapshot_chunk_bytes = 0; }, {"snapshot_chunk_bytes (0)", "at least 1"}},
      {[](auto& o) { o.max_storage_retry_interval = 0ns; },
       {"max_storage_retry_interval", "must be positive"}},
      {[](auto& o) { o.leader_storage_failure_limit = 0ns; },
       {"leader_storage_failure_limit", "must be positive"}},
      {[](auto& o) { o.apply_capacity = 0; }, {"apply_capacity (0)", "at least 1"}},
      {[](auto& o) { o.learner_catch_up_entries = 0; }, {"learner_catch_up_entries (0)", "at least 1"}},
      {[](auto& o) {
         o.lease_reads = true;
         o.check_quorum = false;
       },
       {"lease_reads needs withhold_votes and check_quorum"}},
      {[](auto& o) {
         o.lease_reads = true;
         o.lease_clock_drift = 1.5;
       },
       {"lease_clock_drift must be at least 0 and below 1"}},
  };
  for (const bad_case& c : cases) {
    raft::options o;
    c.spoil(o);
    const std::string by_validate = refusal([&] { raft::validate(o); });
    check_names(by_validate, c.names);
    check_names(by_validate, {"coraft::raft::"});

    // The node's constructor refuses the same options with the same message, before it builds
    // anything from them (an apply_capacity of 0 is not the channel's complaint).
    sim::world world(1);
    sim::network network(world);
    raft_wires wires{&network};
    sim_board board(wires);
    raft::memory_disk disk;
    sim_storage storage(world, disk, 500us);
    sim_transport transport(board, world, 1, 100ms, 256, sim_transport::default_max_message_bytes);
    CHECK(refusal([&] { sim_node node(world, transport, storage, 1, {2, 3}, o); }) == by_validate);
  }
  // The limit itself is accepted: a heartbeat of exactly half the election timeout.
  raft::options half;
  half.heartbeat_interval = half.election_timeout / 2;
  CHECK_NOTHROW(raft::validate(half));
}

TEST_CASE("OptionsValidation: each bad tcp::options value is refused, and the transport refuses it") {
  struct bad_case {
    std::function<void(raft::tcp::options&)> spoil;
    std::initializer_list<const char*> names;
  };
  const bad_case cases[] = {
      {[](auto& o) { o.rpc_timeout = 0ns; }, {"rpc_timeout (0ms)", "must be positive"}},
      {[](auto& o) { o.connect_timeout = -1ms; }, {"connect_timeout", "must be positive"}},
      {[](auto& o) { o.reconnect_min = 0ns; }, {"reconnect_min", "must be positive"}},
      {[](auto& o) { o.reconnect_max = 0ns; }, {"reconnect_max", "must be positive"}},
      {[](auto& o) { o.reconnect_max = 10ms; },
       {"reconnect_max (10ms)", "at least reconnect_min (20ms)"}},
      {[](auto& o) { o.hello_timeout = std::chrono::hours(48); }, {"hello_timeout", "at most 24 hours"}},
      {[](auto& o) { o.frames.max_payload_size = 0; }, {"frames.max_payload_size (0)", "at least 1"}},
      {[](auto& o) { o.max_queued_bytes_per_peer = 0; }, {"max_queued_bytes_per_peer (0)", "at least 1"}},
      {[](auto& o) { o.max_reply_backlog_bytes = 0; }, {"max_reply_backlog_bytes (0)", "at least 4096"}},
      {[](auto& o) { o.inbox_capacity = 0; }, {"inbox_capacity (0)", "at least 1"}},
      {[](auto& o) { o.max_bytes_per_write = 0; },
       {"max_bytes_per_write (0)", "at least 1", "nothing would be written"}},
      {[](auto& o) { o.log = nullptr; }, {"log must be callable"}},
  };
  for (const bad_case& c : cases) {
    raft::tcp::options o;
    c.spoil(o);
    const std::string by_validate = refusal([&] { raft::tcp::validate(o); });
    check_names(by_validate, c.names);
    check_names(by_validate, {"coraft::raft::tcp::options: "});

    server_rig rig;
    raft::server_config config = server_rig::valid_config();
    config.transport = o;
    CHECK(rig.construct(config) == by_validate);
  }
}

TEST_CASE("OptionsValidation: a segment too small for a record's header is refused by the storage") {
  raft::file_storage_options o;
  o.segment_size = 24;
  const std::string by_validate = refusal([&] { raft::validate(o); });
  check_names(by_validate,
              {"coraft::raft::file_storage_options: segment_size (24)", "at least 25", "header"});
  server_rig rig;
  raft::server_config config = server_rig::valid_config();
  config.storage = o;
  CHECK(rig.construct(config) == by_validate);
  o.segment_size = 25;
  CHECK_NOTHROW(raft::validate(o));
}

TEST_CASE("OptionsValidation: a raft::server refuses a bad server_config, and bad options of its node") {
  server_rig rig;
  auto refused = [&](const std::function<void(raft::server_config&)>& spoil) {
    raft::server_config config = server_rig::valid_config();
    spoil(config);
    const std::string by_validate = refusal([&] { raft::validate(config); });
    CHECK(rig.construct(config) == by_validate);
    return by_validate;
  };
  check_names(refused([](auto& c) { c.id = 0; }),
              {"coraft::raft::server_config: id (0) is reserved"});
  check_names(refused([](auto& c) { c.id = 2; }),
              {"coraft::raft::server_config: members (1 addresses)", "own address (id 2)"});
  check_names(refused([](auto& c) { c.data_directory.clear(); }),
              {"coraft::raft::server_config: data_directory must name a directory"});
  check_names(refused([](auto& c) { c.node.election_timeout = 0ns; }),
              {"coraft::raft::options: election_timeout (0ms) must be positive"});
}
