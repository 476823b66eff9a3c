// coraft/raft/node/roles.hpp — a node's life and its three roles (§5.2).
#pragma once

#include <deque>

#include "coraft/raft/node.hpp"

namespace coraft::raft {

// One peer as the leader sees it: its progress (progress.hpp, pure) and the event that wakes its
// replicator.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
struct node<E, T, S>::peer_replication {
  peer_replication(node_id id, index_t leader_last_index, std::size_t max_in_flight,
                   io::time_point since)
      : peer(id), progress(leader_last_index, max_in_flight), heard_at(since) {}
  node_id peer = nobody;
  peer_progress progress;
  co::event wake;           // new entries, a reply, a step back to probing, or the alarm
  // When the replicator wants waking if nothing else wakes it first (a heartbeat's time, a
  // pause's end); its alarm (replication.hpp) sets `wake` then. `alarm_moved` tells the alarm
  // that the time moved earlier than the one it sleeps until.
  io::time_point wake_at = io::time_point::max();
  io::time_point alarm_set_for = io::time_point::max();
  co::event alarm_moved;
  io::time_point heard_at;  // the last reply of this term (CheckQuorum); when replication to it
                            // began until the first
  co::event progressed;     // set when the match index grows (a transfer awaits it)
  incarnation_t incarnation = 0;  // the peer's, as its replies of this term say; 0 before one
  // No configuration since the commit index names the peer any more: its replicator ends, and
  // the requests still on their way are folded into this record, which nobody reads again.
  bool removed = false;
  // Reads (reads.hpp): the number of the latest request of this term the peer answered
  // (leader_state::requests_sent numbers them) and the latest send time among those it answered
  // (the lease), whether reads await one more heartbeat to it, and whether the one they asked for
  // is on its way.
  std::uint64_t answered_request = 0;
  io::time_point answered_sent_at{};
  bool round_wanted = false;
  bool round_in_flight = false;
  // The highest commit index a request to the peer carried: when the leader's grows past it,
  // the replicator tells the peer (next_request_decision).
  index_t commit_sent = 0;
  peer_traffic* traffic = nullptr;  // what was sent to the peer (metrics); set by replicate()

  // The peer answered request number `number`, sent at `sent_at`, in the leader's term.
  void answered(std::uint64_t number, io::time_point sent_at) {
    answered_request = std::max(answered_request, number);
    answered_sent_at = std::max(answered_sent_at, sent_at);
  }
};

// Everything only a leader has. It lives in lead()'s frame, so no other role can reach it.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
struct node<E, T, S>::leader_state {
  // Every member the configurations since the commit index name (sync_replicators), in the order
  // they were added; a removed one stays, marked, so that the requests in flight to it can finish
  // (a deque: never moved).
  std::deque<peer_replication> peers;
  index_t own_durable_index = 0;        // the leader's own match index: what its disk holds
  co::event own_log_grew;               // new entries for persist_own_log()
  co::scope* replication = nullptr;     // the scope of lead(): every replicator runs in it
  bool leaving = false;                 // removed from the configuration: handing over, then out
  io::time_point since{};               // when this leadership began
  index_t term_start = 0;               // this term's no-op: reads wait until it has committed
  std::uint64_t requests_sent = 0;      // numbers every request to a peer, in the order sent
  bool lease_ended = false;             // TimeoutNow was sent: no lease reads in this term

