#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/co/when_all.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace sim_test;

namespace {

std::vector<std::byte> pattern(std::size_t size, std::uint64_t seed) {
  sim::seeded_random rng(seed);
  std::vector<std::byte> out(size);
  for (auto& b : out) b = static_cast<std::byte>(rng.below(256));
  return out;
}

// Connects to `where`, sends `message`, reads as many bytes back, closes. Records the reply, or
// the first error.
co::task<void> echo_client(sim::host* h, io::endpoint where, std::vector<std::byte> message,
                           std::optional<co::result<std::vector<std::byte>>>* reply) {
  auto s = co_await h->connect(where);
  if (!s) {
    reply->emplace(s.error());
    co_return;
  }
  // Send and receive at once: an echo server whose replies are not read stops reading in turn
  // once the windows fill, and a client that only sends would then wait forever.
  const std::size_t size = message.size();
  auto [sent, received] =
      co_await co::when_all(send_all(h, &*s, std::move(message)), recv_up_to(h, &*s, size));
  if (!sent) {
    reply->emplace(sent.error());
  } else {
    reply->emplace(std::move(received));
  }
}

// Connects to `where` and records the outcome; keeps the stream in `*kept` if it connected.
co::task<void> connect_only(sim::host* h, io::endpoint where, std::optional<std::error_code>* outcome,
                            std::optional<sim::stream>* kept = nullptr) {
  auto s = co_await h->connect(where);
  outcome->emplace(s.error());
  if (s && kept) kept->emplace(std::move(*s));
}

// Receives once on `*s` and records what recv yielded.
co::task<void> recv_once(sim::host* h, sim::stream* s, std::optional<co::result<std::size_t>>* out) {
  std::array<std::byte, 64> buffer;
  out->emplace(co_await h->recv(*s, buffer));
}

// Accepts one connection on `l` and keeps it in `*accepted`.
co::task<void> accept_one(sim::host* h, sim::listener* l, std::optional<sim::stream>* accepted) {
  auto s = co_await h->accept(*l);
  REQUIRE(s);
  accepted->emplace(std::move(*s));
}

}  // namespace

TEST_CASE("streams: echo between two hosts, in order, with end of stream after close") {
  sim::world world(1);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  b.spawn(echo_server(&b, {"b", 7000}));
  std::optional<co::result<std::vector<std::byte>>> reply;
  a.spawn(echo_client(&a, {"b", 7000}, bytes_of("hello, simulated world"), &reply));
  CHECK(world.run_for([&] { return reply.has_value(); }, 1s));
  REQUIRE(*reply);
  CHECK(text_of(**reply) == "hello, simulated world");
  CHECK(world.now() > at(0ms));  // the bytes took time to travel
}

TEST_CASE("streams: a megabyte through a small window and a lossy link arrives whole and in order") {
  for (std::uint64_t seed : {3u, 4u, 5u}) {
    CAPTURE(seed);
    sim::world world(seed);
    sim::network net(world);
    sim::host a(world, net, "a"), b(world, net, "b");
    net.set_faults(sim::link_faults{.drop = 0.2, .min_delay = 1ms, .max_delay = 30ms,
                                    .long_delay = 0.05});
    net.set_stream_settings(sim::stream_settings{.window = 16 * 1024});
    b.spawn(echo_server(&b, {"b", 7000}));
    const auto message = pattern(1 << 20, seed);
    std::optional<co::result<std::vector<std::byte>>> reply;
    a.spawn(echo_client(&a, {"b", 7000}, message, &reply));
    CHECK(world.run_for([&] { return reply.has_value(); }, 10min));
    REQUIRE(*reply);
    CHECK(**reply == message);
  }
}

TEST_CASE("streams: connecting to a port nobody listens on is refused after a round trip") {
  sim::world world(1);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  std::optional<std::error_code> outcome;
  a.spawn(connect_only(&a, {"b", 9}, &outcome));
  CHECK(world.run_for([&] { return outcome.has_value(); }, 1s));
  CHECK(*outcome == std::errc::connection_refused);
  CHECK(world.now() < at(1s));  // refused, not timed out

  // Listening on someone else's address, or twice on one port, is refused at once.
  CHECK(b.listen({"a", 1}).error() == std::errc::address_not_available);
  auto first = b.listen({"b", 80});
  REQUIRE(first);
  CHECK(b.listen({"", 80}).error() == std::errc::address_in_use);
  auto any = b.listen({"b", 0});
  REQUIRE(any);
  CHECK(any->local_endpoint() == io::endpoint{"b", 49152});
}

