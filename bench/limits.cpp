// limits — this machine's floor, measured the same day as the benchmarks it puts in proportion.
//
//   limits [--dir DIR] [--appends 2000] [--write-mib 256] [--round-trips 20000] [--json]
//
// 1. fdatasync latency of 4 KiB appends: append 4 KiB, fdatasync, again (what one commit of a
//    small batch costs on this disk at least); once into a file that grows with each append, once
//    into one whose blocks were reserved first (fallocate, keeping its size, as coraft's segments
//    are): the commit floor takes the faster;
// 2. sequential write bandwidth with an fdatasync after every MiB;
// 3. loopback TCP round trip of 64 bytes (TCP_NODELAY, blocking sockets, two threads).
//
// Plain system calls, no io_uring and no coraft: the point is the hardware and the kernel. The
// files go in --dir (default: the temporary directory the benchmarks use) and are removed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "percentile.hpp"

namespace {

using wall_clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what) {
  std::perror(what);
  std::exit(1);
}

double micros(wall_clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// 4 KiB appends, each followed by fdatasync; the latency of each pair. `preallocated`: the file's
// blocks are reserved first, without changing its size.
std::vector<double> fsync_latencies(const std::string& dir, int appends, bool preallocated) {
  const std::string path = dir + "/limits-fsync";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) fail("open");
  if (preallocated) {
    if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(appends) * 4096) != 0) fail("fallocate");
    if (::fsync(fd) != 0) fail("fsync");
  }
  std::vector<char> block(4096, 'x');
  std::vector<double> out;
  for (int i = 0; i < appends; ++i) {
    const auto start = wall_clock::now();
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) * 4096) != 4096) fail("pwrite");
    if (::fdatasync(fd) != 0) fail("fdatasync");
    out.push_back(micros(wall_clock::now() - start));
  }
  ::close(fd);
  std::filesystem::remove(path);
  return out;
}

// MB/s writing `mib` MiB sequentially, one fdatasync per MiB.
double write_bandwidth(const std::string& dir, int mib) {
  const std::string path = dir + "/limits-write";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) fail("open");
  std::vector<char> chunk(1 << 20, 'y');
  const auto start = wall_clock::now();
  for (int i = 0; i < mib; ++i) {
    for (std::size_t done = 0; done < chunk.size();) {
      auto n = ::write(fd, chunk.data() + done, chunk.size() - done);
      if (n <= 0) fail("write");
      done += static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd) != 0) fail("fdatasync");
  }
  const double seconds = std::chrono::duration<double>(wall_clock::now() - start).count();
  ::close(fd);
  std::filesystem::remove(path);
  return mib * 1.048576 / seconds;
}

void exchange(int fd, char* buffer, std::size_t size, bool send_first) {
  auto move_all = [&](bool sending) {
    for (std::size_t done = 0; done < size;) {
      auto n = sending ? ::send(fd, buffer + done, size - done, MSG_NOSIGNAL)
                       : ::recv(fd, buffer + done, size - done, 0);
      if (n <= 0) fail(sending ? "send" : "recv");
      done += static_cast<std::size_t>(n);
    }
  };
  move_all(send_first);
  move_all(!send_first);
}

// 64-byte ping-pongs over loopback TCP; the latency of each round trip.
std::vector<double> loopback_round_trips(int count) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    fail("listen");
  const int on = 1;
  std::thread echo([listener, count, on] {
    int peer = ::accept(listener, nullptr, nullptr);
    if (peer < 0) fail("accept");
    ::setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    std::array<char, 64> buffer{};
    for (int i = 0; i < count; ++i) exchange(peer, buffer.data(), buffer.size(), false);
    ::close(peer);
  });
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) fail("connect");
  std::array<char, 64> buffer{};
  std::vector<double> out;
  for (int i = 0; i < count; ++i) {
    const auto start = wall_clock::now();
    exchange(client, buffer.data(), buffer.size(), true);
    out.push_back(micros(wall_clock::now() - start));
  }
  echo.join();
  ::close(client);
  ::close(listener);
  return out;
}

int parse(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value <= 0) {
    std::fprintf(stderr, "limits: not a positive number: %.*s\n", static_cast<int>(text.size()),
                 text.data());
    std::exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::filesystem::temp_directory_path().string();
  int appends = 2000, write_mib = 256, round_trips = 20000;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--json") {
      json = true;
    } else if (i + 1 < argc && flag == "--dir") {
      dir = argv[++i];
    } else if (i + 1 < argc && flag == "--appends") {
      appends = parse(argv[++i]);
    } else if (i + 1 < argc && flag == "--write-mib") {
      write_mib = parse(argv[++i]);
    } else if (i + 1 < argc && flag == "--round-trips") {
      round_trips = parse(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: limits [--dir DIR] [--appends N] [--write-mib N] "
                           "[--round-trips N] [--json]\n");
      return 2;
    }
  }

  auto fsyncs = fsync_latencies(dir, appends, false);
  std::sort(fsyncs.begin(), fsyncs.end());
  auto reserved = fsync_latencies(dir, appends, true);
  std::sort(reserved.begin(), reserved.end());
  const double bandwidth = write_bandwidth(dir, write_mib);
  auto trips = loopback_round_trips(round_trips);
  std::sort(trips.begin(), trips.end());
  const double fsync_p50 = bench::percentile(fsyncs, 0.5);
  const double fsync_p99 = bench::percentile(fsyncs, 0.99);
  const double reserved_p50 = bench::percentile(reserved, 0.5);
  const double reserved_p99 = bench::percentile(reserved, 0.99);
  const double floor = std::min(fsync_p50, reserved_p50) + bench::percentile(trips, 0.5);
  const double rtt_p50 = bench::percentile(trips, 0.5);
  const double rtt_p99 = bench::percentile(trips, 0.99);

  std::printf("limits: %s\n", dir.c_str());
  std::printf("  4 KiB append + fdatasync   p50 %8.0f us   p99 %8.0f us   (%d appends)\n", fsync_p50,
              fsync_p99, appends);
  std::printf("  the same, blocks reserved first   p50 %8.0f us   p99 %8.0f us\n", reserved_p50,
              reserved_p99);
  std::printf("  sequential write, fdatasync per MiB   %8.0f MB/s   (%d MiB)\n", bandwidth, write_mib);
  std::printf("  loopback TCP 64 B round trip   p50 %6.1f us   p99 %6.1f us   (%d trips)\n", rtt_p50,
              rtt_p99, round_trips);
  std::printf("  commit floor (the faster fsync p50 + RTT p50)    %8.0f us\n", floor);
  if (json) {
    std::printf("{\"fsync_p50_us\": %.1f, \"fsync_p99_us\": %.1f, \"reserved_fsync_p50_us\": %.1f, "
                "\"reserved_fsync_p99_us\": %.1f, \"write_mb_per_sec\": %.1f, "
                "\"rtt_p50_us\": %.2f, \"rtt_p99_us\": %.2f, \"commit_floor_us\": %.1f}\n",
                fsync_p50, fsync_p99, reserved_p50, reserved_p99, bandwidth, rtt_p50, rtt_p99, floor);
  }
}
