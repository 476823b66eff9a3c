// coraft/raft/node.hpp — one Raft server (Figure 2), its state transitions written as coroutines.
//
// A node is confined to its executor's thread, so its state needs no lock. Its life (run()) is three
// coroutines in one scope:
//   serve()          pulls RPCs from the transport and handles each in a child coroutine;
//   apply_entries()  delivers committed entries, in order, through the bounded apply channel;
//   play_roles()     runs the current role — follow(), campaign() or lead() — in a *role scope*,
//                    which become() cancels on every role change: the coroutine form of "reset the
//                    election timer, stop the heartbeats".
// The protocol follows Figure 2 of the Raft paper; comments cite its sections.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "coraft/co/channel.hpp"
#include "coraft/co/deadline.hpp"
#include "coraft/co/event.hpp"
#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/backoff.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/random.hpp"
#include "coraft/raft/assert.hpp"
#include "coraft/raft/configuration.hpp"
#include "coraft/raft/log.hpp"
#include "coraft/raft/message_sizes.hpp"
#include "coraft/raft/messages.hpp"
#include "coraft/raft/metrics/node_metrics.hpp"
#include "coraft/raft/options.hpp"
#include "coraft/raft/progress.hpp"
#include "coraft/raft/rules.hpp"
#include "coraft/raft/storage.hpp"
#include "coraft/raft/transport.hpp"

namespace coraft::raft {

// A committed entry, or a snapshot, as the application receives it.
struct applied_entry {
  index_t index = 0;
  term_t term = 0;
  entry_kind kind = entry_kind::command;  // no-ops are delivered too; applications skip them
  shared_bytes payload;      // the command, or the snapshot's contents (shared with the log)
  bool is_snapshot = false;  // the application's whole state as of `index`: replace, don't apply
};

// Where a proposal landed: it is committed at this index in this term.
struct proposal {
  index_t index = 0;
  term_t term = 0;
};

// The non-waiting form of a proposal, like the well-known lab's Start().
struct start_result {
  index_t index = 0;  // where the command was appended; 0 when it was not
  term_t term = 0;
  bool is_leader = false;
  std::error_code error;  // why nothing was appended: not_leader or entry_too_large
};

struct node_status {
  node_id id = nobody;
  term_t term = 0;
  raft::role role = role::follower;
  node_id leader = nobody;  // the leader this node knows of in its term, or nobody
  index_t commit_index = 0;
  index_t last_applied = 0;  // the last entry handed to the apply channel
  index_t first_index = 1;
  index_t last_index = 0;
  std::uint64_t elections_started = 0;  // candidacies this run: each raised the term
  std::uint64_t pre_votes_started = 0;  // pre-votes this run (options::pre_vote), won or not
  node_id transfer_target = nobody;     // while this leader hands its leadership to that member
  configuration config;                 // the latest configuration in the log, in force (§4.1)
  index_t config_index = 0;             // where it was appended (or the snapshot's index)
  bool config_committed = false;        // whether the commit index has reached it
  // The node was given an initial configuration, but its storage held another: the stored one is
  // in force, and the one given was ignored.
  bool bootstrap_ignored = false;
  incarnation_t incarnation = 0;  // this life of the member's data (configuration.hpp)
  // Requests dropped because they were meant for an earlier incarnation of this member: the
  // cluster knows it by data it has lost (a wiped data directory restarted with its old flags).
  // It takes no part until it is removed and added back as a new member.
  std::uint64_t requests_for_lost_incarnation = 0;
  // Requests dropped because their sender is not the incarnation the configuration records.
  std::uint64_t requests_from_lost_incarnation = 0;
};

// How a node comes by its first configuration.
class membership_start {
 public:
  // A member of a new cluster whose configuration is `initial` (voters only, naming the node).
  static membership_start new_cluster(configuration initial) {
    return membership_start(std::move(initial));
  }
  // A member added to a running cluster: it starts empty, without a configuration, and waits.
  static membership_start join() { return membership_start(std::nullopt); }
  std::optional<configuration> bootstrap;

