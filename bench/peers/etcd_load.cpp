// etcd_load — drives etcd's v3 HTTP/JSON gateway the way raft_bench drives coraft: `--clients`
// concurrent writers, each putting a `--payload`-byte value and awaiting the reply, again and again,
// over keep-alive connections. Prints the same figures as raft_bench (throughput and latency).
//
//   etcd_load --endpoints 127.0.0.1:2379,... [--clients 64] [--payload 256] [--duration 10]
//             [--warmup 2] [--json]
//
// Clients are spread over the endpoints round-robin; a follower forwards to its leader, as etcd
// clients expect. The load generator is one io_uring executor on one thread, with a coroutine per
// client: the same executor coraft runs on.
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/io/stream_ops.hpp>
#include <coraft/io/uring_executor.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "../percentile.hpp"

namespace {

using namespace std::chrono_literals;
using executor = coraft::io::uring_executor;
using wall_clock = std::chrono::steady_clock;

struct settings {
  std::vector<coraft::io::endpoint> endpoints;
  std::size_t clients = 64;
  std::size_t payload = 256;
  double duration = 10;
  double warmup = 2;
  bool json = false;
};

struct load {
  bool measuring = false;
  bool stopping = false;
  std::uint64_t committed = 0;
  std::uint64_t failed = 0;
  std::vector<std::uint32_t> latencies_us;
};

std::string base64(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(v >> shift) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Reads one HTTP/1.1 response from `s` into `buffer` (which may hold the start of the next one).
// Ends with its status code, or 0 if the connection failed or the response was not understood.
coraft::co::task<int> read_response(executor& ex, executor::stream& s, std::string& buffer) {
  std::size_t header_end;
  std::array<char, 8192> chunk;
  while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    const std::span<std::byte> into = std::as_writable_bytes(std::span(chunk));
    auto got = co_await ex.recv(s, into);
    if (!got || *got == 0) co_return 0;
    buffer.append(chunk.data(), *got);
  }
  int status = 0;
  if (buffer.size() > 12) std::from_chars(buffer.data() + 9, buffer.data() + 12, status);
  std::size_t body = 0;
  for (std::string_view key : {"Content-Length: ", "content-length: "}) {
    auto at = buffer.find(key);
    if (at != std::string::npos && at < header_end)
      std::from_chars(buffer.data() + at + key.size(), buffer.data() + header_end, body);
  }
  const std::size_t total = header_end + 4 + body;
  while (buffer.size() < total) {
    const std::span<std::byte> into = std::as_writable_bytes(std::span(chunk));
    auto got = co_await ex.recv(s, into);
    if (!got || *got == 0) co_return 0;
    buffer.append(chunk.data(), *got);
  }
  buffer.erase(0, total);
  co_return status;
}

// One writer: connects, then puts and awaits the reply until told to stop; reconnects after a
// failure. Awaits each put; ends when `l->stopping` or when cancelled.
coraft::co::task<void> writer(executor& ex, coraft::io::endpoint to, load* l, std::size_t payload,
                              std::size_t id) {
  const std::string value = base64(std::string(payload, 'v'));
  std::string buffer;
  for (std::uint64_t n = 0; !l->stopping;) {
    auto connection = co_await ex.connect(to);
    if (!connection) {
      if (!co_await ex.sleep_for(100ms)) co_return;
      continue;
    }
    buffer.clear();
    while (!l->stopping) {
      const std::string body = "{\"key\":\"" + base64("k" + std::to_string(id) + "-" + std::to_string(n++ % 1000)) +
                               "\",\"value\":\"" + value + "\"}";
      const std::string request = "POST /v3/kv/put HTTP/1.1\r\nHost: " + to.to_string() +
                                  "\r\nContent-Type: application/json\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body;
      const auto start = wall_clock::now();
      const std::span<const std::byte> out = std::as_bytes(std::span(request));
      if (!co_await coraft::io::write_all(ex, *connection, out)) break;
      const int status = co_await read_response(ex, *connection, buffer);
      if (status == 0) break;
      if (status != 200) {
        ++l->failed;
        continue;
      }
      if (l->measuring) {
        ++l->committed;
        l->latencies_us.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(wall_clock::now() - start).count()));
      }
    }
  }
}