  // The peer's replication, or null when it is not (or no longer) replicated to.
  peer_replication* find(node_id peer) {
    for (auto& p : peers)
      if (p.peer == peer && !p.removed) return &p;
    return nullptr;
  }
  const peer_replication* find(node_id peer) const {
    return const_cast<leader_state*>(this)->find(peer);
  }
  index_t match_of(node_id self, node_id id) const {
    if (id == self) return own_durable_index;
    const peer_replication* p = find(id);
    return p ? p->progress.match_index() : 0;
  }
  void wake_all() {
    for (auto& p : peers)
      if (!p.removed) p.wake.set();
    own_log_grew.set();
  }
  // Reads await a round of requests sent from now on: each replicator sends a heartbeat, unless
  // one it sent for reads is still on its way (the reads then share the one after it).
  void ask_for_round() {
    for (auto& p : peers) {
      if (p.removed) continue;
      p.round_wanted = true;
      p.wake.set();
    }
  }
};

// Every way out of run() — stopped, refused by its storage, or a broken invariant — goes through
// end_run(), so that no proposal is left waiting and no reader of the apply channel hangs.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::run() {
  stopped_.reset();
  co::scope life(co_await co::current_context());
  life_ = &life;
  std::exception_ptr failure;
  try {
    auto recovered = co_await storage_.load();
    if (!recovered)
      throw std::system_error(recovered.error(), "coraft::raft::node: cannot load its storage");
    current_term_ = recovered->current_term;
    voted_for_ = recovered->voted_for;
    incarnation_ = recovered->incarnation;
    if (incarnation_ == 0) {  // a new data directory (or one lost): its life starts here
      incarnation_ = draw_incarnation();
      term_write_ = storage_.save_incarnation(incarnation_);  // durable before any reply
    }
    snapshot_ = recovered->snapshot;
    snapshot_data_ = std::make_shared<const bytes>(std::move(recovered->snapshot_data));
    log_.reset(snapshot_.last_index, snapshot_.last_term,
               {std::make_move_iterator(recovered->entries.begin()),
                std::make_move_iterator(recovered->entries.end())});
    // What a snapshot covers is committed; the application gets it before any later entry.
    commit_index_ = snapshot_.last_index;
    // What recovery read back counts as durable, as replies after a restart always took it to be
    // (after a process crash, records never synced may come back from the page cache).
    durable_log_index_ = log_.last_index();
    syncing_log_ = false;
    snapshot_undelivered_ = snapshot_.last_index > 0;
    configs_.reset(snapshot_.last_index, snapshot_.config);
    follow_log_configurations(log_.first_index());
    const bool storage_empty = current_term_ == 0 && log_.last_index() == 0 &&
                               configs_.latest().members.empty();
    if (bootstrap_ && storage_empty) {
      // A new cluster: its configuration is stored once, as the snapshot of the empty log, and is
      // never taken from the flags again.
      snapshot_.config = *bootstrap_;
      configs_.reset(0, *bootstrap_);
      (void)storage_.save_snapshot(snapshot_, {});
    } else if (bootstrap_ && !configs_.latest().members.empty()) {
      bootstrap_ignored_ = !same_members(*bootstrap_, configs_.latest());
    }
    configuration_changed();
    announce_role_change();  // the term recovered from storage
    started_at_ = executor_.now();
    election_deadline_ = started_at_ + random_election_timeout();
    life.spawn(serve());
    life.spawn(apply_entries());
    life.spawn(play_roles());
    // A storage with work of its own (file_storage removes the files snapshots made obsolete) does
    // it for the node's life, off the path of its writes.
    if constexpr (requires(S& s) { { s.remove_obsolete_files() } -> std::same_as<co::task<void>>; })
      life.spawn(storage_.remove_obsolete_files());
    co_await life.join();
  } catch (...) {
    failure = std::current_exception();
  }
  end_run();
  if (failure) std::rethrow_exception(failure);
}

// The end of a run, however it ended: every proposal still waiting is settled (shut_down: its
// outcome is unknown, unless the commit index already tells), the apply channel is closed, and
// shutdown() resumes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::end_run() {
  life_ = nullptr;
  role_scope_ = nullptr;
  leading_ = nullptr;
  role_ = role::follower;
  leader_ = nobody;
  settle_proposals(errc::shut_down);
  applied_.close();
  stopped_.set();
  commit_advanced_.set();  // waiters look again, and find the node stopped
  announce_role_change();
}

// Runs each role in its own scope, one after another; ends when the node stops.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::play_roles() {
  co::context ctx = co_await co::current_context();
  while (!ctx.stop.stop_requested()) {
    co::scope role_scope(ctx);
    role_scope_ = &role_scope;
    switch (role_) {
      case role::follower: role_scope.spawn(follow()); break;
      case role::candidate: role_scope.spawn(campaign()); break;
      case role::leader: role_scope.spawn(lead()); break;
    }
    co_await role_scope.join();
    role_scope_ = nullptr;
  }
}

