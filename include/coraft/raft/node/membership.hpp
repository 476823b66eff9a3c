// coraft/raft/node/membership.hpp — changing who the cluster is (§6, thesis chapter 4): the
// configurations in the log, and the changes a leader makes to them.
//
// A configuration is in force on a member from the moment its entry is in that member's log
// (configuration_log, configuration.hpp). A change of voters goes C_old → C_old,new → C_new: the
// leader appends the joint configuration, and once it commits appends C_new by itself
// (after_commit_as_leader, replication.hpp) — so does any leader that finds a committed joint
// configuration at the end of its log, which finishes a change its predecessor began.
#pragma once

#include "coraft/raft/node.hpp"
#include "coraft/raft/node/proposals.hpp"
#include "coraft/raft/node/roles.hpp"
#include "coraft/wire/decode.hpp"
#include "coraft/wire/encode.hpp"

namespace coraft::raft {

// Reads the configuration entries of the log from `from` to its end into configs_. Returns
// whether there was one.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
bool node<E, T, S>::follow_log_configurations(index_t from) {
  bool found = false;
  for (index_t i = std::max(from, log_.first_index()); i <= log_.last_index(); ++i) {
    const log_entry& entry = log_.at(i);
    if (entry.kind != entry_kind::configuration) continue;
    auto config = wire::decode<configuration>(entry.payload);
    if (!config)
      throw std::logic_error("coraft::raft: a configuration entry that does not decode, at index " +
                             std::to_string(i));
    configs_.appended(i, std::move(*config));
    found = true;
  }
  return found;
}

// The latest configuration changed (appended, cut, installed, loaded): the cluster id follows it,
// the transport learns the members' addresses, and a leader replicates to the members it names.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
void node<E, T, S>::configuration_changed() {
  const configuration& latest = configs_.latest();
  if (latest.cluster != 0) cluster_ = latest.cluster;
  if constexpr (requires(T& t, const configuration& c) { t.configure(c); }) {
    transport_.configure(latest);
  }
  if (leading_) sync_replicators(*leading_);
}

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
std::error_code node<E, T, S>::refusal_error(change_refusal why) const {
  switch (why) {
    case change_refusal::none: return {};
    case change_refusal::in_progress: return make_error_code(errc::change_in_progress);
    case change_refusal::no_voter_left: return make_error_code(errc::no_voter_left);
    case change_refusal::learner_behind: return make_error_code(errc::learner_behind);
    case change_refusal::unknown_member: return make_error_code(errc::unknown_member);
    case change_refusal::duplicate_member: return make_error_code(errc::bad_member);
  }
  return make_error_code(errc::bad_member);
}

// Validates the change against the latest configuration in the log (membership_change_decision),
// appends it — joint when it changes the voters — and awaits the final configuration's commit.
// Ends with the configuration in force then, or with the refusal or the outcome (node.hpp).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<configuration>> node<E, T, S>::change_membership(std::vector<member> next) {
  if (stopped_.is_set() || !life_) co_return make_error_code(errc::shut_down);
  if (auto ready = co_await await_leader_state(); !ready) co_return ready.error();
  if (auto recorded = co_await await_incarnation_record(); !recorded) co_return recorded.error();
  if (transfer_target_ != nobody) co_return make_error_code(errc::transferring_leadership);
  const configuration latest = configs_.latest();
  const bool committed = configs_.latest_index() <= commit_index_;
  // Incarnations are the node's to record (bind_incarnations), never the caller's to change.
  for (member& m : next) {
    const member* known = find_member(latest.members, m.id);
    m.incarnation = known ? known->incarnation : 0;
  }
  const change_refusal why = membership_change_decision(
      latest, committed, next, catch_up_view{log_.last_index(), options_.learner_catch_up_entries},
      [&](node_id id) { return leading_->match_of(id_, id); });
  if (why != change_refusal::none) co_return refusal_error(why);
  if (next == latest.members) co_return latest;  // nothing to change
  const bool joint = changes_voters(latest.members, next);
  configuration change{cluster_, std::move(next), joint ? latest.members : std::vector<member>{}};
  bytes encoded = wire::encode(change);
  if (encoded.size() > max_configuration_bytes || encoded.size() > options_.max_entry_bytes)
    co_return make_error_code(errc::entry_too_large);
  log_entry entry{current_term_, entry_kind::configuration, std::move(encoded)};  // named: apply.hpp
  auto appended = co_await propose_entry(std::move(entry));
  if (!appended) co_return appended.error();
  if (joint) {
    if (auto left = co_await await_final_configuration(appended->index); !left) co_return left.error();
  }
  co_return configs_.at(commit_index_);
}

// A leader's state (replicators, match indexes) is set up by lead(), which the role loop starts
// just after the role changes to leader: a caller that learnt of the role in between awaits it
// (lead() announces it). Ends once it is there; with not_leader if this node does not lead (or
// stops leading meanwhile), shut_down, or cancelled().
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<void>> node<E, T, S>::await_leader_state() {
  const term_t term = current_term_;
  while (still_in(role::leader, term) && !leading_ && !stopped_.is_set())
    if (auto woken = co_await role_changed_.wait(); !woken) co_return woken.error();
  if (stopped_.is_set()) co_return make_error_code(errc::shut_down);
  if (!still_in(role::leader, term) || !leading_) co_return make_error_code(errc::not_leader);
  co_return co::result<void>{};
}

