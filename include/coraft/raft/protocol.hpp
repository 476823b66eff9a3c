// coraft/raft/protocol.hpp — the Raft RPCs as a wire protocol: a message's type number on the wire
// is its position in this list. The list only ever grows at its end.
#pragma once

#include "coraft/raft/messages.hpp"
#include "coraft/wire/protocol.hpp"

namespace coraft::raft {

using protocol = wire::protocol<request_vote_args, request_vote_reply, append_entries_args,
                                append_entries_reply, install_snapshot_args, install_snapshot_reply,
                                pre_vote_args, pre_vote_reply, timeout_now_args, timeout_now_reply,
                                read_index_args, read_index_reply>;

}  // namespace coraft::raft
