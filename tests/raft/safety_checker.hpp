// tests/raft/safety_checker.hpp — Raft's safety properties (§5.2–§5.4, Figure 3), checked after every
// simulated step against the live state of every node.
//
//  * Election Safety: at most one leader per term.
//  * Log Matching: two entries with the same index and term hold the same command and follow the
//    same history (checked as: same payload, and the same term at the index before).
//  * Leader Completeness: a node that becomes leader holds every entry committed so far.
//  * State Machine Safety: no two nodes commit or apply different entries at one index.
//  * Applying is orderly: within one run of a node, applied indexes go up by exactly one.
//  * Membership (§6, thesis §4): a new leader is a voter of its latest configuration, and a
//    leader's log never holds more than one configuration that has not committed. (Election
//    Safety above spans every configuration: at most one leader per term, whoever counted it.)
// What concerns one node alone (its commit index within its log, never going back, the applied
// index behind it) is the node's own check_invariants(), which the cluster calls beside this.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <coraft/raft/log.hpp>
#include <coraft/raft/node.hpp>

namespace coraft::test {

class safety_checker {
 public:
  // A node starts a new run: its volatile state starts over.
  void restarted(raft::node_id id) { nodes_[id] = per_node{}; }

  template <class Node>
  void check_node(const Node& n) {
    const raft::node_status st = n.status();
    per_node& seen = nodes_[st.id];
    const raft::log_window& log = n.log();

    // Election Safety, and Leader Completeness the moment a node leads a new term.
    if (st.role == raft::role::leader) {
      auto [it, inserted] = leaders_.emplace(st.term, st.id);
      if (!inserted && it->second != st.id)
        violated("two leaders in term " + std::to_string(st.term) + ": nodes " +
                 std::to_string(it->second) + " and " + std::to_string(st.id));
      if (seen.led_term != st.term) {
        seen.led_term = st.term;
        // Only a voter of its latest configuration campaigns (§4.2.2), and the candidate's log
        // does not change while it does: a new leader is a voter of the configuration it has.
        if (!raft::is_voter(st.config, st.id))
          violated("node " + std::to_string(st.id) + " leads term " + std::to_string(st.term) +
                   " without being a voter of its configuration");
        for (raft::index_t i = log.first_index(); i < committed_.size(); ++i) {
          if (!log.contains(i) || !same(log.at(i), committed_[i]))
            violated("leader " + std::to_string(st.id) + " of term " + std::to_string(st.term) +
                     " lacks committed entry " + std::to_string(i));
        }
      }
    }

    // One change at a time (§6): a leader appends a configuration only once every configuration
    // in its log has committed. (It may inherit two that have not — a joint one and its C_new,
    // from a predecessor that crashed — but then appends none of its own before they commit.)
    if (st.role == raft::role::leader) {
      int uncommitted = 0;
      bool own = false;
      for (raft::index_t i = std::max(st.commit_index + 1, log.first_index()); i <= log.last_index(); ++i) {
        if (log.at(i).kind != raft::entry_kind::configuration) continue;
        ++uncommitted;
        own |= log.at(i).term == st.term;
      }
      if (own && uncommitted > 1)
        violated("leader " + std::to_string(st.id) + " of term " + std::to_string(st.term) + " has " +
                 std::to_string(uncommitted) + " configurations in its log that have not committed, one its own");
    }

    // What each node commits is what every other commits at that index.
    for (raft::index_t i = std::max(seen.commit_index + 1, log.first_index()); i <= st.commit_index; ++i)
      record_committed(i, log.at(i), st.id);
    seen.commit_index = st.commit_index;

    // Log Matching, incrementally: entries not yet checked since the last truncation.
    if (seen.truncations != log.truncations()) {
      seen.truncations = log.truncations();
      seen.checked_through = log.base_index();
    }
    for (raft::index_t i = std::max(seen.checked_through + 1, log.first_index()); i <= log.last_index(); ++i) {
      const raft::log_entry& e = log.at(i);
      fingerprint f{e.kind, e.payload, log.term_at(i - 1)};
      auto [it, inserted] = entries_.emplace(std::pair{i, e.term}, f);
      if (!inserted && !(it->second == f))
        violated("log matching: entry " + std::to_string(i) + " of term " + std::to_string(e.term) +
                 " differs on node " + std::to_string(st.id));
    }
    seen.checked_through = log.last_index();
  }

  void applied(raft::node_id id, const raft::applied_entry& e) {
    per_node& seen = nodes_[id];
    if (e.is_snapshot) {
      // A snapshot moves the application forward to its index, never back; it ends at an entry
      // that was committed with the same term.
      if (e.index <= seen.last_applied)
        violated("node " + std::to_string(id) + " was given a snapshot at " + std::to_string(e.index) +
                 " after applying " + std::to_string(seen.last_applied));
      if (e.index < committed_.size() && committed_[e.index].term != e.term)
        violated("node " + std::to_string(id) + " was given a snapshot ending at a term that was not committed there");
      seen.last_applied = e.index;
      return;
    }
    if (e.index != seen.last_applied + 1)
      violated("node " + std::to_string(id) + " applied index " + std::to_string(e.index) +
               " after " + std::to_string(seen.last_applied));
    seen.last_applied = e.index;
    record_committed(e.index, raft::log_entry{e.term, e.kind, e.payload}, id);
  }

  std::size_t committed_count() const { return committed_.empty() ? 0 : committed_.size() - 1; }
  const raft::log_entry& committed(raft::index_t i) const { return committed_.at(i); }

 private:
  struct per_node {
    raft::index_t commit_index = 0;
    raft::index_t last_applied = 0;
    raft::index_t checked_through = 0;
    std::uint64_t truncations = ~std::uint64_t{0};
    raft::term_t led_term = 0;
  };
  struct fingerprint {
    raft::entry_kind kind;
    raft::shared_bytes payload;
    raft::term_t previous_term;
    friend bool operator==(const fingerprint&, const fingerprint&) = default;
  };

  static bool same(const raft::log_entry& a, const raft::log_entry& b) {
    return a.term == b.term && a.kind == b.kind && a.payload == b.payload;
  }

  void record_committed(raft::index_t i, const raft::log_entry& e, raft::node_id by) {
    if (committed_.empty()) committed_.resize(1);  // index 0 is never an entry
    if (i < committed_.size()) {
      if (!same(committed_[i], e))
        violated("state machine safety: node " + std::to_string(by) + " committed a different entry at " +
                 std::to_string(i));
      return;
    }
    if (i != committed_.size())
      violated("node " + std::to_string(by) + " committed index " + std::to_string(i) +
               " before any node committed " + std::to_string(committed_.size()));
    committed_.push_back(e);
  }

  [[noreturn]] static void violated(const std::string& what) {
    throw std::logic_error("safety violated: " + what);
  }

  std::map<raft::node_id, per_node> nodes_;
  std::map<raft::term_t, raft::node_id> leaders_;
  std::map<std::pair<raft::index_t, raft::term_t>, fingerprint> entries_;
  std::vector<raft::log_entry> committed_;  // committed_[i]: the entry committed at index i
};

}  // namespace coraft::test
