// coraft/raft/configuration.hpp — who the cluster is: its members, voters and learners, and the
// quorums they form (§6 of the paper, chapter 4 of the thesis).
//
// A configuration is replicated state: it travels as a log entry (entry_kind::configuration) and
// in every snapshot, and a member uses the latest one in its log from the moment it is appended,
// committed or not (thesis §4.1). A change from C_old to C_new goes through the joint
// configuration C_old,new — `members` is C_new and `outgoing` is C_old — in which an election and
// a commitment need a majority of C_old's voters and, separately, one of C_new's. Learners receive
// the log but never vote and never count toward a majority.
//
// Everything here is pure: the node's coroutines decide with these functions and do the I/O.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>

#include "coraft/raft/types.hpp"

namespace coraft::raft {

// Names one cluster, chosen when it is bootstrapped; every request carries it, and a member drops
// requests of another cluster. 0 means "none yet": a member waiting to be added to a cluster.
using cluster_id = std::uint64_t;

// Names one life of a member's data directory, drawn when the directory is first written and kept
// in it: a member whose directory was lost comes back under the same id with another incarnation.
// The configuration records the incarnation each member was found with (0 until its leader learnt
// it); requests name the incarnations of sender and receiver, and a member drops those that name
// an incarnation other than the one recorded (the sender's) or its own (the receiver's), so that a
// member that forgot its vote and its log never votes or acknowledges under its old identity.
using incarnation_t = std::uint64_t;

enum class member_role : std::uint8_t {
  voter,    // votes, and counts toward every majority
  learner,  // receives the log and snapshots; never votes, never counts
};
BOOST_DESCRIBE_ENUM(member_role, voter, learner)

inline const char* to_string(member_role r) noexcept {
  return r == member_role::voter ? "voter" : "learner";
}

struct member {
  node_id id = nobody;
  member_role role = member_role::voter;
  bytes address;  // where the transport reaches it; opaque to the protocol
  bytes info;     // the application's own bytes about the member (coraft-kv: its client address)
  incarnation_t incarnation = 0;  // its data directory's, once a leader bound it; 0 before
  friend bool operator==(const member&, const member&) = default;
};
BOOST_DESCRIBE_STRUCT(member, (), (id, role, address, info, incarnation))

struct configuration {
  raft::cluster_id cluster = 0;
  std::vector<member> members;   // C_new while joint; otherwise the configuration itself
  std::vector<member> outgoing;  // C_old while joint (§6); empty otherwise
  friend bool operator==(const configuration&, const configuration&) = default;
};
BOOST_DESCRIBE_STRUCT(configuration, (), (cluster, members, outgoing))

// The largest configuration, as the wire codec encodes it, that a change may make: it travels in
// every InstallSnapshot beside a chunk, so the message bounds count it (message_sizes.hpp). It
// holds about a hundred members with their addresses.
inline constexpr std::size_t max_configuration_bytes = 8 * 1024;

inline bool is_joint(const configuration& c) noexcept { return !c.outgoing.empty(); }

inline const member* find_member(const std::vector<member>& set, node_id id) noexcept {
  for (const member& m : set)
    if (m.id == id) return &m;
  return nullptr;
}

// The member `id` as the configuration names it: in C_new first, else in C_old; null if neither.
inline const member* find_member(const configuration& c, node_id id) noexcept {
  if (const member* m = find_member(c.members, id)) return m;
  return find_member(c.outgoing, id);
}

inline bool is_voter_in(const std::vector<member>& set, node_id id) noexcept {
  const member* m = find_member(set, id);
  return m && m->role == member_role::voter;
}

// Votes in C_new or, while joint, in C_old: its vote and its log count toward a majority.
inline bool is_voter(const configuration& c, node_id id) noexcept {
  return is_voter_in(c.members, id) || is_voter_in(c.outgoing, id);
}

// Every member but `self`, of C_new and C_old alike, in id order: whom a leader replicates to.
inline std::vector<node_id> others(const configuration& c, node_id self) {
  std::vector<node_id> out;
  for (const auto* set : {&c.members, &c.outgoing})
    for (const member& m : *set)
      if (m.id != self) out.push_back(m.id);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The voters `self` asks for a vote: every voter of C_new and C_old but itself, in id order.
inline std::vector<node_id> other_voters(const configuration& c, node_id self) {
  std::vector<node_id> out;
  for (node_id id : others(c, self))
    if (is_voter(c, id)) out.push_back(id);
  return out;
}

// Whether the voters of one set for which `agrees(id)` holds are a majority of its voters. A set
// with no voter has no majority.
template <class Agrees>
bool majority_of(const std::vector<member>& set, Agrees&& agrees) {
  std::size_t voters = 0, agreeing = 0;
  for (const member& m : set) {
    if (m.role != member_role::voter) continue;
    ++voters;
    if (agrees(m.id)) ++agreeing;
  }
  return voters > 0 && agreeing * 2 > voters;
}

// An election won, a leader still heard, an entry held: a majority of C_new's voters and, while
// joint, separately a majority of C_old's (§6).
template <class Agrees>
bool has_quorum(const configuration& c, Agrees&& agrees) {
  if (!majority_of(c.members, agrees)) return false;
  return !is_joint(c) || majority_of(c.outgoing, agrees);
}

// The (n/2 + 1)-th largest of n match indexes: the highest index a majority of them holds.
// Reorders `matches`.
inline index_t majority_match(std::span<index_t> matches) {
  if (matches.empty()) throw std::logic_error("coraft::raft: a configuration without voters");
  const std::size_t k = matches.size() / 2;
  std::nth_element(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(k), matches.end(),
                   std::greater<>());
  return matches[k];
}

// The highest index held by a majority of one set's voters, given each voter's match index: the
// (n/2 + 1)-th largest. The leader's own is what its disk holds, not what it has appended. Runs at
// every acknowledgement a leader receives, so the usual sets are counted on the stack.
template <class MatchOf>
index_t majority_match_in(const std::vector<member>& set, MatchOf&& match_of) {
  constexpr std::size_t on_stack = 16;
  if (set.size() > on_stack) {
    std::vector<index_t> matches;
    for (const member& m : set)
      if (m.role == member_role::voter) matches.push_back(match_of(m.id));
    return majority_match(matches);
  }
  std::array<index_t, on_stack> matches;
  std::size_t voters = 0;
  for (const member& m : set)
    if (m.role == member_role::voter) matches[voters++] = match_of(m.id);
  return majority_match(std::span(matches).first(voters));
}

// The highest index held by a quorum (§5.3, §6): under joint consensus, the smaller of the two
// majorities' answers.
template <class MatchOf>
index_t quorum_match_index(const configuration& c, MatchOf&& match_of) {
  index_t held = majority_match_in(c.members, match_of);
  if (is_joint(c)) held = std::min(held, majority_match_in(c.outgoing, match_of));
  return held;
}

// The grants of one election (or pre-vote), counted against the configuration it began with.
struct ballot {
  configuration config;
  std::vector<node_id> granted;  // the candidate's own vote first
  bool won() const {
    return has_quorum(config, [&](node_id id) {
      return std::find(granted.begin(), granted.end(), id) != granted.end();
    });
  }
};

// Whether two configurations name the same members in the same roles at the same addresses.
inline bool same_members(const configuration& a, const configuration& b) {
  return a.members == b.members && a.outgoing == b.outgoing;
}

// ---- Changes -------------------------------------------------------------------------------------

// Why a change is refused, or nothing (it may go).
enum class change_refusal : std::uint8_t {
  none,
  in_progress,      // the latest configuration in the log is joint, or not committed yet
  no_voter_left,    // the new configuration has no voter
  learner_behind,   // a member would become a voter without having been a caught-up learner
  unknown_member,   // the change names a member the configuration does not have
  duplicate_member, // the new configuration names a member twice, or member id 0
};

// One member's log position, as the leader knows it, for the catch-up rule.
struct catch_up_view {
  index_t leader_last_index = 0;
  index_t max_lag = 0;  // options::learner_catch_up_entries

  // Whether a learner whose log is known to hold the leader's up to `match` may vote: it must have
  // acknowledged entries to this leader (a match of 0 is a member never heard from, however short
  // the log — one that is down or not started yet would cost availability as a voter), and be
  // within max_lag of the leader's last entry.
  bool caught_up(index_t match) const noexcept {
    return match > 0 && match + max_lag >= leader_last_index;
  }
};

// Whether the leader may start the change from `latest` (the latest configuration in its log, not
// the committed one: a change validated against an older configuration than the one in force is
// what leaves other implementations stuck) to the set `next`. A member that becomes a voter must be
// a learner of `latest` already, within max_lag entries of the leader's log (`match_of` says where
// each member's log is known to end), so that adding a voter never costs availability.
template <class MatchOf>
change_refusal membership_change_decision(const configuration& latest, bool latest_committed,
                                          const std::vector<member>& next, catch_up_view view,
                                          MatchOf&& match_of) {
  if (is_joint(latest) || !latest_committed) return change_refusal::in_progress;
  for (std::size_t i = 0; i < next.size(); ++i) {
    if (next[i].id == nobody) return change_refusal::duplicate_member;
    for (std::size_t j = i + 1; j < next.size(); ++j)
      if (next[i].id == next[j].id) return change_refusal::duplicate_member;
  }
  if (std::none_of(next.begin(), next.end(),
                   [](const member& m) { return m.role == member_role::voter; }))
    return change_refusal::no_voter_left;
  for (const member& m : next) {
    if (m.role != member_role::voter || is_voter_in(latest.members, m.id)) continue;
    if (!find_member(latest.members, m.id)) return change_refusal::learner_behind;
    if (!view.caught_up(match_of(m.id))) return change_refusal::learner_behind;
  }
  return change_refusal::none;
}

// Whether `after` only records incarnations that `before` lacked (the leader's own bookkeeping,
// bind_incarnations): the same members, roles and addresses, neither of them joint. Such an entry
// is no change of anyone's: a change asked while one commits waits for it rather than being refused.
inline bool records_incarnations(const configuration& before, const configuration& after) {
  if (is_joint(before) || is_joint(after) || before.members.size() != after.members.size())
    return false;
  for (std::size_t i = 0; i < before.members.size(); ++i) {
    member was = before.members[i];
    const member& is = after.members[i];
    if (was.incarnation != 0 && was.incarnation != is.incarnation) return false;
    was.incarnation = is.incarnation;
    if (!(was == is)) return false;
  }
  return true;
}

// Whether going from `from` to a configuration with members `next` changes who votes: then it goes
// through the joint configuration; a change of learners or addresses alone goes at once.
inline bool changes_voters(const std::vector<member>& from, const std::vector<member>& next) {
  auto voters = [](const std::vector<member>& set) {
    std::vector<node_id> ids;
    for (const member& m : set)
      if (m.role == member_role::voter) ids.push_back(m.id);
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  return voters(from) != voters(next);
}

// ---- The configurations in a log ------------------------------------------------------------------

// The configuration in force at every index of a member's log: the one the snapshot (or the
// bootstrap) holds as of the log's base, and each configuration entry after it. It follows the log
// through its three changes — entries appended, a conflicting suffix cut (§5.3: a configuration cut
// with its entry stops being in force), a prefix compacted into a snapshot.
class configuration_log {
 public:
  // The log now starts after `base`, where `config` is in force (a snapshot, a bootstrap, or none).
  void reset(index_t base, configuration config) {
    entries_.clear();
    entries_.push_back({base, std::move(config)});
  }
  // A configuration entry appended at `index`: in force from there on, committed or not (§4.1).
  void appended(index_t index, configuration config) {
    if (index <= latest_index())
      throw std::logic_error("coraft::raft: configuration entries out of order");
    entries_.push_back({index, std::move(config)});
  }
  // Entries from `from` on are gone: so are their configurations. The base's stays.
  void truncated_from(index_t from) {
    while (entries_.size() > 1 && entries_.back().index >= from) entries_.pop_back();
  }
  // The log up to `through` is now a snapshot: the configuration in force there becomes the base.
  void compacted(index_t through) {
    while (entries_.size() > 1 && entries_[1].index <= through) entries_.pop_front();
    entries_.front().index = std::max(entries_.front().index, through);
  }

  const configuration& latest() const noexcept { return entries_.back().config; }
  index_t latest_index() const noexcept { return entries_.back().index; }
  // The configuration the latest one replaced (the base's own, when the latest is the base).
  const configuration& before_latest() const noexcept {
    return entries_.size() > 1 ? entries_[entries_.size() - 2].config : entries_.front().config;
  }
  // The configuration in force at `index` (the latest at or before it).
  const configuration& at(index_t index) const noexcept {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
      if (it->index <= index) return it->config;
    return entries_.front().config;
  }
  // Every configuration in force after `index`, and the one in force at it: a leader replicates
  // to the members of each until the latest is committed, so that a member being removed learns
  // of its removal.
  template <class Visit>
  void for_each_since(index_t index, Visit&& visit) const {
    for (const auto& e : entries_)
      if (e.index > index || &e.config == &at(index)) visit(e.config);
  }

 private:
  struct entry {
    index_t index = 0;
    configuration config;
  };
  std::deque<entry> entries_{entry{}};  // never empty; entries_[0] is the base
};

}  // namespace coraft::raft