// The one entry point of every role change (also to the same role: a new candidacy, or a follower
// of a new term): cancels the current role's coroutines; play_roles() then starts the next role.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::become(raft::role next) {
  // A leader stepping down keeps its proposals waiting: their entries may still commit, and the
  // commit index will tell (settle_proposals).
  if (role_ == role::leader && next != role::leader) {
    leader_ = nobody;
    leading_ = nullptr;  // the leader's state ends with the role; lead() is being cancelled
    transfer_target_ = nobody;  // a transfer ends with the leadership
    transfer_requested_.reset();
    restart_election_timer();  // a former leader has had no timer running
  }
  role_ = next;
  if (next != role::candidate) campaign_for_transfer_ = false;  // that candidacy is not coming
  if (next != role::follower) leader_ = (next == role::leader) ? id_ : nobody;
  if (next == role::leader) ++counters_.leader_changes;
  if (role_scope_) role_scope_->request_stop();
  announce_role_change();
}

// The rule every coroutine acting for one role in one term applies after each await: while it was
// suspended, the node may have moved to a newer term or another role, and then what it was about
// to do (count a vote, fold in a reply, take the lead) belongs to a past it must not act in. It
// goes on only while both still hold. A handler's reply speaks for a term, whatever the role
// (what it acknowledges is durable either way), so a handler confirms the term alone.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::still_in(raft::role role, term_t term) const noexcept {
  return role_ == role && current_term_ == term;
}
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::still_in(term_t term) const noexcept {
  return current_term_ == term;
}

// A request of the current term from its leader (AppendEntries, InstallSnapshot): a candidate of
// this term has lost the election (§5.2), every role learns who leads, and the election timer
// restarts. A leader cannot hear from another leader of its own term (Election Safety, §5.2).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::heard_from_leader(node_id leader) {
  if (role_ == role::leader) throw std::logic_error("coraft::raft: two leaders in one term");
  if (role_ == role::candidate) become(role::follower);
  heard_from_leader_at_ = executor_.now();
  if (leader_ != leader) {
    leader_ = leader;
    ++counters_.leader_changes;
    announce_role_change();
  }
  restart_election_timer();
}

// Wakes whoever awaits role_change(): a pulse, so that each waiter looks at the status anew and
// the next wait blocks until the next change.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::announce_role_change() noexcept {
  role_changed_.set();
  role_changed_.reset();
  replication_progressed_.set();
  replication_progressed_.reset();
  leader_heard_.set();
  leader_heard_.reset();
}

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<node_status>> node<E, T, S>::role_change(node_status known) {
  for (;;) {
    if (stopped_.is_set()) co_return make_error_code(errc::shut_down);
    const node_status now = status();
    if (now.term != known.term || now.role != known.role || now.leader != known.leader) co_return now;
    if (auto woken = co_await role_changed_.wait(); !woken) co_return woken.error();
  }
}

// Follower: awaits the election deadline racing its restart (news from the leader, a granted
// vote); once it passes, holds a pre-vote (options::pre_vote) and waits again if that is lost.
// Ends by becoming a candidate, or when the role scope is cancelled.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::follow() {
  for (;;) {
    election_timer_restarted_.reset();
    auto woken = co_await co::with_deadline(executor_, election_deadline_,
                                            election_timer_restarted_.wait());
    if (!woken.timed_out()) {
      if (!*woken) co_return;  // cancelled: the role changed
      continue;                // restarted
    }
    if (executor_.now() < election_deadline_) continue;  // restarted as the timer fired
    if (!is_voter_now()) {
      // A learner, a member removed, or one waiting to join: it never campaigns (§4.2.2), and
      // waits for a leader as long as it takes.
      election_deadline_ = executor_.now() + random_election_timeout();
      continue;
    }
    if (options_.pre_vote) {
      const bool won = co_await pre_vote_won();
      if (!won) continue;
    }
    become(role::candidate);
    co_return;
  }
}

