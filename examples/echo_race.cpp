// echo_race — round trips on loopback, each one racing a timer.
//
// An echo server and a client run as coroutines on one io_uring executor, on one thread. The client
// sends numbered messages; every round trip is a co::when_any between "the echo came back" and "the
// deadline passed". The server is deliberately slow on every 16th message, so some races are lost:
// then when_any cancels the round trip (its recv is withdrawn from the kernel with ASYNC_CANCEL)
// and, because a late echo would put the stream out of step, the client reconnects.
//
// This is the shape of a Raft RPC with a deadline: the timer and the reply race, the loser is
// cancelled and joined before the caller moves on, and nothing is left running behind its back.
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/co/when_any.hpp>
#include <coraft/io/stream_ops.hpp>
#include <coraft/io/uring_executor.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <vector>

namespace {

using namespace std::chrono_literals;
using coraft::co::result;
using coraft::co::task;
using executor = coraft::io::uring_executor;

constexpr int round_trips = 2'000;
constexpr std::uint64_t slow_every = 16;        // the server delays every 16th echo...
constexpr auto slow_delay = 3ms;                // ...by this much,
constexpr auto deadline = 1ms;                  // which is longer than the client waits.

template <class T>
std::span<std::byte> bytes_of(T& value) {
  return std::as_writable_bytes(std::span(&value, 1));
}

// Echoes 8-byte messages on `s`, slowly for every 16th one. Ends when the client goes away (end of
// stream or a reset) or when the server is cancelled.
task<void> echo(executor& ex, executor::stream s) {
  while (true) {
    std::uint64_t message = 0;
    if (!co_await coraft::io::read_exactly(ex, s, bytes_of(message))) co_return;
    if (message % slow_every == 0 && !co_await ex.sleep_for(slow_delay)) co_return;
    if (!co_await coraft::io::write_all(ex, s, bytes_of(message))) co_return;
  }
}

// Accepts connections and echoes each in its own coroutine, until cancelled. `l` belongs to the
// caller, which joins this coroutine before the listener goes away.
task<void> serve(executor& ex, executor::listener& l) {
  coraft::co::scope connections(co_await coraft::co::current_context());
  while (true) {
    auto accepted = co_await ex.accept(l);
    if (!accepted) break;  // cancelled: the demo is over
    connections.spawn(echo(ex, std::move(*accepted)));
  }
  co_await connections.join();  // cancelled with us, since their scope hangs off our context
}

// One round trip: send `sequence`, await its echo. Ends with the echo, or with the error that cut
// it short (cancelled() when the timer won the race). `s` is kept alive by the client, which
// awaits the race this runs in.
task<result<std::uint64_t>> round_trip(executor& ex, executor::stream& s, std::uint64_t sequence) {
  if (auto sent = co_await coraft::io::write_all(ex, s, bytes_of(sequence)); !sent) {
    co_return sent.error();
  }
  std::uint64_t echoed = 0;
  if (auto got = co_await coraft::io::read_exactly(ex, s, bytes_of(echoed)); !got) {
    co_return got.error();
  }
  co_return echoed;
}

struct tally {
  int won = 0;         // the echo came back in time, and was the right one
  int lost = 0;        // the timer fired first
  int failed = 0;      // the round trip ended with an error of its own
  int reconnects = 0;
  std::vector<std::chrono::microseconds> latencies;  // of the races won
};

// Runs all round trips against `server`; each one races the deadline. Ends with the tally, or
// with nullopt if the client cannot (re)connect.
task<std::optional<tally>> client(executor& ex, coraft::io::endpoint server) {
  tally t;
  auto s = co_await ex.connect(server);
  for (std::uint64_t sequence = 1; sequence <= round_trips; ++sequence) {
    if (!s) {
      std::fprintf(stderr, "connect failed: %s\n", s.error().message().c_str());
      co_return std::nullopt;
    }
    auto started = ex.now();
    // A task against a bare timer awaiter. Both have ended when when_any returns: the loser was
    // cancelled (a timer or a recv withdrawn from the kernel) and joined.
    auto winner =
        co_await coraft::co::when_any(round_trip(ex, *s, sequence), ex.sleep_for(deadline));
    if (winner.index() == 0 && std::get<0>(winner) && *std::get<0>(winner) == sequence) {
      ++t.won;
      t.latencies.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(ex.now() - started));
      continue;
    }
    if (winner.index() == 1) {
      ++t.lost;
    } else {
      ++t.failed;
    }
    // The stream may still carry a late echo, or half of one: start over on a fresh connection.
    s->close();
    s = co_await ex.connect(server);
    ++t.reconnects;
  }
  co_return t;
}

// Listens, runs the client against the server, then stops the server. Ends with the exit status.
task<int> demo(executor& ex) {
  auto listener = ex.listen({"127.0.0.1", 0});
  if (!listener) {
    std::fprintf(stderr, "listen failed: %s\n", listener.error().message().c_str());
    co_return 1;
  }
  auto where = listener->local_endpoint();
  std::printf("echo_race: %d round trips on %s, each racing a %lld us timer\n", round_trips,
              where.to_string().c_str(),
              static_cast<long long>(std::chrono::microseconds(deadline).count()));

  coraft::co::scope server(co_await coraft::co::current_context());
  server.spawn(serve(ex, *listener));
  auto started = ex.now();
  auto result = co_await client(ex, where);
  auto elapsed = ex.now() - started;
  server.request_stop();
  co_await server.join();
  if (!result) co_return 1;

  tally& t = *result;
  std::sort(t.latencies.begin(), t.latencies.end());
  auto at = [&](double quantile) {
    if (t.latencies.empty()) return 0LL;
    auto index = static_cast<std::size_t>(quantile * static_cast<double>(t.latencies.size() - 1));
    return static_cast<long long>(t.latencies[index].count());
  };
  std::printf("  won by the echo:  %5d  (latency min %lld us, median %lld us, p99 %lld us, "
              "max %lld us)\n",
              t.won, at(0.0), at(0.5), at(0.99), at(1.0));
  std::printf("  won by the timer: %5d  (the server holds back one echo in %llu by %lld us)\n",
              t.lost, static_cast<unsigned long long>(slow_every),
              static_cast<long long>(std::chrono::microseconds(slow_delay).count()));
  std::printf("  failed otherwise: %5d\n", t.failed);
  std::printf("  reconnects:       %5d\n", t.reconnects);
  std::printf("  total time:       %.3f s\n", std::chrono::duration<double>(elapsed).count());
  co_return 0;
}

}  // namespace

int main() {
  executor ex;
  return coraft::co::block_on(ex, demo(ex));
}
