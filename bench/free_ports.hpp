// Loopback ports for the members of a benchmark cluster.
#pragma once

#include <coraft/io/fd.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace bench {

// `count` distinct loopback ports that were free a moment ago, for members to bind.
//
// They are drawn from below the kernel's ephemeral range (ip_local_port_range starts at 32768 by
// default): a member that is killed and restarted must be able to bind its port again, and a port
// from the ephemeral range may meanwhile have become the local end of someone's outgoing
// connection.
inline std::vector<std::uint16_t> free_ports(std::size_t count) {
  std::vector<std::uint16_t> ports;
  std::uint64_t state = static_cast<std::uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ULL ^
                        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  for (int attempt = 0; ports.size() < count; ++attempt) {
    if (attempt > 10000) {
      std::fprintf(stderr, "no free loopback port\n");
      std::exit(1);
    }
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto port = static_cast<std::uint16_t>(20000 + (state >> 33) % 12000);
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) continue;
    coraft::io::unique_fd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (s && ::bind(s.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
      ports.push_back(port);
  }
  return ports;
}

}  // namespace bench