namespace detail {
// Sets `to` once `from` is set; ends then, or when cancelled. (The outcome is named, not awaited
// inside the if: g++ 12 compiled `if (co_await from->wait())` here into a coroutine that never
// resumed, stalling every pre-vote.)
inline co::task<void> set_when_set(co::event* from, co::event* to) {
  const co::result<void> woken = co_await from->wait();
  if (woken) to->set();
}
}  // namespace detail

// Pre-candidate (thesis §9.6), a phase of the follower: forgets its leader, asks every peer
// whether it would vote for this node in the next term, and awaits a majority of grants racing a
// new election timeout and the timer's restart (a leader heard from, a vote granted). Nothing
// changes on either side, so a member that cannot win disturbs nobody. Ends true with a majority;
// false when the time ran out (the deadline has passed: the follower tries again at once), the
// timer restarted, or the term or role changed.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<bool> node<E, T, S>::pre_vote_won() {
  ++pre_votes_started_;
  const term_t term = current_term_;
  if (leader_ != nobody) {
    leader_ = nobody;
    announce_role_change();
  }
  election_deadline_ = executor_.now() + random_election_timeout();
  election_timer_restarted_.reset();
  ballot grants{configs_.latest(), {id_}};
  if (grants.won()) co_return true;
  pre_vote_args args{term + 1, id_, log_.last_index(), log_.last_term()};
  co::event decided;  // a majority granted, or the election timer restarted
  co::scope ballots(co_await co::current_context());
  for (node_id peer : other_voters(grants.config, id_))
    ballots.spawn(request_pre_vote(peer, args, &grants, &decided));
  ballots.spawn(detail::set_when_set(&election_timer_restarted_, &decided));
  auto outcome = co_await co::with_deadline(executor_, election_deadline_, decided.wait());
  ballots.request_stop();
  co_await ballots.join();
  if (outcome.timed_out() || !*outcome || election_timer_restarted_.is_set()) co_return false;
  co_return still_in(role::follower, term) && grants.won();
}

// Asks one peer for its pre-vote; counts a grant; ends with the reply or the call. A refusal from
// a newer term means this member is behind: it adopts that term, as a follower.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::request_pre_vote(node_id peer, pre_vote_args args, ballot* grants,
                                               co::event* decided) {
  address(args, peer);
  auto reply = co_await transport_.call(peer, args);
  if (!reply) co_return;
  if (!reply->vote_granted) {
    observe_term(reply->term);
    co_return;
  }
  // A grant's term is at most args.term (the voter may be in it already): nothing to adopt.
  if (!still_in(role::follower, args.term - 1)) co_return;
  grants->granted.push_back(peer);
  if (grants->won()) decided->set();
}

// Whether this member refuses (pre-)votes in newer terms now (rules.hpp, leader_lease_holds).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::withholds_votes() const {
  if (withholds_after_start(options_.lease_reads, executor_.now() - started_at_,
                            options_.election_timeout))
    return true;
  return leader_lease_holds(options_.withhold_votes, role_ == role::leader, leader_ != nobody,
                            executor_.now() - heard_from_leader_at_, options_.election_timeout);
}

// Starts the election timer anew: a random election timeout from now.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::restart_election_timer() {
  election_deadline_ = executor_.now() + random_election_timeout();
  election_timer_restarted_.set();
}

