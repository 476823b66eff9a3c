// coraft/raft/messages.hpp — the RPCs of Figure 2, as plain structs described with Boost.Describe
// so that the wire codec encodes them without a hand-written serializer.
#pragma once

#include <cstdint>
#include <vector>

#include <boost/describe/class.hpp>

#include "coraft/raft/configuration.hpp"
#include "coraft/raft/types.hpp"

namespace coraft::raft {

// Each request names the reply it is answered with (`args::reply`): the transports match them, and
// the cluster it belongs to (`cluster`): a member drops requests of another cluster unanswered; and
// the incarnations of its sender and of the receiver it is meant for (configuration.hpp): a member
// drops requests from or for an incarnation other than the one the configuration records.
struct request_vote_reply;
struct append_entries_reply;
struct install_snapshot_reply;
struct pre_vote_reply;
struct timeout_now_reply;
struct read_index_reply;

// Invoked by candidates to gather votes (§5.2).
struct request_vote_args {
  term_t term = 0;              // candidate's term
  node_id candidate = nobody;   // candidate requesting the vote
  index_t last_log_index = 0;   // index of the candidate's last log entry (§5.4)
  term_t last_log_term = 0;     // term of the candidate's last log entry (§5.4)
  // The election was started by the leader's TimeoutNow (thesis §3.10): voters do not withhold
  // their vote for having heard from that leader recently.
  bool leadership_transfer = false;
  raft::cluster_id cluster = 0;  // the sender's cluster
  incarnation_t sender_incarnation = 0;    // the sender's own
  incarnation_t receiver_incarnation = 0;  // the receiver's, as the sender's configuration has it
  using reply = request_vote_reply;  // what the request is answered with
  friend bool operator==(const request_vote_args&, const request_vote_args&) = default;
};
BOOST_DESCRIBE_STRUCT(request_vote_args, (),
                      (term, candidate, last_log_index, last_log_term, leadership_transfer, cluster,
                       sender_incarnation, receiver_incarnation))

struct request_vote_reply {
  term_t term = 0;            // the voter's current term, for the candidate to update itself
  bool vote_granted = false;  // true means the candidate received the vote
  friend bool operator==(const request_vote_reply&, const request_vote_reply&) = default;
};
BOOST_DESCRIBE_STRUCT(request_vote_reply, (), (term, vote_granted))

// Invoked by the leader to replicate entries (§5.3); also the heartbeat (§5.2).
struct append_entries_args {
  term_t term = 0;              // leader's term
  node_id leader = nobody;      // so followers can redirect clients
  index_t prev_log_index = 0;   // index of the entry immediately preceding the new ones
  term_t prev_log_term = 0;     // term of that entry
  std::vector<log_entry> entries;  // empty for a heartbeat
  index_t leader_commit = 0;    // leader's commit index
  raft::cluster_id cluster = 0;  // the sender's cluster
  incarnation_t sender_incarnation = 0;    // the sender's own
  incarnation_t receiver_incarnation = 0;  // the receiver's, as the sender's configuration has it
  using reply = append_entries_reply;  // what the request is answered with
  friend bool operator==(const append_entries_args&, const append_entries_args&) = default;
};
BOOST_DESCRIBE_STRUCT(append_entries_args, (),
                      (term, leader, prev_log_index, prev_log_term, entries, leader_commit, cluster,
                       sender_incarnation, receiver_incarnation))

struct append_entries_reply {
  term_t term = 0;       // the follower's current term, for the leader to update itself
  bool success = false;  // the follower held an entry matching prev_log_index and prev_log_term
  // On success: the index of the last entry this request made durable (prev_log_index + entries),
  // so the leader needs no per-request memory to advance match_index, even when pipelining.
  index_t match_index = 0;
  // On rejection, where the leader should back up to (the "fast backup" optimisation, §5.3):
  // conflict_term is the term of the follower's entry at prev_log_index (0 if its log is shorter),
  // conflict_index the first index the follower holds with that term (or its log length + 1).
  term_t conflict_term = 0;
  index_t conflict_index = 0;
  incarnation_t incarnation = 0;  // the follower's: its leader records it in the configuration
  friend bool operator==(const append_entries_reply&, const append_entries_reply&) = default;
};
BOOST_DESCRIBE_STRUCT(append_entries_reply, (),
                      (term, success, match_index, conflict_term, conflict_index, incarnation))

// Invoked by the leader to send a snapshot to a follower that lags behind the leader's log (§7),
// in chunks so that a large snapshot streams.
struct install_snapshot_args {
  term_t term = 0;             // leader's term
  node_id leader = nobody;     // so followers can redirect clients
  index_t last_index = 0;      // the snapshot replaces every entry up to and including this one
  term_t last_term = 0;        // term of that entry
  std::uint64_t offset = 0;    // where this chunk goes in the snapshot
  bytes data;                  // the chunk
  bool done = false;           // true on the last chunk
  configuration config;        // the configuration in force at last_index (on every chunk)
  raft::cluster_id cluster = 0;  // the sender's cluster
  incarnation_t sender_incarnation = 0;    // the sender's own
  incarnation_t receiver_incarnation = 0;  // the receiver's, as the sender's configuration has it
  using reply = install_snapshot_reply;  // what the request is answered with
  friend bool operator==(const install_snapshot_args&, const install_snapshot_args&) = default;
};
BOOST_DESCRIBE_STRUCT(install_snapshot_args, (),
                      (term, leader, last_index, last_term, offset, data, done, config, cluster,
                       sender_incarnation, receiver_incarnation))

struct install_snapshot_reply {
  term_t term = 0;            // the follower's current term, for the leader to update itself
  bool accepted = false;      // the chunk was taken (and, when done, the snapshot is durable)
  incarnation_t incarnation = 0;  // the follower's: its leader records it in the configuration
  friend bool operator==(const install_snapshot_reply&, const install_snapshot_reply&) = default;
};
BOOST_DESCRIBE_STRUCT(install_snapshot_reply, (), (term, accepted, incarnation))

// Sent by a would-be candidate before it raises its term (PreVote, thesis §9.6): would the voter
// grant a vote in the election it would start? Voters answer as for a RequestVote but change
// nothing, so a member that cannot win (cut off, or behind) never raises anyone's term.
struct pre_vote_args {
  term_t term = 0;              // the term the candidate would use: its own term + 1
  node_id candidate = nobody;   // the would-be candidate
  index_t last_log_index = 0;   // index of its last log entry (§5.4)
  term_t last_log_term = 0;     // term of its last log entry (§5.4)
  raft::cluster_id cluster = 0;  // the sender's cluster
  incarnation_t sender_incarnation = 0;    // the sender's own
  incarnation_t receiver_incarnation = 0;  // the receiver's, as the sender's configuration has it
  using reply = pre_vote_reply;  // what the request is answered with
  friend bool operator==(const pre_vote_args&, const pre_vote_args&) = default;
};
BOOST_DESCRIBE_STRUCT(pre_vote_args, (),
                      (term, candidate, last_log_index, last_log_term, cluster, sender_incarnation,
                       receiver_incarnation))

struct pre_vote_reply {
  term_t term = 0;            // the voter's own term (not the one asked about): a stranded
                              // pre-candidate learns the cluster's term from it
  bool vote_granted = false;  // the voter would vote for the candidate in args.term
  friend bool operator==(const pre_vote_reply&, const pre_vote_reply&) = default;
};
BOOST_DESCRIBE_STRUCT(pre_vote_reply, (), (term, vote_granted))

// Sent by a leader handing its leadership over (thesis §3.10), once the target's log matches its
// own: campaign now, without waiting for the election timer and without a pre-vote.
struct timeout_now_args {
  term_t term = 0;          // the leader's term
  node_id leader = nobody;  // the leader handing over
  raft::cluster_id cluster = 0;  // the sender's cluster
  incarnation_t sender_incarnation = 0;    // the sender's own
  incarnation_t receiver_incarnation = 0;  // the receiver's, as the sender's configuration has it
  using reply = timeout_now_reply;  // what the request is answered with
  friend bool operator==(const timeout_now_args&, const timeout_now_args&) = default;
};
BOOST_DESCRIBE_STRUCT(timeout_now_args, (),
                      (term, leader, cluster, sender_incarnation, receiver_incarnation))

struct timeout_now_reply {
  term_t term = 0;          // the target's term, before it campaigns
  bool accepted = false;    // the target is a member of the leader's term and starts an election
  friend bool operator==(const timeout_now_reply&, const timeout_now_reply&) = default;
};
BOOST_DESCRIBE_STRUCT(timeout_now_reply, (), (term, accepted))

// Sent by a follower or learner serving a linearizable read without the log (thesis §6.4): the
// leader answers with its read index once a heartbeat round of its term has shown it still leads.
struct read_index_args {
  term_t term = 0;              // the sender's term
  node_id reader = nobody;      // the member serving the read
  raft::cluster_id cluster = 0;  // the sender's cluster
  incarnation_t sender_incarnation = 0;    // the sender's own
  incarnation_t receiver_incarnation = 0;  // the receiver's, as the sender's configuration has it
  using reply = read_index_reply;  // what the request is answered with
  friend bool operator==(const read_index_args&, const read_index_args&) = default;
};
BOOST_DESCRIBE_STRUCT(read_index_args, (),
                      (term, reader, cluster, sender_incarnation, receiver_incarnation))

struct read_index_reply {
  term_t term = 0;          // the receiver's term
  bool success = false;     // the receiver leads, and confirmed it after the request arrived
  index_t read_index = 0;   // on success: the reader's state, applied through here, is current
  friend bool operator==(const read_index_reply&, const read_index_reply&) = default;
};
BOOST_DESCRIBE_STRUCT(read_index_reply, (), (term, success, read_index))

}  // namespace coraft::raft