// While the latest configuration is the leader's own record of incarnations (bind_incarnations)
// and not committed yet, awaits its commit: a caller's change is not refused for the node's
// bookkeeping. Looks again each heartbeat interval. Ends once no such record is pending; with
// not_leader if this node stops leading meanwhile, shut_down, or cancelled().
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<void>> node<E, T, S>::await_incarnation_record() {
  const term_t term = current_term_;
  const auto interval = std::chrono::duration_cast<io::duration>(options_.heartbeat_interval);
  while (configs_.latest_index() > commit_index_ &&
         records_incarnations(configs_.before_latest(), configs_.latest())) {
    if (stopped_.is_set()) co_return make_error_code(errc::shut_down);
    if (!still_in(role::leader, term) || !leading_) co_return make_error_code(errc::not_leader);
    commit_advanced_.reset();
    auto woken =
        co_await co::with_deadline(executor_, executor_.now() + interval, commit_advanced_.wait());
    if (!woken.timed_out() && !*woken) co_return (*woken).error();
  }
  if (stopped_.is_set()) co_return make_error_code(errc::shut_down);
  if (!still_in(role::leader, term) || !leading_) co_return make_error_code(errc::not_leader);
  co_return co::result<void>{};
}

// Awaits the commit of the configuration that leaves the joint one appended at `joint_index`:
// the first configuration after a committed joint one is its C_new, appended by whichever leader
// found it committed. Ends then, with shut_down when the node stops, or with cancelled().
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<void>> node<E, T, S>::await_final_configuration(index_t joint_index) {
  for (;;) {
    if (stopped_.is_set()) co_return make_error_code(errc::shut_down);
    const configuration& committed = configs_.at(commit_index_);
    if (!is_joint(committed) && commit_index_ > joint_index) co_return co::result<void>{};
    commit_advanced_.reset();
    if (auto woken = co_await commit_advanced_.wait(); !woken) co_return woken.error();
  }
}

// Awaits the learner's log coming within options::learner_catch_up_entries of the leader's, as
// acknowledged to this leader (catch_up_view::caught_up). Ends
// then; with learner_behind once its match index has not grown for an election timeout (it may be
// down); with not_leader if this node stops leading, shut_down, or cancelled(). It waits on the
// node's replication_progressed_, not on the peer's own event: the peer's record ends with the
// leadership, and this coroutine belongs to the caller, not to the leader's scope.
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<void>> node<E, T, S>::await_caught_up(node_id learner) {
  if (auto ready = co_await await_leader_state(); !ready) co_return ready.error();
  const auto patience = std::chrono::duration_cast<io::duration>(options_.election_timeout);
  const term_t term = current_term_;
  index_t seen = 0;
  io::time_point grew_at = executor_.now();
  for (;;) {
    if (stopped_.is_set()) co_return make_error_code(errc::shut_down);
    if (!still_in(role::leader, term) || !leading_) co_return make_error_code(errc::not_leader);
    const auto* replica = leading_->find(learner);
    if (!replica) co_return make_error_code(errc::unknown_member);
    const index_t match = replica->progress.match_index();
    if (catch_up_view{log_.last_index(), options_.learner_catch_up_entries}.caught_up(match))
      co_return co::result<void>{};
    if (match > seen) {
      seen = match;
      grew_at = executor_.now();
    }
    auto woken =
        co_await co::with_deadline(executor_, grew_at + patience, replication_progressed_.wait());
    if (woken.timed_out()) co_return make_error_code(errc::learner_behind);
    if (!*woken) co_return (*woken).error();
  }
}

// A learner first (unless it is one already), then a voter once caught up (node.hpp).
template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<configuration>> node<E, T, S>::add_member(member m) {
  const member_role wanted = m.role;
  if (m.id == nobody || m.id == id_) co_return make_error_code(errc::bad_member);
  std::vector<member> members = configs_.latest().members;
  const member* known = find_member(members, m.id);
  if (known && known->role == member_role::voter) {
    if (known->address != m.address || known->info != m.info)
      co_return make_error_code(errc::bad_member);  // a voter moves by remove and add
    co_return configs_.latest();  // already there
  }
  if (!known) {
    m.role = member_role::learner;
    members.push_back(m);
    auto added = co_await change_membership(members);
    if (!added) co_return added.error();
    if (wanted == member_role::learner) co_return *added;
  } else if (wanted == member_role::learner) {
    co_return configs_.latest();
  }
  if (auto caught_up = co_await await_caught_up(m.id); !caught_up) co_return caught_up.error();
  members = configs_.latest().members;
  for (member& each : members)
    if (each.id == m.id) each.role = member_role::voter;
  co_return co_await change_membership(std::move(members));
}

template <class E, transport T, storage S>
  requires io::scheduling<E> && io::timers<E>
co::task<co::result<configuration>> node<E, T, S>::remove_member(node_id id) {
  std::vector<member> members = configs_.latest().members;
  const auto it = std::find_if(members.begin(), members.end(),
                               [&](const member& m) { return m.id == id; });
  if (it == members.end()) co_return make_error_code(errc::unknown_member);
  members.erase(it);
  co_return co_await change_membership(std::move(members));
}

}  // namespace coraft::raft
