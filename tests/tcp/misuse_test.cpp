// What a program that forgets a step of setting up the TCP transport is told: run() before
// listen() throws at once in the caller, and a node whose transport's run() was never started
// fails with an error that says so, instead of never finding a leader.
#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/node.hpp>
#include <coraft/raft/storage/memory_storage.hpp>
#include <coraft/raft/transport/tcp_transport.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace coraft;
using executor = io::uring_executor;
using transport = raft::tcp_transport<executor>;
using storage = raft::memory_storage<executor>;

TEST_CASE("tcp transport: run() before listen() throws in the caller, naming listen()") {
  executor ex;
  transport t(ex, 1, tcp_test::loopback_members(3));
  CHECK_THROWS_WITH_AS((void)t.run(), doctest::Contains("run() before listen()"), std::logic_error);
  // Once it listens, run() starts, and stops when cancelled.
  REQUIRE(t.listen().has_value());
  co::scope running(ex);
  running.spawn(t.run());
  running.request_stop();
  running.run_until_idle();
}

TEST_CASE("tcp transport: a node whose transport never ran fails, naming transport.run()") {
  executor ex;
  transport t(ex, 1, tcp_test::loopback_members(3));
  REQUIRE(t.listen().has_value());  // listening, but run() is forgotten
  raft::memory_disk disk;
  storage s(ex, disk);
  raft::options opts;
  opts.election_timeout = 20ms;
  opts.heartbeat_interval = 5ms;
  raft::node member(ex, t, s, 1, {2, 3}, opts);
  // At its first election timeout the node calls its peers, and its run() ends with the error.
  CHECK_THROWS_WITH_AS(co::block_on(ex, member.run()),
                       doctest::Contains("before run(): spawn transport.run() beside node.run()"),
                       std::logic_error);
  CHECK(member.status().leader == raft::nobody);
}
