// tests/raft/reconfigure.hpp — membership changes driven from a scenario's body: on whoever leads,
// again on the next leader while one is wanted, with the simulated time passing step by step (so
// every step is followed by the safety checks).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <system_error>

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>

#include "cluster.hpp"

namespace coraft::test {

// The running server that leads in the highest term, if any claims to.
inline std::optional<int> claimed_leader(cluster& c) {
  std::optional<int> best;
  for (int i = 0; i < c.size(); ++i) {
    if (!c.running(i)) continue;
    raft::node_status st = c.node(i)->status();
    if (st.role == raft::role::leader && (!best || st.term > c.node(*best)->status().term)) best = i;
  }
  return best;
}

// A membership change, as a call on one member.
using membership_change =
    std::function<co::task<co::result<raft::configuration>>(test::member&)>;

// The configuration a server has committed: the latest in its log once the commit index reached it.
inline std::optional<raft::configuration> committed_configuration(cluster& c, int i) {
  if (!c.running(i)) return std::nullopt;
  const raft::node_status st = c.node(i)->status();
  if (!st.config_committed) return std::nullopt;
  return st.config;
}

// Awaits one change on server i, for `at_most`; the outcome, or nothing if it took longer (the
// call is then cancelled, so that the node may be stopped afterwards).
inline std::optional<co::result<raft::configuration>> change_on(cluster& c, int i,
                                                                const membership_change& change,
                                                                io::duration at_most) {
  std::optional<co::result<raft::configuration>> outcome;
  co::scope call(c.world());
  call.spawn([](test::member* n, membership_change how,
                std::optional<co::result<raft::configuration>>* out) -> co::task<void> {
    *out = co_await how(*n);
  }(c.node(i), change, &outcome));
  const io::time_point give_up = c.world().now() + at_most;
  while (!outcome && c.world().now() < give_up) c.step();
  call.request_stop();
  call.run_until_idle();
  if (outcome && !*outcome && outcome->error() == std::errc::operation_canceled) return std::nullopt;
  return outcome;
}

// Whether a change that failed may succeed when tried again, on this leader or the next.
inline bool worth_retrying(const std::error_code& e) {
  using raft::errc;
  return e == errc::not_leader || e == errc::leadership_lost || e == errc::shut_down ||
         e == errc::change_in_progress || e == errc::transferring_leadership ||
         e == errc::learner_behind || e == errc::entry_overwritten;
}

// Makes the change on whoever leads until `done` holds for the configuration the leader has
// committed; fails the scenario after `at_most`, or on an error no retry can mend. Returns that
// configuration.
inline raft::configuration reconfigure(cluster& c, const std::string& what, const membership_change& change,
                                       const std::function<bool(const raft::configuration&)>& done,
                                       io::duration at_most = 30s) {
  const io::time_point give_up = c.world().now() + at_most;
  std::string last_error = "no leader";
  while (c.world().now() < give_up) {
    const std::optional<int> leader = claimed_leader(c);
    if (!leader) {
      c.sleep(20ms);
      continue;
    }
    if (auto now = committed_configuration(c, *leader); now && done(*now) && !raft::is_joint(*now))
      return *now;
    // Made already, and followed by an entry of the leader's own (it records incarnations): it
    // is not asked again, only awaited.
    if (const raft::node_status st = c.node(*leader)->status(); done(st.config) && !raft::is_joint(st.config)) {
      c.sleep(20ms);
      continue;
    }
    auto outcome = change_on(c, *leader, change, give_up - c.world().now());
    if (!outcome) continue;
    if (!*outcome) {
      last_error = outcome->error().message();
      if (!worth_retrying(outcome->error())) c.fail(what + ": " + last_error);
    }
    c.sleep(20ms);  // a change that ended at once (already made, not committed yet) too
  }
  c.fail(what + ": not done within " + std::to_string(at_most / 1ms) + " ms (last: " + last_error + ")");
}

// The voters of a configuration, in id order.
inline std::vector<raft::node_id> voters_of(const raft::configuration& config) {
  std::vector<raft::node_id> out;
  for (const raft::member& m : config.members)
    if (m.role == raft::member_role::voter) out.push_back(m.id);
  std::sort(out.begin(), out.end());
  return out;
}

// Server i joins (if it is not in the configuration yet) and becomes a voter.
inline raft::configuration add_voter(cluster& c, int i) {
  const raft::member m = c.member_of(i);
  return reconfigure(
      c, "adding server " + std::to_string(i),
      [m](test::member& n) { return n.add_member(m); },
      [id = m.id](const raft::configuration& config) { return raft::is_voter_in(config.members, id); });
}

// Server i leaves the configuration.
inline raft::configuration remove_server(cluster& c, int i) {
  const raft::node_id id = cluster::id(i);
  return reconfigure(
      c, "removing server " + std::to_string(i),
      [id](test::member& n) { return n.remove_member(id); },
      [id](const raft::configuration& config) { return !raft::find_member(config, id); });
}

}  // namespace coraft::test
