// coraft/raft/raft.hpp — the protocol, its contracts and their implementations.
#pragma once

#include "coraft/raft/file_storage.hpp"
#include "coraft/raft/log.hpp"
#include "coraft/raft/memory_storage.hpp"
#include "coraft/raft/messages.hpp"
#include "coraft/raft/node.hpp"
#include "coraft/raft/options.hpp"
#include "coraft/raft/protocol.hpp"
#include "coraft/raft/rules.hpp"
#include "coraft/raft/server.hpp"
#include "coraft/raft/server_thread.hpp"
#include "coraft/raft/sim_transport.hpp"
#include "coraft/raft/storage.hpp"
#include "coraft/raft/tcp_transport.hpp"
#include "coraft/raft/transport.hpp"
#include "coraft/raft/types.hpp"