// Candidate: raises the term and votes for itself, awaits that durably, then awaits a majority of
// votes racing the election timer; ends by becoming leader, by starting the next election on
// timeout (start_next_election), or by cancellation (a higher term made it a follower) (§5.2).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::campaign() {
  ++elections_started_;
  const bool for_transfer = std::exchange(campaign_for_transfer_, false);
  raise_term(current_term_ + 1, id_);
  restart_election_timer();
  request_vote_args args{current_term_, id_, log_.last_index(), log_.last_term(), for_transfer};
  // Nobody hears of the term before it is durable (Figure 2). A failing disk holds the candidacy
  // here, in this term, retrying with a growing pause: the node neither raises its term again nor
  // sends one it could forget in a crash, so a member with a sick disk disturbs nobody.
  if (!co_await retry_until_durable(term_write_, random_election_timeout())) co_return;
  if (!still_in(role::candidate, args.term)) co_return;
  restart_election_timer();  // the ballot gets a whole election timeout, however slow the disk was
  // The votes are counted against the configuration the candidacy began with: its log's latest.
  ballot votes{configs_.latest(), {id_}};
  co::event won;
  if (votes.won()) won.set();
  co::scope ballots(co_await co::current_context());
  for (node_id peer : other_voters(votes.config, id_))
    ballots.spawn(request_vote(peer, args, &votes, &won));
  auto first = co_await co::with_deadline(executor_, election_deadline_, won.wait());
  ballots.request_stop();
  co_await ballots.join();
  if (!still_in(role::candidate, args.term)) co_return;
  if (first.timed_out()) start_next_election();
  else if (*first) become(role::leader);
}

// A candidacy that timed out: with PreVote, the node goes back to being a follower whose election
// deadline has passed, so that it holds a pre-vote before it raises its term again (a candidate cut
// off from the others must not come back with a term ahead of theirs); without it, it campaigns
// again at once.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::start_next_election() {
  if (!options_.pre_vote) {
    become(role::candidate);
    return;
  }
  election_deadline_ = executor_.now();
  become(role::follower);
}

// Asks one peer for its vote; counts a grant for this candidacy; ends with the reply or the call.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::request_vote(node_id peer, request_vote_args args, ballot* votes,
                                           co::event* won) {
  address(args, peer);
  auto reply = co_await transport_.call(peer, args);
  if (!reply) co_return;
  if (observe_term(reply->term)) co_return;
  if (!still_in(role::candidate, args.term) || reply->term != args.term || !reply->vote_granted)
    co_return;
  votes->granted.push_back(peer);
  if (votes->won()) won->set();
}

// Leader: appends a no-op of its term (§8), then runs one replicator per peer, a tracker of its
// own disk, CheckQuorum and the hand-over of transfers, all in the role scope; ends when the role
// changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::lead() {
  leader_state leading;
  co::scope replication(co_await co::current_context());
  leading.replication = &replication;
  leading.since = executor_.now();
  leading_ = &leading;
  sync_replicators(leading);  // a replicator for every member
  leading.term_start = append_local(log_entry{current_term_, entry_kind::no_op, {}});
  announce_role_change();  // the role was announced before its state was here (await_leader_state)
  replication.spawn(persist_own_log(&leading));
  if (options_.check_quorum) replication.spawn(check_quorum(&leading));
  replication.spawn(hand_over(&leading));
  try {
    co_await replication.join();
  } catch (...) {
    leading_ = nullptr;
    throw;
  }
  leading_ = nullptr;
}

// CheckQuorum (thesis §6.2): each election timeout, counts the peers that answered a request of
// this term within the last one; steps down when they and the leader are no majority. Ends by
// stepping down, or when the role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::check_quorum(leader_state* leading) {
  const auto window = std::chrono::duration_cast<io::duration>(options_.election_timeout);
  for (;;) {
    if (!co_await executor_.sleep_for(window)) co_return;
    // Strictly after the window's start: a peer not heard from since the term began (heard_at is
    // then the term's start, one window ago at the first check) does not count.
    const io::time_point since = executor_.now() - window;
    auto heard = [&](node_id id) {
      if (id == id_) return true;
      const auto* p = leading->find(id);
      return p && p->heard_at > since;
    };
    if (!has_quorum(configs_.latest(), heard)) {
      become(role::follower);
      co_return;
    }
    bind_incarnations(*leading);  // a member that never answered is not waited for any longer
  }
}

