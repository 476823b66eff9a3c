// Instantiates the library's class templates in full, on the io_uring executor and on the
// simulator, so that compiling this unit with a user's stricter warnings checks the templates'
// code, which a header compiled alone leaves unchecked. (memory_storage is left out: see
// meson.build.)
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/node.hpp>
#include <coraft/raft/server/server.hpp>
#include <coraft/raft/server/server_thread.hpp>
#include <coraft/raft/storage/file_storage.hpp>
#include <coraft/raft/transport/sim_transport.hpp>
#include <coraft/raft/transport/tcp_transport.hpp>
#include <coraft/sim/sim.hpp>

namespace coraft::raft {
using uring = io::uring_executor;
template class node<uring, tcp_transport<uring>, file_storage<uring>>;
template class tcp_transport<uring>;
template class file_storage<uring>;
template class server<uring>;
template class basic_server_thread<uring>;
template class node<sim::host, tcp_transport<sim::host>, file_storage<sim::host>>;
template class server<sim::host>;
}  // namespace coraft::raft
