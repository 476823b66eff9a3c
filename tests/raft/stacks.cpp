// tests/raft/stacks.cpp — the one instantiation of each stack (see stacks.hpp).
#include "stacks.hpp"

namespace coraft::raft {
template class node<sim::world, test::sim_transport, test::sim_storage>;
template class memory_storage<sim::world>;
template class sim_transport<test::raft_wires, sim::world>;
template class node<sim::host, tcp_transport<sim::host>, file_storage<sim::host>>;
template class tcp_transport<sim::host>;
template class file_storage<sim::host>;
template class server<sim::host>;
}  // namespace coraft::raft