 private:
  explicit membership_start(std::optional<configuration> c) : bootstrap(std::move(c)) {}
};

// An initial configuration of voters, for a new cluster: `self` and `peers`, without addresses,
// and a cluster id drawn from the member ids (so that every member given the same list agrees).
inline configuration initial_configuration(node_id self, const std::vector<node_id>& peers) {
  configuration c;
  std::vector<node_id> ids = peers;
  ids.push_back(self);
  std::sort(ids.begin(), ids.end());
  cluster_id hash = 0xcbf29ce484222325ULL;
  for (node_id id : ids) {
    c.members.push_back(member{id, member_role::voter, {}, {}});
    hash = (hash ^ id) * 0x100000001b3ULL;
  }
  c.cluster = hash | 1;  // never 0, which means "no cluster yet"
  return c;
}

template <class Executor, transport Transport, storage Storage>
  requires io::scheduling<Executor> && io::timers<Executor>
class node {
 public:
  // A member of a cluster, started as `start` says (membership_start): a new cluster's member
  // stores the initial configuration on an empty storage, once; a joining member waits to be
  // added, and learns its configuration from the leader that contacts it. Either way, a storage
  // that holds a configuration wins (status().bootstrap_ignored says when it differed).
  node(Executor& executor, Transport& transport, Storage& storage, node_id id,
       membership_start start, options opts = {})
      : executor_(executor), transport_(transport), storage_(storage), id_(id),
        bootstrap_(std::move(start.bootstrap)), options_(validated(opts)),
        applied_(options_.apply_capacity),
        election_random_(opts.random_seed ^ (0xa0761d6478bd642fULL * (id + 1))) {
    if (id == nobody) throw std::invalid_argument("coraft::raft::node: id 0 is reserved");
    if (bootstrap_) {
      if (!is_voter(*bootstrap_, id) || is_joint(*bootstrap_))
        throw std::invalid_argument(
            "coraft::raft::node: the initial configuration must name the node as a voter");
      if (bootstrap_->cluster == 0)
        throw std::invalid_argument("coraft::raft::node: the initial configuration needs a cluster id");
    }
    check_message_sizes(options_, transport_.max_message_bytes());
  }
  // A member of a new cluster of voters: this node and `peers` (initial_configuration).
  node(Executor& executor, Transport& transport, Storage& storage, node_id id,
       const std::vector<node_id>& peers, options opts = {})
      : node(executor, transport, storage, id,
             membership_start::new_cluster(checked_initial_configuration(id, peers)), opts) {}
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // The node's life: recovers from storage, then serves, applies and plays roles until cancelled
  // (by the scope that runs it) or shut down. Ends once every coroutine of the node has ended.
  co::task<void> run();

  // Stop the node and resume once run() has ended.
  co::task<void> shutdown() {
    if (life_) life_->request_stop();
    (void)co_await stopped_.wait();
  }

  // Propose a command; resumes once its outcome is known. Three outcomes (see proposal_outcome):
  //  * committed: the proposal says where;
  //  * not committed, and never will be: not_leader (nothing was appended), entry_overwritten
  //    (another entry committed at its index);
  //  * unknown, the caller must treat it as maybe: shut_down, leadership_lost, or cancelled().
  // A leader that steps down keeps the proposal waiting: as a follower it learns the outcome when
  // its commit index reaches the entry's index.
  // The command's bytes are shared, not copied, from here on: a vector passed by value is taken
  // over, and one passed as an lvalue is copied once (a small one without an allocation of its own,
  // see shared_bytes).
  co::task<co::result<proposal>> propose(shared_bytes command);

  // Append a command if this node leads, without waiting for the outcome. A command larger than
  // max_entry_bytes is refused whatever the role: it could never be sent to a follower.
  start_result start(bytes command) {
    const bool leads = role_ == role::leader;
    if (command.size() > options_.max_entry_bytes)
      return {0, current_term_, leads, make_error_code(errc::entry_too_large)};
    if (!leads) return {0, current_term_, false, make_error_code(errc::not_leader)};
    if (transfer_target_ != nobody)
      return {0, current_term_, true, make_error_code(errc::transferring_leadership)};
    index_t index = append_local(log_entry{current_term_, entry_kind::command, std::move(command)});
    return {index, current_term_, true, {}};
  }

  node_status status() const {
    return {id_, current_term_, role_, leader_, commit_index_, last_applied_, log_.first_index(),
            log_.last_index(), elections_started_, pre_votes_started_, transfer_target_,
            configs_.latest(), configs_.latest_index(), configs_.latest_index() <= commit_index_,
            bootstrap_ignored_, incarnation_, requests_for_lost_incarnation_,
            requests_from_lost_incarnation_};
  }

