// coraft/raft/options.hpp — the knobs of a node, with defaults suited to a LAN.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "coraft/raft/option_checks.hpp"
#include "coraft/raft/rules.hpp"

namespace coraft::raft {

using namespace std::chrono_literals;

struct options {
  // T: each election timeout is drawn uniformly from [T, 2T), so that split votes break (§5.2).
  std::chrono::nanoseconds election_timeout = 150ms;
  // H: the leader's heartbeat interval; at most T / 2, so that a follower hears at least one
  // heartbeat before its timer fires even when one is late.
  std::chrono::nanoseconds heartbeat_interval = 50ms;
  // The largest command payload propose() and start() accept; larger ones fail with
  // errc::entry_too_large. An entry must fit in one AppendEntries, which must fit in one message of
  // the transport: the node's constructor checks both (message_sizes.hpp).
  std::size_t max_entry_bytes = 1 << 20;
  // Bounds on one AppendEntries request: its entries, and its size as encoded on the wire. The
  // default leaves room for the fields of the request and of one entry of max_entry_bytes.
  std::size_t max_entries_per_append = 1024;
  std::size_t max_bytes_per_append = (1 << 20) + 4096;
  // AppendEntries requests in flight per peer while it keeps up (pipelining); 1 while probing.
  std::size_t max_appends_in_flight = 8;
  // Snapshots are sent to lagging followers in chunks of at most this many bytes (§7); a chunk
  // with its request's fields must fit in one message of the transport.
  std::size_t snapshot_chunk_bytes = 256 * 1024;
  // A write the node must await (its term and vote, its own log) that fails — EIO, ENOSPC — is
  // retried, not given up: after a pause that doubles from one heartbeat interval (a candidate: one
  // election timeout) up to this bound while the disk keeps failing.
  std::chrono::nanoseconds max_storage_retry_interval = 1s;
  // A leader whose own log writes have failed for this long steps down: it cannot count itself, and
  // a member with a working disk should lead instead.
  std::chrono::nanoseconds leader_storage_failure_limit = 300ms;
  // PreVote (thesis §9.6): a follower whose election timer fires first asks whether a majority
  // would vote for it, and raises its term only if so. A member that was paused or cut off, or
  // whose log is behind, then rejoins without deposing the leader. Costs one round trip before
  // each real election. In a rolling upgrade from a version without it, turn it on only once a
  // majority runs a version that answers pre-votes.
  bool pre_vote = true;
  // Vote withholding (thesis §4.2.3): a member that heard from its leader within the minimum
  // election timeout refuses (pre-)votes in newer terms, and a leader refuses them while it leads.
  // Only safe with check_quorum: a leader that reaches one follower but not a majority would
  // otherwise keep that follower's vote from everyone, forever.
  bool withhold_votes = true;
  // CheckQuorum (thesis §6.2): a leader that has heard no reply from a majority within an election
  // timeout steps down, so that clients of a leader cut off from its majority learn it at once.
  // Costs nothing on the wire: the replies to heartbeats are the evidence.
  bool check_quorum = true;
  // Lease reads (thesis §6.4.1): a leader answers read_index() from its commit index without a
  // round trip while a majority has answered requests it sent within the lease, which lasts
  // election_timeout / (1 + lease_clock_drift) from each request's send time. This trades
  // linearizability's independence from clocks for a read without network latency: it is only as
  // safe as these assumptions, checked nowhere.
  //  * A member's clock runs at most lease_clock_drift faster than any leader's, measured over an
  //    election timeout. The node measures time on its executor's clock, CLOCK_MONOTONIC on
  //    io_uring: NTP slews it by at most 0.05 %, and it never jumps.
  //  * CLOCK_MONOTONIC keeps running through a SIGSTOP, a debugger's break or a long GC-like
  //    pause of the process: a leader paused past its lease sees the time passed when it resumes
  //    and falls back to a round trip. It does not run while the whole machine is suspended
  //    (a laptop's sleep; a VM paused by its host, and whose guest clock is not corrected on
  //    resume): a leader in such a VM resumes believing its lease still holds while the others may
  //    have elected a successor. Leave lease_reads off where virtual machines are paused or
  //    live-migrated.
  //  * Every voter runs with lease_reads on and the same election_timeout: the lease rests on the
  //    others withholding their votes (withhold_votes, and so check_quorum, are required) for an
  //    election timeout after they last heard the leader, and, having restarted, for one after
  //    they started.
  // The lease ends when the leader sends TimeoutNow (a transfer's target is voted for at once):
  // reads fall back to a round trip for the rest of that term.
  bool lease_reads = false;
  double lease_clock_drift = 0.1;
  // Committed entries buffered for the application before the node waits for it to catch up.
  std::size_t apply_capacity = 1024;
  // A learner becomes a voter (node::add_member, change_membership) only once its log is within
  // this many entries of the leader's: a voter far behind would hold back every commit it is needed
  // for. Smaller waits longer before promoting; larger risks a pause in commits right after.
  std::size_t learner_catch_up_entries = 64;
  // Seeds the election-timeout randomness (mixed with the node id): fixed seeds replay runs.
  std::uint64_t random_seed = 0x9e3779b97f4a7c15ULL;
};

// Throws std::invalid_argument, naming the option and the rule, unless every option has a value a
// node can run with. The node's constructor calls it, then checks the sizes against its
// transport's largest message (check_message_sizes in message_sizes.hpp).
inline void validate(const options& o) {
  using namespace option_checks;
  constexpr const char* owner = "coraft::raft::options";
  require_duration(owner, "election_timeout", o.election_timeout);
  require_duration(owner, "heartbeat_interval", o.heartbeat_interval);
  if (o.heartbeat_interval * 2 > o.election_timeout)
    refuse(owner, "heartbeat_interval", to_text(o.heartbeat_interval),
           "must be at most half of election_timeout (" + to_text(o.election_timeout) +
               "): a follower would start elections while the leader is alive");
  require_at_least(owner, "max_entry_bytes", o.max_entry_bytes, 1);
  require_at_least(owner, "max_entries_per_append", o.max_entries_per_append, 1,
                   "no request could carry an entry");
  require_at_least(owner, "max_bytes_per_append", o.max_bytes_per_append, 1);
  require_at_least(owner, "max_appends_in_flight", o.max_appends_in_flight, 1,
                   "nothing would be replicated");
  require_at_least(owner, "snapshot_chunk_bytes", o.snapshot_chunk_bytes, 1,
                   "no snapshot could be sent");
  require_duration(owner, "max_storage_retry_interval", o.max_storage_retry_interval);
  require_duration(owner, "leader_storage_failure_limit", o.leader_storage_failure_limit);
  require_at_least(owner, "apply_capacity", o.apply_capacity, 1, "nothing would be applied");
  require_at_least(owner, "learner_catch_up_entries", o.learner_catch_up_entries, 1,
                   "a learner would never be promoted while the leader's log grows");
  check_lease_options(o.lease_reads, o.withhold_votes, o.check_quorum, o.lease_clock_drift,
                      o.election_timeout, o.heartbeat_interval);
}

// `o`, once validate(o) has passed: for constructors that check their options first.
inline const options& validated(const options& o) {
  validate(o);
  return o;
}

}  // namespace coraft::raft