// Leadership transfer (thesis §3.10), as the application sees it: starts the hand-over in the
// leader's scope, then awaits the role changes until the target leads a newer term, the node
// stops, or an election timeout has passed. Ends with the transfer's outcome; if it failed and
// this node still leads, proposals are accepted again.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<void>> node<E, T, S>::transfer_leadership(node_id target) {
  if (stopped_.is_set() || !life_) co_return make_error_code(errc::shut_down);
  if (role_ != role::leader) co_return make_error_code(errc::not_leader);
  if (target == id_) co_return make_error_code(errc::already_leader);
  if (!is_voter(configs_.latest(), target) || !leading_ || !leading_->find(target))
    co_return make_error_code(errc::unknown_member);  // a learner cannot lead
  if (transfer_target_ != nobody) co_return make_error_code(errc::transfer_in_progress);
  const term_t term = current_term_;
  const io::time_point give_up =
      executor_.now() + std::chrono::duration_cast<io::duration>(options_.election_timeout);
  transfer_target_ = target;
  transfer_give_up_ = give_up;
  transfer_requested_.set();  // for hand_over(), in the leader's scope
  co::result<void> outcome = make_error_code(errc::transfer_timed_out);
  for (;;) {
    if (current_term_ > term && leader_ == target) {
      outcome = {};
      break;
    }
    if (stopped_.is_set()) {
      outcome = make_error_code(errc::shut_down);
      break;
    }
    if (executor_.now() >= give_up) break;
    auto woken = co_await co::with_deadline(executor_, give_up, role_changed_.wait());
    if (!woken.timed_out() && !*woken) {
      outcome = (*woken).error();  // cancelled
      break;
    }
  }
  if (still_in(role::leader, term) && transfer_target_ == target) transfer_target_ = nobody;
  co_return outcome;
}

// The leader's side of a transfer: awaits each request from transfer_leadership(), then the
// target's log matching its own, then hands over with TimeoutNow. Ends when the role changes.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::hand_over(leader_state* leading) {
  for (;;) {
    if (!co_await transfer_requested_.wait()) co_return;
    transfer_requested_.reset();
    const node_id target = transfer_target_;
    if (!transfer_running(target, current_term_)) continue;
    if (!co_await log_caught_up(target, leading)) continue;
    leading->lease_ended = true;  // the target is about to be voted for without waiting
    co_await send_timeout_now(target);
  }
}

// Whether the transfer to `target`, started by this leader in `term`, still runs.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::transfer_running(node_id target, term_t term) const noexcept {
  return still_in(role::leader, term) && transfer_target_ == target;
}

// Awaits the target's match index reaching the leader's last index: its replicator sends what it
// lacks, and nothing new is appended meanwhile. Ends true then; false at the transfer's deadline,
// when the transfer ends, or when cancelled.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<bool> node<E, T, S>::log_caught_up(node_id target, leader_state* leading) {
  const term_t term = current_term_;
  auto* found = leading->find(target);
  if (!found) co_return false;
  auto& replica = *found;
  while (replica.progress.match_index() < log_.last_index()) {
    replica.progressed.reset();
    replica.wake.set();
    auto woken = co_await co::with_deadline(executor_, transfer_give_up_, replica.progressed.wait());
    if (woken.timed_out() || !*woken || !transfer_running(target, term) || replica.removed)
      co_return false;
  }
  co_return true;
}

// Sends TimeoutNow, again each heartbeat interval while the call fails, until the transfer's
// deadline; ends once the target answered, or when the transfer ends or is cancelled.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<void> node<E, T, S>::send_timeout_now(node_id target) {
  const term_t term = current_term_;
  const auto retry = std::chrono::duration_cast<io::duration>(options_.heartbeat_interval);
  for (;;) {
    timeout_now_args args{term, id_};
    address(args, target);
    auto reply = co_await transport_.call(target, std::move(args));
    if (reply && observe_term(reply->term)) co_return;
    if (reply || !transfer_running(target, term) || executor_.now() + retry >= transfer_give_up_)
      co_return;
    if (!co_await executor_.sleep_for(retry) || !transfer_running(target, term)) co_return;
  }
}

// Uniform in [T, 2T), from a per-node generator seeded by the options and the id (io/random.hpp).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
io::duration node<E, T, S>::random_election_timeout() {
  auto base = std::chrono::duration_cast<io::duration>(options_.election_timeout);
  return base + election_random_.uniform(io::duration::zero(), base - io::duration(1));
}

}  // namespace coraft::raft
