// tests/wire/raft_protocol.hpp — the Raft RPCs as a wire protocol, and sample messages of each, shared
// by the wire tests, the fuzzer and its corpus generator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <coraft/raft/messages.hpp>
#include <coraft/raft/protocol.hpp>

namespace coraft::test {

using raft_protocol = raft::protocol;

inline raft::log_entry sample_entry(raft::term_t term, raft::entry_kind kind, std::size_t size) {
  raft::bytes payload;
  for (std::size_t i = 0; i < size; ++i) payload.push_back(static_cast<std::byte>(i * 7 + 3));
  return raft::log_entry{.term = term, .kind = kind, .payload = std::move(payload)};
}

// One message of every type, with small, large and extreme field values.
inline std::vector<raft_protocol::message> sample_raft_messages() {
  constexpr auto max64 = std::numeric_limits<std::uint64_t>::max();
  constexpr auto max32 = std::numeric_limits<std::uint32_t>::max();
  std::vector<raft_protocol::message> messages;
  messages.emplace_back(raft::request_vote_args{
      .term = 5, .candidate = 2, .last_log_index = 300, .last_log_term = 4});
  messages.emplace_back(raft::request_vote_args{
      .term = max64, .candidate = max32, .last_log_index = max64, .last_log_term = max64});
  messages.emplace_back(raft::request_vote_reply{.term = 7, .vote_granted = true});
  messages.emplace_back(raft::request_vote_reply{.term = 0, .vote_granted = false});
  messages.emplace_back(raft::append_entries_args{.term = 3,
                                                  .leader = 1,
                                                  .prev_log_index = 0,
                                                  .prev_log_term = 0,
                                                  .entries = {},
                                                  .leader_commit = 0});  // a heartbeat
  messages.emplace_back(raft::append_entries_args{
      .term = 9,
      .leader = 3,
      .prev_log_index = 1000,
      .prev_log_term = 8,
      .entries = {sample_entry(9, raft::entry_kind::no_op, 0),
                  sample_entry(9, raft::entry_kind::command, 1),
                  sample_entry(9, raft::entry_kind::command, 200)},
      .leader_commit = 999});
  messages.emplace_back(raft::append_entries_reply{.term = 9,
                                                   .success = true,
                                                   .match_index = 1003,
                                                   .conflict_term = 0,
                                                   .conflict_index = 0});
  messages.emplace_back(raft::append_entries_reply{.term = max64,
                                                   .success = false,
                                                   .match_index = 0,
                                                   .conflict_term = max64 - 1,
                                                   .conflict_index = max64});
  messages.emplace_back(raft::install_snapshot_args{.term = 4,
                                                    .leader = 2,
                                                    .last_index = 500,
                                                    .last_term = 3,
                                                    .offset = 65536,
                                                    .data = sample_entry(0, raft::entry_kind::command, 300).payload.to_bytes(),
                                                    .done = true,
                                                    .config = {.cluster = 77,
                                                               .members = {{1, raft::member_role::voter,
                                                                            raft::to_bytes("a:1"), {}},
                                                                           {4, raft::member_role::learner,
                                                                            raft::to_bytes("b:2"),
                                                                            raft::to_bytes("c:3")}},
                                                               .outgoing = {{1, raft::member_role::voter,
                                                                             raft::to_bytes("a:1"), {}}}},
                                                    .cluster = 77});
  messages.emplace_back(raft::install_snapshot_reply{.term = 4, .accepted = true});
  messages.emplace_back(raft::request_vote_args{.term = 6,
                                                .candidate = 3,
                                                .last_log_index = 12,
                                                .last_log_term = 5,
                                                .leadership_transfer = true});
  messages.emplace_back(raft::pre_vote_args{
      .term = 8, .candidate = 2, .last_log_index = 300, .last_log_term = 4, .cluster = max64});
  messages.emplace_back(raft::pre_vote_args{
      .term = max64, .candidate = max32, .last_log_index = max64, .last_log_term = max64});
  messages.emplace_back(raft::pre_vote_reply{.term = 7, .vote_granted = true});
  messages.emplace_back(raft::timeout_now_args{.term = 9, .leader = 1, .cluster = 5});
  messages.emplace_back(raft::append_entries_args{
      .term = 9,
      .leader = 3,
      .prev_log_index = 0,
      .prev_log_term = 0,
      .entries = {sample_entry(9, raft::entry_kind::configuration, 40)},
      .leader_commit = 0,
      .cluster = 12345});
  messages.emplace_back(raft::timeout_now_reply{.term = 9, .accepted = false});
  messages.emplace_back(raft::read_index_args{.term = 10, .reader = 4, .cluster = 5});
  messages.emplace_back(raft::read_index_args{
      .term = max64, .reader = max32, .cluster = max64, .sender_incarnation = max64});
  messages.emplace_back(raft::read_index_reply{.term = 10, .success = true, .read_index = 77});
  return messages;
}

}  // namespace coraft::test
