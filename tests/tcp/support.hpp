// Helpers shared by the TCP tests: free loopback ports, and member maps over them.
#pragma once

#include <coraft/io/endpoint.hpp>
#include <coraft/io/fd.hpp>
#include <coraft/raft/types.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <vector>

namespace tcp_test {

// `count` loopback ports that were free a moment ago: each was bound (all at once, so they differ)
// and released. Another process could take one in between; on a test machine that is rare.
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
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("cannot find a free loopback port");
    ports.push_back(ntohs(address.sin_port));
    held.push_back(std::move(s));
  }
  return ports;
}

// Members 1..n on free loopback ports.
inline std::map<coraft::raft::node_id, coraft::io::endpoint> loopback_members(std::size_t n) {
  std::map<coraft::raft::node_id, coraft::io::endpoint> members;
  auto ports = free_ports(n);
  for (std::size_t i = 0; i < n; ++i)
    members[static_cast<coraft::raft::node_id>(i + 1)] = coraft::io::endpoint{"127.0.0.1", ports[i]};
  return members;
}

}  // namespace tcp_test