  // The node's metrics (metrics/node_metrics.hpp), as one consistent copy; on the node's thread
  // (request_metrics() asks for it from another). Costs a walk over the log in memory.
  node_metrics metrics() const;

  // Membership changes (§6; node/membership.hpp). Each is refused unless this node leads, and
  // unless the latest configuration in its log is committed and not joint (change_in_progress). A
  // change of voters goes through the joint configuration C_old,new, which the leader leaves by
  // itself once it commits; a change of learners or addresses alone goes at once. Each resumes
  // with the configuration in force once the final one has committed, or with an error: not_leader,
  // change_in_progress, transferring_leadership, unknown_member, no_voter_left, learner_behind (a
  // new voter must be a learner of the latest configuration within
  // options::learner_catch_up_entries of the leader's log), bad_member, or — its outcome unknown —
  // leadership_lost, shut_down, cancelled(); entry_overwritten if the change never took effect.
  //
  // Any change: the new configuration's members (its cluster id stays).
  co::task<co::result<configuration>> change_membership(std::vector<member> next);
  // Adds `m` as a learner, awaits its log coming within the catch-up distance of the leader's, then
  // makes it a voter (if m.role asks for one): so that adding a member never costs availability.
  // learner_behind when the learner made no progress for an election timeout (it stays a learner).
  co::task<co::result<configuration>> add_member(member m);
  // Removes a member (a voter or a learner); a leader that removes itself leads until the change
  // commits, then hands its leadership to a member of the new configuration and steps down.
  co::task<co::result<configuration>> remove_member(node_id id);

  // Leadership transfer (thesis §3.10): this leader stops appending proposals (they fail with
  // transferring_leadership), brings `target`'s log up to its own, and sends it TimeoutNow; the
  // target campaigns at once, without a pre-vote, and voters do not withhold their votes from it.
  // Resumes with ok once the target leads, or with an error: not_leader, already_leader (the
  // target is this node), unknown_member, transfer_in_progress, transfer_timed_out (the target did
  // not lead within an election timeout: proposals are accepted again, if this node still leads),
  // shut_down, or cancelled().
  co::task<co::result<void>> transfer_leadership(node_id target);

  // A linearizable read without the log (thesis §6.4; node/reads.hpp). Resumes with an index R:
  // once the application has applied the log through R, its state reflects every write that
  // completed before this call began, and it may answer the read from there. On the leader, R is
  // its commit index, taken once an entry of its own term has committed, and handed out once a
  // majority (of each half of a joint configuration) has answered a heartbeat sent after the call
  // began; every read waiting meanwhile shares that round. On a follower or a learner, R is the
  // leader's, asked for with one request. With options::lease_reads, a leader whose lease holds
  // hands out its commit index at once (see the option for what that assumes). Errors: not_leader (no leader known, or the one asked
  // does not lead), leadership_lost (this leader stopped leading, or no majority answered within
  // an election timeout), the transport's error (the leader unreachable), shut_down, cancelled().
  co::task<co::result<index_t>> read_index();

  // Resumes once the node's term, role or leader differs from `known` (at once if it already
  // does), with the status at that moment; with shut_down once the node has stopped, or
  // cancelled(). An application follows leadership by awaiting it in a loop, passing the status
  // it last saw: a change that still holds when the waiter runs is never missed, however quickly
  // several follow each other (one undone at once, as a candidacy ended by the same leader's next
  // message, may go unseen).
  co::task<co::result<node_status>> role_change(node_status known);

  // Every invariant of one node's state (the comments beside the members below state them),
  // checked together: the simulator calls it after every step. A broken one throws
  // std::logic_error where CORAFT_ASSERT is on (assert.hpp), and is not looked at elsewhere.
  void check_invariants() const;

  // Log compaction (§7): the application's state as of `through` (an index it has applied)
  // replaces the log up to there, in memory at once and on disk with the next sync.
  void snapshot(index_t through, bytes state) {
    if (through <= log_.base_index()) return;  // already covered
    if (through > last_applied_)
      throw std::invalid_argument("coraft::raft::node::snapshot: index not applied yet");
    snapshot_ = snapshot_meta{through, log_.term_at(through), configs_.at(through)};
    snapshot_data_ = std::make_shared<const bytes>(std::move(state));
    log_.compact(through);
    configs_.compacted(through);
    (void)storage_.save_snapshot(snapshot_, *snapshot_data_);
  }

