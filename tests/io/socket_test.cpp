#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/io/errors.hpp>
#include <coraft/io/stream_ops.hpp>
#include <coraft/io/uring_executor.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <system_error>

#include "support.hpp"

using namespace std::chrono_literals;
using coraft::co::block_on;
using coraft::co::result;
using coraft::co::scope;
using coraft::co::task;
using coraft::io::endpoint;
using io_test::executor;

namespace {

template <class T>
std::span<std::byte> bytes_of(T& value) {
  return std::as_writable_bytes(std::span(&value, 1));
}

std::span<const std::byte> text_bytes(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// Echoes fixed-size messages back on `s` until the peer closes; ends with the number echoed.
task<int> echo_until_closed(executor& ex, executor::stream& s) {
  int echoed = 0;
  while (true) {
    std::uint64_t message = 0;
    if (!co_await coraft::io::read_exactly(ex, s, bytes_of(message))) co_return echoed;
    if (!co_await coraft::io::write_all(ex, s, bytes_of(message))) co_return echoed;
    ++echoed;
  }
}

// Sends `rounds` numbered messages and checks each echo; ends with how many came back intact.
task<int> echo_client(executor& ex, executor::stream& s, int rounds) {
  int intact = 0;
  for (std::uint64_t i = 0; i < static_cast<std::uint64_t>(rounds); ++i) {
    std::uint64_t sent = i * 7919, echoed = 0;
    if (!co_await coraft::io::write_all(ex, s, bytes_of(sent))) break;
    if (!co_await coraft::io::read_exactly(ex, s, bytes_of(echoed))) break;
    if (echoed == sent) ++intact;
  }
  co_return intact;
}

// Records the outcome of one accept, one recv or one read_exactly into the caller's variables.
task<void> accept_into(executor& ex, executor::listener& l, result<executor::stream>* out) {
  *out = co_await ex.accept(l);
}
task<void> recv_into(executor& ex, executor::stream& s, std::span<std::byte> buffer,
                     result<std::size_t>* out) {
  *out = co_await ex.recv(s, buffer);
}

// Sleeps `delay` (long enough for a request to reach the kernel), then cancels `target`.
task<void> cancel_after(executor& ex, coraft::io::duration delay, scope* target) {
  (void)co_await ex.sleep_for(delay);
  target->request_stop();
}

}  // namespace

TEST_CASE("listen: port 0 binds a free port, reported by local_endpoint") {
  executor ex;
  auto l = ex.listen({"127.0.0.1", 0});
  REQUIRE(l.has_value());
  CHECK(l->local_endpoint().host == "127.0.0.1");
  CHECK(l->local_endpoint().port != 0);
}

TEST_CASE("listen and connect: a host that is not IPv4 is an error value, not an exception") {
  executor ex;
  auto l = ex.listen({"not-an-address", 0});
  REQUIRE_FALSE(l.has_value());
  CHECK(l.error() == coraft::io::errc::invalid_address);
  auto body = [](executor& ex) -> task<void> {
    endpoint by_name{"localhost", 80};  // names are not resolved here
    auto s = co_await ex.connect(by_name);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error() == coraft::io::errc::invalid_address);
  };
  block_on(ex, body(ex));
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("echo: 10,000 round trips between a server and a client coroutine on loopback") {
  executor ex;
  auto body = [](executor& ex) -> task<void> {
    auto l = ex.listen({"127.0.0.1", 0}).value();
    scope server(co_await coraft::co::current_context());
    int echoed = -1;
    auto serve = [](executor& ex, executor::listener& l, int* echoed) -> task<void> {
      auto s = (co_await ex.accept(l)).value();
      *echoed = co_await echo_until_closed(ex, s);
    };
    server.spawn(serve(ex, l, &echoed));
    auto client = (co_await ex.connect(l.local_endpoint())).value();
    CHECK(co_await echo_client(ex, client, 10'000) == 10'000);
    client.close();  // the server's next read sees the end of the stream and it ends
    co_await server.join();
    CHECK(echoed == 10'000);
  };
  block_on(ex, body(ex));
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("read_exactly: a peer closing mid-read yields end_of_stream; recv then yields 0") {
  executor ex;
  auto pair = io_test::connect_pair(ex);
  auto body = [](executor& ex, executor::stream& client, executor::stream& server) -> task<void> {
    std::string partial = "abc";
    CHECK(co_await coraft::io::write_all(ex, server, text_bytes(partial)));
    server.close();
    std::array<std::byte, 8> buffer{};
    auto read = co_await coraft::io::read_exactly(ex, client, buffer);
    REQUIRE_FALSE(read.has_value());
    CHECK(read.error() == coraft::io::errc::end_of_stream);
    CHECK(std::memcmp(buffer.data(), "abc", 3) == 0);  // what did arrive is kept
    auto more = co_await ex.recv(client, buffer);
    REQUIRE(more.has_value());
    CHECK(*more == 0);
  };
  block_on(ex, body(ex, pair.client, pair.server));
}

TEST_CASE("connect: a closed port fails with ECONNREFUSED as a value") {
  executor ex;
  endpoint closed;
  {
    auto l = ex.listen({"127.0.0.1", 0}).value();
    closed = l.local_endpoint();
  }  // the listener is gone: nothing listens on that port any more
  auto body = [](executor& ex, endpoint remote) -> task<void> {
    auto s = co_await ex.connect(remote);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error() == std::errc::connection_refused);
  };
  block_on(ex, body(ex, closed));
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("accept: cancelled in the kernel or before submission returns cancelled(); the executor "
          "stays usable") {
  executor ex;
  auto l = ex.listen({"127.0.0.1", 0}).value();

  SUBCASE("cancelled while in the kernel") {
    result<executor::stream> accepted = coraft::co::errc::closed;
    scope acceptors(ex);
    acceptors.spawn(accept_into(ex, l, &accepted));
    block_on(ex, cancel_after(ex, 5ms, &acceptors));
    acceptors.run_until_idle();
    CHECK(accepted.error() == coraft::co::cancelled());
  }
  SUBCASE("cancelled before it was submitted") {
    result<executor::stream> accepted = coraft::co::errc::closed;
    scope acceptors(ex);
    acceptors.spawn(accept_into(ex, l, &accepted));
    acceptors.request_stop();
    acceptors.run_until_idle();
    CHECK(accepted.error() == coraft::co::cancelled());
  }
  CHECK(ex.operations_in_flight() == 0);

  // The same listener and executor still serve a connection and a round trip.
  auto body = [](executor& ex, executor::listener& l) -> task<void> {
    scope server(co_await coraft::co::current_context());
    auto serve = [](executor& ex, executor::listener& l) -> task<void> {
      auto s = (co_await ex.accept(l)).value();
      (void)co_await echo_until_closed(ex, s);
    };
    server.spawn(serve(ex, l));
    auto client = (co_await ex.connect(l.local_endpoint())).value();
    CHECK(co_await echo_client(ex, client, 10) == 10);
    client.close();
    co_await server.join();
  };
  block_on(ex, body(ex, l));
}

TEST_CASE("recv: a cancelled recv returns cancelled(), consumes nothing, and the stream stays "
          "usable") {
  executor ex;
  auto pair = io_test::connect_pair(ex);
  std::array<std::byte, 16> buffer{};
  result<std::size_t> received = coraft::co::errc::closed;
  {
    scope receivers(ex);
    receivers.spawn(recv_into(ex, pair.client, buffer, &received));
    block_on(ex, cancel_after(ex, 5ms, &receivers));
    receivers.run_until_idle();
  }
  CHECK(received.error() == coraft::co::cancelled());

  auto body = [](executor& ex, executor::stream& client, executor::stream& server) -> task<void> {
    std::string hello = "hello";
    CHECK(co_await coraft::io::write_all(ex, server, text_bytes(hello)));
    std::array<std::byte, 5> got{};
    CHECK(co_await coraft::io::read_exactly(ex, client, got));
    CHECK(std::memcmp(got.data(), "hello", 5) == 0);
  };
  block_on(ex, body(ex, pair.client, pair.server));
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("sendv: several buffers leave as one gathered send and arrive in order") {
  executor ex;
  auto pair = io_test::connect_pair(ex);
  auto body = [](executor& ex, executor::stream& client, executor::stream& server) -> task<void> {
    char header[] = "HDR:", body_text[] = "payload", trailer[] = ";END";
    std::array<iovec, 3> pieces{{{header, 4}, {body_text, 7}, {trailer, 4}}};
    auto sent = co_await ex.sendv(client, pieces);
    REQUIRE(sent.has_value());
    CHECK(*sent == 15);
    std::array<std::byte, 15> got{};
    CHECK(co_await coraft::io::read_exactly(ex, server, got));
    CHECK(std::memcmp(got.data(), "HDR:payload;END", 15) == 0);
  };
  block_on(ex, body(ex, pair.client, pair.server));
}

TEST_CASE("send: writing to a peer that has gone is EPIPE or ECONNRESET as a value, not SIGPIPE") {
  executor ex;
  auto pair = io_test::connect_pair(ex);
  pair.server.close();
  auto body = [](executor& ex, executor::stream& client) -> task<void> {
    std::array<std::byte, 4096> block{};
    result<void> written;
    // The first sends may still be accepted by the local socket buffer; the reset comes back soon.
    for (int i = 0; i < 1000 && written; ++i) {
      written = co_await coraft::io::write_all(ex, client, block);
    }
    REQUIRE_FALSE(written.has_value());
    CHECK((written.error() == std::errc::broken_pipe ||
           written.error() == std::errc::connection_reset));
  };
  block_on(ex, body(ex, pair.client));
}

TEST_CASE("streams: 64 connections at once on an executor with a submission queue of 4") {
  executor ex(4);
  auto body = [](executor& ex) -> task<void> {
    auto l = ex.listen({"127.0.0.1", 0}).value();
    constexpr int connections = 64, rounds = 20;
    int intact = 0, echoed = 0;
    scope everyone(co_await coraft::co::current_context());
    auto serve_one = [](executor& ex, executor::listener& l, int* echoed) -> task<void> {
      auto s = (co_await ex.accept(l)).value();
      *echoed += co_await echo_until_closed(ex, s);
    };
    auto client_one = [](executor& ex, endpoint remote, int rounds, int* intact) -> task<void> {
      auto s = (co_await ex.connect(remote)).value();
      *intact += co_await echo_client(ex, s, rounds);
    };
    for (int i = 0; i < connections; ++i) everyone.spawn(serve_one(ex, l, &echoed));
    for (int i = 0; i < connections; ++i) {
      everyone.spawn(client_one(ex, l.local_endpoint(), rounds, &intact));
    }
    co_await everyone.join();
    CHECK(intact == connections * rounds);
    CHECK(echoed == connections * rounds);
  };
  block_on(ex, body(ex));
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("when_any(recv, sleep): the timer wins, the recv is withdrawn, the stream stays usable") {
  executor ex;
  auto pair = io_test::connect_pair(ex);
  auto body = [](executor& ex, executor::stream& client, executor::stream& server) -> task<void> {
    std::array<std::byte, 8> buffer{};
    auto raced = co_await coraft::co::when_any(ex.recv(client, buffer), ex.sleep_for(2ms));
    CHECK(raced.index() == 1);
    CHECK(ex.operations_in_flight() == 0);
    std::string late = "late";
    CHECK(co_await coraft::io::write_all(ex, server, text_bytes(late)));
    auto got = co_await ex.recv(client, buffer);
    REQUIRE(got.has_value());
    CHECK(*got == 4);
    CHECK(std::memcmp(buffer.data(), "late", 4) == 0);
  };
  block_on(ex, body(ex, pair.client, pair.server));
}
