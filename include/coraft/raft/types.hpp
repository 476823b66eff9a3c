// coraft/raft/types.hpp — the protocol's vocabulary: terms, indexes, node ids, entries, errors.
#pragma once

#include "coraft/wire/requirements.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include <boost/describe/enum.hpp>
#include <boost/describe/class.hpp>

#include "coraft/raft/shared_bytes.hpp"

namespace coraft::raft {

using term_t = std::uint64_t;   // election term; 0 before any election (§5.1)
using index_t = std::uint64_t;  // log position; entries start at 1, 0 means "before the log"
using node_id = std::uint32_t;  // cluster member; 0 is never a member and means "nobody"

inline constexpr node_id nobody = 0;

enum class entry_kind : std::uint8_t {
  command,  // an application command, delivered through the apply channel
  no_op,    // appended by each new leader to commit entries of earlier terms (§5.4.2, §8)
  configuration,  // the cluster's configuration from this index on (configuration.hpp)
};
BOOST_DESCRIBE_ENUM(entry_kind, command, no_op, configuration)

struct log_entry {
  term_t term = 0;
  entry_kind kind = entry_kind::command;
  shared_bytes payload;  // immutable: copies of an entry share its bytes

  friend bool operator==(const log_entry&, const log_entry&) = default;
};
BOOST_DESCRIBE_STRUCT(log_entry, (), (term, kind, payload))

enum class role : std::uint8_t { follower, candidate, leader };
BOOST_DESCRIBE_ENUM(role, follower, candidate, leader)

inline const char* to_string(role r) noexcept {
  switch (r) {
    case role::follower: return "follower";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
  }
  return "?";
}

// Outcomes of proposals and calls that a caller handles. For a proposal, each code says which of
// three things is known (see proposal_outcome below): it committed (no error), it never will, or
// this node cannot tell.
enum class errc {
  not_leader = 1,    // not committed: this node does not lead, so it appended nothing; status().leader
                     // names the leader it knows, if any
  leadership_lost,   // unknown: this node stepped down, and its log no longer tells whether the entry
                     // committed (a snapshot from the new leader covered it)
  entry_overwritten, // not committed: another entry committed at that index; it never will
  shut_down,         // unknown: the node stopped before it learned the outcome
  unreachable,       // the transport could not deliver a request or its reply in time
  entry_too_large,   // not committed: the command is larger than options::max_entry_bytes, so
                     // nothing was appended
  transferring_leadership,  // not committed: the leader is handing over its leadership and
                            // appends nothing meanwhile; retry on the new leader
  // Leadership transfer (node::transfer_leadership):
  unknown_member,           // the target is not a member of the cluster
  already_leader,           // the target is the leader itself
  transfer_in_progress,     // another transfer is running
  transfer_timed_out,       // the target did not take over within an election timeout
  // Membership changes (node::change_membership); none appends anything:
  change_in_progress,       // the latest configuration is joint or not committed yet
  no_voter_left,            // the new configuration would have no voter
  learner_behind,           // a new voter is not a learner within the catch-up distance yet
  bad_member,               // a member named twice, id 0, or another cluster's id
};

inline const std::error_category& error_category() noexcept {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "coraft.raft"; }
    std::string message(int code) const override {
      switch (static_cast<errc>(code)) {
        case errc::not_leader: return "not the leader";
        case errc::leadership_lost: return "leadership lost; whether the entry committed is unknown";
        case errc::entry_overwritten: return "another entry committed at its index";
        case errc::shut_down: return "node shut down";
        case errc::unreachable: return "peer unreachable";
        case errc::entry_too_large: return "entry larger than the node's max_entry_bytes";
        case errc::transferring_leadership: return "the leader is transferring its leadership";
        case errc::unknown_member: return "not a member of the cluster";
        case errc::already_leader: return "the target already leads";
        case errc::transfer_in_progress: return "a leadership transfer is already running";
        case errc::transfer_timed_out: return "the target did not take over within an election timeout";
        case errc::change_in_progress: return "another membership change is in progress";
        case errc::no_voter_left: return "the configuration would have no voter";
        case errc::learner_behind:
          return "a new voter must first be a learner that has caught up with the leader";
        case errc::bad_member: return "a member named twice, or a reserved id";
      }
      return "unknown coraft.raft error";
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// What a failed proposal's error says about its entry. Compare an error with these:
//
//     if (r.error() == raft::proposal_outcome::unknown) ...  // it may commit: retry idempotently
//
//   not_committed  the entry is not in the committed log and never will be: safe to retry.
//   unknown        it may or may not have committed (the leader stepped down or shut down before
//                  it could tell, or the caller stopped waiting): the caller must treat it as maybe.
enum class proposal_outcome { not_committed = 1, unknown };

inline const std::error_category& proposal_outcome_category() noexcept {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "coraft.raft.proposal"; }
    std::string message(int condition) const override {
      return static_cast<proposal_outcome>(condition) == proposal_outcome::not_committed
                 ? "not committed"
                 : "outcome unknown";
    }
    bool equivalent(const std::error_code& code, int condition) const noexcept override {
      const auto wanted = static_cast<proposal_outcome>(condition);
      if (code.category() == coraft::raft::error_category()) {
        switch (static_cast<errc>(code.value())) {
          case errc::not_leader:
          case errc::entry_overwritten:
          case errc::entry_too_large:
          case errc::transferring_leadership:
          case errc::change_in_progress:
          case errc::no_voter_left:
          case errc::learner_behind:
          case errc::bad_member: return wanted == proposal_outcome::not_committed;
          case errc::leadership_lost:
          case errc::shut_down: return wanted == proposal_outcome::unknown;
          case errc::unreachable:
          case errc::unknown_member:
          case errc::already_leader:
          case errc::transfer_in_progress:
          case errc::transfer_timed_out: return false;
        }
        return false;
      }
      // A caller that stopped waiting (cancellation) cannot know either.
      return wanted == proposal_outcome::unknown && code == std::errc::operation_canceled;
    }
  };
  static const category instance;
  return instance;
}

inline std::error_condition make_error_condition(proposal_outcome o) noexcept {
  return {static_cast<int>(o), proposal_outcome_category()};
}

}  // namespace coraft::raft

template <>
struct std::is_error_code_enum<coraft::raft::errc> : std::true_type {};
template <>
struct std::is_error_condition_enum<coraft::raft::proposal_outcome> : std::true_type {};

namespace coraft::raft {

// A byte buffer from text, and back: handy for examples and tests.
inline bytes to_bytes(std::string_view text) {
  bytes out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}
inline std::string to_string(const bytes& data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace coraft::raft