  // Committed entries, in log order, each exactly once per run of the node. The application must
  // keep receiving: when the channel is full, the node stops applying (but not replicating).
  co::channel<applied_entry>& applied() noexcept { return applied_; }

  // What this leader knows of member `id`'s log: the highest index known replicated there (for
  // itself, what its disk holds); 0 for any member when this node does not lead.
  index_t match_index(node_id id) const { return leading_ ? leading_->match_of(id_, id) : 0; }

  // Read-only views for tests and tools.
  const log_window& log() const noexcept { return log_; }
  node_id id() const noexcept { return id_; }
  // Every other member of the latest configuration, learners included.
  std::vector<node_id> peers() const { return others(configs_.latest(), id_); }
  const configuration_log& configurations() const noexcept { return configs_; }

 private:
  struct pending_proposal;
  struct peer_replication;
  struct leader_state;

  // Roles.
  co::task<void> play_roles();
  co::task<void> follow();
  co::task<void> campaign();
  void start_next_election();
  co::task<void> lead();
  void become(raft::role next);
  bool still_in(raft::role role, term_t term) const noexcept;
  bool still_in(term_t term) const noexcept;
  void heard_from_leader(node_id leader);
  void announce_role_change() noexcept;

  // Elections.
  co::task<void> request_vote(node_id peer, request_vote_args args, ballot* votes, co::event* won);
  co::task<bool> pre_vote_won();
  co::task<void> request_pre_vote(node_id peer, pre_vote_args args, ballot* grants,
                                  co::event* decided);
  bool withholds_votes() const;

  // Leadership (leader side): CheckQuorum and the hand-over of a transfer.
  co::task<void> check_quorum(leader_state* leading);
  co::task<void> hand_over(leader_state* leading);
  bool transfer_running(node_id target, term_t term) const noexcept;
  co::task<bool> log_caught_up(node_id target, leader_state* leading);
  co::task<void> send_timeout_now(node_id target);

  // Replication (leader side).
  co::task<void> replicate(peer_replication* replica, leader_state* leading);
  co::task<void> wake_replicator_in_time(peer_replication* replica);
  void learn_incarnation(peer_replication& replica, incarnation_t incarnation, leader_state& leading);
  void bind_incarnations(leader_state& leading);
  co::task<void> send_append(peer_replication* replica, append_entries_args args,
                             bool from_next_index, leader_state* leading, bool for_round = false);
  void heard_in_term(peer_replication& replica, std::uint64_t number, io::time_point sent_at,
                     incarnation_t incarnation, leader_state& leading);
  co::task<void> persist_own_log(leader_state* leading);
  co::task<void> send_snapshot(peer_replication* replica, leader_state* leading);
  append_entries_args next_append(index_t from, bool with_entries) const;
  void advance_commit_index(const leader_state& leading);
  void sync_replicators(leader_state& leading);
  void after_commit_as_leader(leader_state& leading);
  co::task<void> leave_cluster(leader_state* leading);

  // Membership (every role).
  void configuration_changed();
  bool follow_log_configurations(index_t from);
  co::task<co::result<proposal>> propose_entry(log_entry entry);
  std::error_code admit(log_entry entry, pending_proposal& pending);
  co::result<proposal> outcome(pending_proposal& pending, co::result<void> waited);
  void enlist_proposal(pending_proposal& pending) noexcept;
  void delist_proposal(pending_proposal& pending) noexcept;
  co::task<co::result<void>> await_leader_state();
  co::task<co::result<void>> await_incarnation_record();
  co::task<co::result<void>> await_final_configuration(index_t joint_index);
  co::task<co::result<void>> await_caught_up(node_id learner);

  // Reads without the log (every role).
  co::task<co::result<index_t>> leader_read_index();
  co::task<co::result<index_t>> ask_leader_read_index();
  bool leadership_confirmed(const leader_state& leading, std::uint64_t after) const;
  bool lease_holds(const leader_state& leading) const;
  std::error_code refusal_error(change_refusal why) const;
  static configuration checked_initial_configuration(node_id id, const std::vector<node_id>& peers) {
    if (std::find(peers.begin(), peers.end(), id) != peers.end())
      throw std::invalid_argument("coraft::raft::node: the peer list must not contain the node");
    return initial_configuration(id, peers);
  }

