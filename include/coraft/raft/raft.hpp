// coraft/raft/raft.hpp — the protocol, its contracts and their implementations.
//
//   raft/            the protocol: types, messages, the log window, the rules (rules.hpp), the node,
//                    and the two contracts it is generic over (storage.hpp, transport.hpp)
//   raft/node/       the node's coroutines, one subject per header
//   raft/metrics/    the node's metrics (node::metrics()) and the latency histogram
//   raft/storage/    the storage contract in memory (for tests) and on files
//   raft/transport/  the transport contract over the simulated network and over TCP
//   raft/server/     a node with TCP and files: a cluster member, on its own thread if wanted
#pragma once

#include "coraft/raft/log.hpp"
#include "coraft/raft/messages.hpp"
#include "coraft/raft/metrics/histogram.hpp"
#include "coraft/raft/metrics/node_metrics.hpp"
#include "coraft/raft/node.hpp"
#include "coraft/raft/options.hpp"
#include "coraft/raft/protocol.hpp"
#include "coraft/raft/rules.hpp"
#include "coraft/raft/server/server.hpp"
#include "coraft/raft/server/server_thread.hpp"
#include "coraft/raft/storage.hpp"
#include "coraft/raft/storage/file_storage.hpp"
#include "coraft/raft/storage/memory_storage.hpp"
#include "coraft/raft/transport.hpp"
#include "coraft/raft/transport/sim_transport.hpp"
#include "coraft/raft/transport/tcp_transport.hpp"
#include "coraft/raft/types.hpp"
