// Shared by the simulator's tests: byte helpers and small coroutines that use a host's streams.
#pragma once

#include <doctest/doctest.h>

#include <coraft/co/result.hpp>
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sim_test {

using namespace std::chrono_literals;
namespace co = coraft::co;
namespace io = coraft::io;
namespace sim = coraft::sim;

inline std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

inline std::string text_of(std::span<const std::byte> bytes) {
  std::string out;
  for (std::byte b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// One simulated machine: a world, its network and one host with a disk; `run` drives a task on
// the host to completion.
struct machine {
  explicit machine(std::uint64_t seed = 1, const std::string& name = "h")
      : world(seed), net(world), host(world, net, name) {}

  template <class T>
  T run(co::task<T> t) {
    return co::block_on(host, std::move(t));
  }
  void crash_and_restart() {
    host.crash();
    host.restart();
  }

  sim::world world;
  sim::network net;
  sim::host host;
};

// Virtual time since the start of the world, for comparisons that read well.
inline io::time_point at(io::duration since_start) { return io::time_point{} + since_start; }

// Sends all of `bytes` on `s`, however many sends that takes. Ends when done or on an error.
inline co::task<co::result<void>> send_all(sim::host* h, sim::stream* s,
                                           std::vector<std::byte> bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = co_await h->send(*s, std::span(bytes).subspan(sent));
    if (!n) co_return n.error();
    sent += *n;
  }
  co_return co::result<void>{};
}

// Receives until `count` bytes have come or the stream ends; an error ends it with that error.
inline co::task<co::result<std::vector<std::byte>>> recv_up_to(sim::host* h, sim::stream* s,
                                                                std::size_t count) {
  std::vector<std::byte> got;
  std::array<std::byte, 4096> buffer;
  while (got.size() < count) {
    auto n = co_await h->recv(*s, std::span(buffer).first(std::min(buffer.size(), count - got.size())));
    if (!n) co_return n.error();
    if (*n == 0) break;
    got.insert(got.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  co_return got;
}

// Sends back every byte it receives on `s`; ends at end of stream or on the first error.
inline co::task<void> echo(sim::host* h, sim::stream s) {
  std::array<std::byte, 1024> buffer;
  for (;;) {
    auto n = co_await h->recv(s, buffer);
    if (!n || *n == 0) co_return;
    std::vector<std::byte> chunk(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*n));
    if (!co_await send_all(h, &s, std::move(chunk))) co_return;
  }
}

// Accepts connections on `where` and echoes each one; ends when cancelled (joining its echoes).
inline co::task<void> echo_server(sim::host* h, io::endpoint where) {
  auto l = h->listen(where);
  REQUIRE(l);
  co::scope connections(co_await co::current_context());
  for (;;) {
    auto s = co_await h->accept(*l);
    if (!s) break;
    connections.spawn(echo(h, std::move(*s)));
  }
  connections.request_stop();
  co_await connections.join();
}

}  // namespace sim_test