  // RPC handling (every role).
  co::task<void> serve();
  co::task<void> handle(inbound_rpc rpc);
  bool belongs_to_cluster(const rpc_request& request) const;
  bool from_and_for_known_incarnations(const rpc_request& request);
  // Stamps a request for `to` with this member's cluster and incarnation, and `to`'s incarnation as
  // the latest configuration records it.
  template <class Args>
  void address(Args& args, node_id to) const {
    args.cluster = cluster_;
    args.sender_incarnation = incarnation_;
    const member* m = find_member(configs_.latest(), to);
    args.receiver_incarnation = m ? m->incarnation : 0;
  }
  // Each yields the reply, or nothing when what it must make durable first could not be: the
  // node then stays silent, as if the request had been lost.
  co::task<std::optional<request_vote_reply>> on_request_vote(request_vote_args args);
  co::task<std::optional<append_entries_reply>> on_append_entries(append_entries_args args);
  co::task<std::optional<install_snapshot_reply>> on_install_snapshot(install_snapshot_args args);
  co::task<std::optional<pre_vote_reply>> on_pre_vote(pre_vote_args args);
  co::task<std::optional<timeout_now_reply>> on_timeout_now(timeout_now_args args);
  co::task<std::optional<read_index_reply>> on_read_index(read_index_args args);

  // State changes that must reach storage.
  bool observe_term(term_t term);
  void raise_term(term_t term, node_id vote);
  void persist_vote(node_id candidate);
  co::task<bool> retry_until_durable(write_id w, io::duration first_pause);
  index_t append_local(log_entry entry);
  void set_commit_index(index_t index);

  // Applying and answering proposals.
  co::task<void> apply_entries();
  void settle_proposals(std::error_code if_not_committed);
  void end_run();

  io::duration random_election_timeout();
  // A new incarnation: the seeded generator's next draw mixed with the executor's clock, so that
  // two lives of one member differ even when their options (and so their seeds) are the same.
  incarnation_t draw_incarnation() {
    const auto now = static_cast<std::uint64_t>(executor_.now().time_since_epoch().count());
    io::seeded_random mixed(election_random_.next() ^ now);
    incarnation_t drawn = 0;
    while (drawn == 0) drawn = mixed.next();
    return drawn;
  }
  void restart_election_timer();
  bool is_voter_now() const noexcept { return is_voter(configs_.latest(), id_); }

  Executor& executor_;
  Transport& transport_;
  Storage& storage_;
  const node_id id_;
  const std::optional<configuration> bootstrap_;  // a new cluster's configuration, if given
  const options options_;

  // Persistent state (Figure 2). Changed only together with a storage write issued at once, and
  // relied upon (a vote granted, entries acknowledged) only once that write is durable.
  term_t current_term_ = 0;       // only grows; raised by observe_term() and campaign() alone
  node_id voted_for_ = nobody;    // the candidate voted for in current_term_
  log_window log_;
  write_id term_write_ = 0;       // the write that carries current_term_ and voted_for_: no reply
                                  // leaves before it is durable
  incarnation_t incarnation_ = 0;  // this life of the storage's data (configuration.hpp); set by
                                   // run() from the storage, or drawn and stored on a new one

  // The configurations in the log, the latest in force from the moment it is appended (§4.1): who
  // votes, who counts toward a majority, whom a leader replicates to. Changes with the log only.
  configuration_log configs_;
  // The cluster this member belongs to: the latest configuration's, or, for a member waiting to
  // join, the one of the first leader that contacted it; 0 until then. Requests of another
  // cluster are dropped.
  cluster_id cluster_ = 0;
  bool bootstrap_ignored_ = false;