// Sleeps through the warm-up and the measured window, flipping `measuring` between them.
// Then gives the writers a second to finish their last put, and cancels what is still waiting.
coraft::co::task<void> conduct(executor& ex, load* l, settings s, double* seconds,
                               coraft::co::scope* writers) {
  (void)co_await ex.sleep_for(std::chrono::duration_cast<coraft::io::duration>(
      std::chrono::duration<double>(s.warmup)));
  l->measuring = true;
  const auto start = wall_clock::now();
  (void)co_await ex.sleep_for(std::chrono::duration_cast<coraft::io::duration>(
      std::chrono::duration<double>(s.duration)));
  l->measuring = false;
  *seconds = std::chrono::duration<double>(wall_clock::now() - start).count();
  l->stopping = true;
  (void)co_await ex.sleep_for(1s);
  writers->request_stop();
}

double number(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    std::fprintf(stderr, "etcd_load: not a number: %.*s\n", static_cast<int>(text.size()), text.data());
    std::exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--json") {
      s.json = true;
      continue;
    }
    if (i + 1 >= argc) return 2;
    std::string_view value = argv[++i];
    if (flag == "--endpoints") {
      while (!value.empty()) {
        auto item = value.substr(0, value.find(','));
        value.remove_prefix(std::min(value.size(), item.size() + 1));
        auto parsed = coraft::io::endpoint::parse(item);
        if (!parsed) return 2;
        s.endpoints.push_back(*parsed);
      }
    } else if (flag == "--clients") s.clients = static_cast<std::size_t>(number(value));
    else if (flag == "--payload") s.payload = static_cast<std::size_t>(number(value));
    else if (flag == "--duration") s.duration = number(value);
    else if (flag == "--warmup") s.warmup = number(value);
    else return 2;
  }
  if (s.endpoints.empty()) {
    std::fprintf(stderr, "etcd_load: --endpoints host:port,... is required\n");
    return 2;
  }

  executor ex;
  load l;
  l.latencies_us.reserve(1u << 20);
  double seconds = 0;
  {
    coraft::co::scope scope(ex);
    for (std::size_t c = 0; c < s.clients; ++c)
      scope.spawn(writer(ex, s.endpoints[c % s.endpoints.size()], &l, s.payload, c));
    scope.spawn(conduct(ex, &l, s, &seconds, &scope));
    scope.run_until_idle();
  }
  std::sort(l.latencies_us.begin(), l.latencies_us.end());
  const double rate = static_cast<double>(l.committed) / seconds;
  std::printf("etcd_load: %zu endpoints, %zu clients, %zu-byte values, %.0f s\n", s.endpoints.size(),
              s.clients, s.payload, seconds);
  std::printf("  committed puts/s      %12.0f\n", rate);
  std::printf("  MB/s                  %12.1f\n", rate * static_cast<double>(s.payload) / 1e6);
  std::printf("  commit latency p50    %12.0f us\n", bench::percentile(l.latencies_us, 0.5));
  std::printf("  commit latency p99    %12.0f us\n", bench::percentile(l.latencies_us, 0.99));
  std::printf("  commit latency p999   %12.0f us\n", bench::percentile(l.latencies_us, 0.999));
  if (l.failed) std::printf("  failed puts           %12llu\n", static_cast<unsigned long long>(l.failed));
  if (s.json) {
    std::printf("{\"entries_per_sec\": %.0f, \"mb_per_sec\": %.2f, \"p50_us\": %.0f, \"p99_us\": %.0f, "
                "\"p999_us\": %.0f, \"clients\": %zu, \"payload\": %zu, \"system\": \"etcd\"}\n",
                rate, rate * static_cast<double>(s.payload) / 1e6, bench::percentile(l.latencies_us, 0.5),
                bench::percentile(l.latencies_us, 0.99), bench::percentile(l.latencies_us, 0.999), s.clients,
                s.payload);
  }
}
