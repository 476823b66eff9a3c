// Loopback ports for the members of a benchmark cluster.
#pragma once

#include <coraft/io/fd.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace bench {

// `count` loopback ports that were free a moment ago: bound all at once (so they differ), then
// released for the members to bind.
inline std::vector<std::uint16_t> free_ports(std::size_t count) {
  std::vector<coraft::io::unique_fd> held;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    coraft::io::unique_fd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (!s || ::bind(s.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      std::perror("no free loopback port");
      std::exit(1);
    }
    ports.push_back(ntohs(address.sin_port));
    held.push_back(std::move(s));
  }
  return ports;
}

}  // namespace bench