  // Volatile state.
  index_t commit_index_ = 0;  // highest entry known committed; only grows
  index_t last_applied_ = 0;  // highest entry handed to the application; <= commit_index_
  raft::role role_ = role::follower;
  node_id leader_ = nobody;   // the leader of current_term_, once heard from
  io::time_point heard_from_leader_at_{};  // when leader_ was last heard from (vote withholding)
  io::time_point started_at_{};            // when run() began (vote withholding, lease_reads)
  // The log is durable through here, as far as this member knows (a follower's replies to requests
  // that write nothing claim no more of their match). Lowered to nothing whenever the log is cut
  // or replaced (rewrite_log_tail), raised when a sync of appended entries completes with the log
  // not rewritten meanwhile (log_rewrites_ counts the rewrites).
  index_t durable_log_index_ = 0;
  std::uint64_t log_rewrites_ = 0;
  bool syncing_log_ = false;  // make_log_durable() runs
  void make_log_durable();
  void rewrite_log_tail() noexcept {
    durable_log_index_ = 0;
    ++log_rewrites_;
  }
  // The member this leader hands its leadership to, while transfer_leadership() runs; nobody
  // otherwise. Cleared when the role or the term changes.
  node_id transfer_target_ = nobody;
  io::time_point transfer_give_up_{};  // when that transfer fails
  co::event transfer_requested_;       // wakes the leader's hand_over()
  // The candidacy about to start was asked for by TimeoutNow; cleared by any other role change, so
  // that it never outlives that one candidacy.
  bool campaign_for_transfer_ = false;
  std::uint64_t elections_started_ = 0;
  std::uint64_t pre_votes_started_ = 0;
  std::uint64_t requests_for_lost_incarnation_ = 0;   // dropped: meant for an earlier life of ours
  std::uint64_t requests_from_lost_incarnation_ = 0;  // dropped: the sender is not who it was
  node_counters counters_;  // the rest of what metrics() reports (metrics/node_metrics.hpp)
  // The entry whose way from the leader's append to its commit is being timed (commit_latency):
  // one at a time, so that timing costs nothing per entry; the next entry appended once it has
  // committed is timed next. index 0: none.
  struct timed_entry {
    index_t index = 0;
    term_t term = 0;
    io::time_point appended_at{};
  };
  timed_entry timed_entry_;
  void time_commit();

  // The election timer (§5.2, Figure 2): when a follower becomes a candidate, and when a candidacy
  // times out. Restarted only by AppendEntries or InstallSnapshot from the leader of the current
  // term, by granting a vote, by starting a candidacy, and by a leader stepping down: a higher term
  // alone (a RequestVote rejected) leaves it running, so that a candidate whose log is behind
  // cannot keep the members that could win from ever timing out.
  io::time_point election_deadline_{};
  co::event election_timer_restarted_;  // wakes a follower to wait for the new deadline
  co::event role_changed_;       // pulsed when the term, the role or the leader changes
  co::event commit_advanced_;    // set whenever commit_index_ grows, and when run() ends
  // Pulsed when a peer's match index grows, when the role changes, and when run() ends.
  co::event replication_progressed_;
  // Pulsed when a peer answers a request of the leader's term, when the role changes, and when
  // run() ends (reads.hpp).
  co::event leader_heard_;
  co::event stopped_;            // set when run() has ended
  co::channel<applied_entry> applied_;
  co::scope* life_ = nullptr;        // the scope of run(), while it runs
  co::scope* role_scope_ = nullptr;  // the scope of the current role, while it runs
  leader_state* leading_ = nullptr;  // the leader's state, only while leading
  // Proposals awaiting their outcome, by index. One index can have several: a leader that stepped
  // down keeps its proposals, and may lead again and append another entry at the same index.
  // The proposals waiting for their entries, oldest index first: a list through their frames.
  pending_proposal* first_proposal_ = nullptr;
  pending_proposal* last_proposal_ = nullptr;

  // The latest snapshot (§7): it covers the log up to log_.base_index(). Shared, so that a leader
  // streaming it to a follower keeps it alive while a newer one replaces it.
  snapshot_meta snapshot_;
  std::shared_ptr<const bytes> snapshot_data_ = std::make_shared<const bytes>();
  bool snapshot_undelivered_ = false;  // installed or loaded, not yet handed to the application
  snapshot_meta incoming_snapshot_;    // the snapshot a leader is streaming to this follower
  bytes incoming_data_;                // its chunks so far
  io::seeded_random election_random_;  // draws the election timeouts; seeded by options and id

  // What check_invariants() saw last, to tell that the term and the commit index never go back.
  struct watched_state {
    term_t term = 0;
    index_t commit_index = 0;
  };
  mutable watched_state watched_;
};

}  // namespace coraft::raft

// The member functions, one subject per header.
#include "coraft/raft/node/roles.hpp"
#include "coraft/raft/node/replication.hpp"
#include "coraft/raft/node/proposals.hpp"
#include "coraft/raft/node/apply.hpp"
#include "coraft/raft/node/handlers.hpp"
#include "coraft/raft/node/membership.hpp"
#include "coraft/raft/node/reads.hpp"
#include "coraft/raft/node/invariants.hpp"
#include "coraft/raft/node/metrics.hpp"
