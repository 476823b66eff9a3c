// Helpers shared by the TCP tests: free loopback ports, and member maps over them.
#pragma once

#include <coraft/io/endpoint.hpp>
#include <coraft/raft/types.hpp>

#include <cstdint>
#include <map>

#include "../../bench/free_ports.hpp"

namespace tcp_test {

using bench::free_ports;  // shared with the benchmarks

// Members 1..n on free loopback ports.
inline std::map<coraft::raft::node_id, coraft::io::endpoint> loopback_members(std::size_t n) {
  std::map<coraft::raft::node_id, coraft::io::endpoint> members;
  auto ports = free_ports(n);
  for (std::size_t i = 0; i < n; ++i)
    members[static_cast<coraft::raft::node_id>(i + 1)] = coraft::io::endpoint{"127.0.0.1", ports[i]};
  return members;
}

}  // namespace tcp_test