TEST_CASE("streams: a partition breaks a connection on both ends, refuses new ones; heal restores") {
  sim::world world(7);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  auto l = b.listen({"b", 7000});
  REQUIRE(l);
  std::optional<sim::stream> server, client;
  std::optional<std::error_code> connected;
  b.spawn(accept_one(&b, &*l, &server));
  a.spawn(connect_only(&a, {"b", 7000}, &connected, &client));
  world.run_for(100ms);
  REQUIRE(connected);
  REQUIRE_FALSE(*connected);
  REQUIRE(server);

  std::optional<co::result<std::size_t>> at_client, at_server;
  a.spawn(recv_once(&a, &*client, &at_client));
  b.spawn(recv_once(&b, &*server, &at_server));
  world.run_for(100ms);
  CHECK_FALSE(at_client);  // both wait: nothing was sent
  CHECK_FALSE(at_server);

  net.partition({{"a"}, {"b"}});
  world.run_for(1ms);
  REQUIRE(at_client);
  REQUIRE(at_server);
  CHECK(at_client->error() == std::errc::timed_out);
  CHECK(at_server->error() == std::errc::timed_out);

  // New connects go unanswered and time out.
  const io::time_point asked = world.now();
  connected.reset();
  a.spawn(connect_only(&a, {"b", 7000}, &connected));
  world.run_for(5s);
  REQUIRE(connected);
  CHECK(*connected == std::errc::timed_out);

  net.heal();
  b.spawn(echo_server(&b, {"b", 7001}));
  std::optional<co::result<std::vector<std::byte>>> reply;
  a.spawn(echo_client(&a, {"b", 7001}, bytes_of("after the heal"), &reply));
  CHECK(world.run_for([&] { return reply.has_value(); }, 1s));
  REQUIRE(*reply);
  CHECK(text_of(**reply) == "after the heal");
  CHECK(world.now() - asked >= 1s);
}

TEST_CASE("streams: a crash resets the peer's connection; connects time out until restart") {
  sim::world world(8);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  auto l = b.listen({"b", 7000});
  REQUIRE(l);
  std::optional<sim::stream> server, client;
  std::optional<std::error_code> connected;
  b.spawn(accept_one(&b, &*l, &server));
  a.spawn(connect_only(&a, {"b", 7000}, &connected, &client));
  world.run_for(100ms);
  REQUIRE(client);
  std::optional<co::result<std::size_t>> at_client;
  a.spawn(recv_once(&a, &*client, &at_client));
  world.run_for(10ms);
  CHECK_FALSE(at_client);

  b.crash();
  world.run_for(1ms);
  REQUIRE(at_client);
  CHECK(at_client->error() == std::errc::connection_reset);

  connected.reset();
  a.spawn(connect_only(&a, {"b", 7000}, &connected));
  world.run_for(5s);
  REQUIRE(connected);
  CHECK(*connected == std::errc::timed_out);

  b.restart();  // up again, but nothing listens yet
  connected.reset();
  a.spawn(connect_only(&a, {"b", 7000}, &connected));
  world.run_for(1s);
  REQUIRE(connected);
  CHECK(*connected == std::errc::connection_refused);

  b.spawn(echo_server(&b, {"b", 7000}));
  std::optional<co::result<std::vector<std::byte>>> reply;
  a.spawn(echo_client(&a, {"b", 7000}, bytes_of("again"), &reply));
  CHECK(world.run_for([&] { return reply.has_value(); }, 1s));
  REQUIRE(*reply);
  CHECK(text_of(**reply) == "again");
}

TEST_CASE("streams: recv on a cancelled coroutine yields cancelled(); closing gives the peer 0") {
  sim::world world(9);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  auto l = b.listen({"b", 7000});
  REQUIRE(l);
  std::optional<sim::stream> server, client;
  std::optional<std::error_code> connected;
  b.spawn(accept_one(&b, &*l, &server));
  a.spawn(connect_only(&a, {"b", 7000}, &connected, &client));
  world.run_for(100ms);
  REQUIRE(server);
  REQUIRE(client);

  std::optional<co::result<std::size_t>> cancelled;
  {
    co::scope waiting(world);
    waiting.spawn(recv_once(&a, &*client, &cancelled));
    world.run_for(10ms);
    CHECK_FALSE(cancelled);
    waiting.request_stop();
    waiting.run_until_idle();
  }
  REQUIRE(cancelled);
  CHECK(co::is_cancelled(cancelled->error()));

  std::optional<co::result<std::size_t>> at_server;
  b.spawn(recv_once(&b, &*server, &at_server));
  client.reset();  // close the client's end
  world.run_for(100ms);
  REQUIRE(at_server);
  REQUIRE(*at_server);
  CHECK(**at_server == 0);
}

TEST_CASE("streams: a connect abandoned by cancellation leaves the server an end that closes") {
  sim::world world(10);
  sim::network net(world);
  sim::host a(world, net, "a"), b(world, net, "b");
  net.set_faults(sim::link_faults{.min_delay = 10ms, .max_delay = 10ms});
  auto l = b.listen({"b", 7000});
  REQUIRE(l);
  std::optional<sim::stream> server;
  b.spawn(accept_one(&b, &*l, &server));
  std::optional<std::error_code> connected;
  {
    co::scope connecting(world);
    connecting.spawn(connect_only(&a, {"b", 7000}, &connected));
    world.run_for(15ms);  // the request has arrived; the reply has not
    connecting.request_stop();
    connecting.run_until_idle();
  }
  REQUIRE(connected);
  CHECK(co::is_cancelled(*connected));
  REQUIRE(server);
  std::optional<co::result<std::size_t>> at_server;
  b.spawn(recv_once(&b, &*server, &at_server));
  world.run_for(100ms);
  REQUIRE(at_server);
  REQUIRE(*at_server);
  CHECK(**at_server == 0);  // the unclaimed client end closed in order
}
