// The leader's side of replication alone (progress.hpp): one peer's progress driven by hand through
// its transitions, and the rule that says what the peer gets next. No node, no cluster, no clock:
// times are plain values, replies are crafted or come from the follower's own rule (rules.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "coraft/raft/progress.hpp"
#include "coraft/raft/rules.hpp"
#include "logs.hpp"

using namespace coraft;
using namespace coraft::raft;
using namespace std::chrono_literals;

namespace {

constexpr io::duration heartbeat = 50ms;
constexpr std::size_t window = 4;
const io::time_point t0 = io::time_point{} + 10s;

using coraft::test::log_of;

// A log of `length` entries, all of term 1.
log_window log_of_length(index_t length) {
  std::deque<log_entry> entries(length, log_entry{1, entry_kind::command, {}});
  log_window log;
  log.reset(0, 0, std::move(entries));
  return log;
}

next_request decide(const peer_progress& p, index_t base, index_t last, io::time_point now) {
  return next_request_decision(p, base, last, now, heartbeat);
}

// A peer known to hold the leader's log up to `match`, replicating, nothing in flight; the last
// request went at `at`.
peer_progress replicating_at(index_t match, io::time_point at = t0) {
  peer_progress p(match, window);
  p.entries_sent(0, at, match);
  REQUIRE(p.accepted(match, true, match) == (match > 0));
  REQUIRE(p.mode() == replication_mode::replicating);
  return p;
}

// A peer whose position is being looked for: the leader's first probe from its log's end was
// rejected with `hint`, and the leader backed up.
peer_progress probing_after(const log_window& leader, append_rejected hint, io::time_point at = t0) {
  peer_progress p(leader.last_index(), window);
  p.entries_sent(0, at, leader.last_index());
  p.rejected(leader.last_index(), hint, true, leader);
  REQUIRE(p.mode() == replication_mode::probing);
  return p;
}

// The message of the logic_error that `transition` throws, or "" when it throws none.
template <class Transition>
std::string broken_invariant(Transition transition) {
  try {
    transition();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---- Probing, then replicating (§5.3) ------------------------------------------------------------

TEST_CASE("§5.3: a new leader probes from just past its own log, one request at a time") {
  peer_progress p(10, window);
  CHECK(p.next_index() == 11);
  CHECK(p.match_index() == 0);
  CHECK(p.mode() == replication_mode::probing);
  // Nothing to send but the probe itself: a request from next_index with no entries, when the
  // first heartbeat is due.
  CHECK(decide(p, 0, 10, t0) == next_request{entries_request{11}});
  p.entries_sent(0, t0, 10);
  CHECK(p.in_flight() == 1);
  // New entries wait for the probe's answer: the probing window is one request.
  CHECK(decide(p, 0, 12, t0 + 1ms) == next_request{no_request_until{t0 + heartbeat}});
}

TEST_CASE("§5.3: probe then replicate: an accepted probe opens the window, next_index runs ahead") {
  peer_progress p(10, window);
  p.entries_sent(0, t0, 10);
  CHECK(p.accepted(10, true, 10));
  CHECK(p.mode() == replication_mode::replicating);
  CHECK(p.match_index() == 10);
  CHECK(p.next_index() == 11);
  // The leader appends 20 entries: requests go back to back, each from where the last one ended.
  const io::time_point now = t0 + 1ms;
  CHECK(decide(p, 0, 30, now) == next_request{entries_request{11}});
  p.entries_sent(5, now, 30);
  CHECK(p.next_index() == 16);
  CHECK(decide(p, 0, 30, now) == next_request{entries_request{16}});
  p.entries_sent(5, now, 30);
  CHECK(p.next_index() == 21);
  CHECK(p.in_flight() == 2);
  // The first answer moves the match, not next_index, which is already past it.
  CHECK(p.accepted(15, true, 30));
  CHECK(p.match_index() == 15);
  CHECK(p.next_index() == 21);
  CHECK(p.in_flight() == 1);
}

TEST_CASE("§5.3: while probing, a heartbeat's success does not open the window; the probe's does") {
  const log_window leader = log_of_length(10);
  peer_progress p = probing_after(leader, append_rejected{0, 6});
  CHECK(p.next_index() == 6);
  p.entries_sent(5, t0 + 1ms, 10);  // the probe from 6
  CHECK(p.next_index() == 6);       // a probe does not move next_index before its answer
  // A bare heartbeat anchored at the match (0) succeeds while the probe is on its way.
  CHECK_FALSE(p.accepted(0, false, 10));
  CHECK(p.mode() == replication_mode::probing);
  CHECK(p.in_flight() == 1);
  CHECK(decide(p, 0, 10, t0 + 2ms) == next_request{no_request_until{t0 + 1ms + heartbeat}});
  CHECK(p.accepted(10, true, 10));
  CHECK(p.mode() == replication_mode::replicating);
  CHECK(p.in_flight() == 0);
}

TEST_CASE("§5.3: with the window full nothing goes from next_index until a reply frees a slot") {
  peer_progress p = replicating_at(10);
  const io::time_point now = t0 + 1ms;
  for (std::size_t k = 0; k < window; ++k) {
    REQUIRE(std::holds_alternative<entries_request>(decide(p, 0, 100, now)));
    p.entries_sent(1, now, 100);
  }
  CHECK(p.in_flight() == window);
  // Entries remain, but the next thing to happen is the heartbeat, an interval after the last send.
  CHECK(decide(p, 0, 100, now) == next_request{no_request_until{now + heartbeat}});
  CHECK(p.accepted(11, true, 100));
  CHECK(decide(p, 0, 100, now + 1ms) == next_request{entries_request{10 + window + 1}});
}

// ---- Rejections and the fast backup (§5.3) -------------------------------------------------------

TEST_CASE("§5.3: a stale rejection, at or below the match, is ignored") {
  const log_window leader = log_of_length(30);
  peer_progress p = replicating_at(10);
  p.entries_sent(10, t0 + 1ms, 30);
  p.entries_sent(10, t0 + 1ms, 30);
  REQUIRE(p.next_index() == 31);
  // Rejections of requests whose previous entry the peer is known to hold: from before a success.
  p.rejected(10, append_rejected{0, 3}, true, leader);
  p.rejected(4, append_rejected{0, 3}, false, leader);
  CHECK(p.next_index() == 31);
  CHECK(p.match_index() == 10);
  CHECK(p.mode() == replication_mode::replicating);
  CHECK(p.in_flight() == 1);  // the slot of the request from next_index is handed back all the same
}

TEST_CASE("§5.3: fast backup: the follower's conflicting term is one the leader has: just past its last") {
  // Figure 7's leader; the follower has more entries of term 4 and none of 5 or 6 (its case (e)).
  const log_window leader = log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
  const log_window follower = log_of({1, 1, 1, 4, 4, 4, 4});
  const append_decision d = append_entries_decision(follower, 0, append_entries_args{8, 1, 7, 5, {}, 0});
  REQUIRE(std::get<append_rejected>(d) == append_rejected{4, 4});
  peer_progress p(10, window);
  p.entries_sent(0, t0, 10);
  p.rejected(7, std::get<append_rejected>(d), true, leader);
  // The leader's last entry of term 4 is at 5: the logs may agree up to there.
  CHECK(p.next_index() == 6);
  CHECK(p.mode() == replication_mode::probing);
}

TEST_CASE("§5.3: fast backup: the follower's conflicting term is unknown to the leader: skip all of it") {
  const log_window leader = log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
  // The follower had terms 2 and 3, which the leader never had (Figure 7 (f)).
  const log_window follower = log_of({1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3});
  const append_decision d = append_entries_decision(follower, 0, append_entries_args{8, 1, 6, 5, {}, 0});
  REQUIRE(std::get<append_rejected>(d) == append_rejected{2, 4});
  peer_progress p(10, window);
  p.entries_sent(0, t0, 10);
  p.rejected(6, std::get<append_rejected>(d), true, leader);
  CHECK(p.next_index() == 4);  // the follower's first entry of term 2
}

TEST_CASE("§5.3: fast backup: a follower with a shorter log is probed from its end") {
  const log_window leader = log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
  const log_window follower = log_of({1, 1, 1, 4});
  const append_decision d = append_entries_decision(follower, 0, append_entries_args{8, 1, 10, 6, {}, 0});
  REQUIRE(std::get<append_rejected>(d) == append_rejected{0, 5});
  peer_progress p(10, window);
  p.entries_sent(0, t0, 10);
  p.rejected(10, std::get<append_rejected>(d), true, leader);
  CHECK(p.next_index() == 5);
}

TEST_CASE("§5.3: fast backup is clamped: never to or below the match, never beyond the leader's log") {
  const log_window leader = log_of_length(20);
  // A rejection from before the success that set the match, but of a request past it (replies
  // reordered): its hint points below the match, which the peer is known to hold.
  peer_progress p = replicating_at(10);
  p.entries_sent(5, t0 + 1ms, 20);
  p.rejected(14, append_rejected{0, 3}, true, leader);
  CHECK(p.next_index() == 11);
  CHECK(p.mode() == replication_mode::probing);
  // A hint beyond the leader's log: next_index stops just past the leader's last entry.
  peer_progress q(20, window);
  q.entries_sent(0, t0, 20);
  q.rejected(20, append_rejected{0, 40}, true, leader);
  CHECK(q.next_index() == 21);
}

// Figure 7 of the paper, driven through the leader's own rule this time: each follower rejects with
// its hint (rules.hpp), the leader backs up (progress.hpp), until the follower accepts.
TEST_CASE("§5.3, Figure 7: the leader's fast backup finds each follower (a)-(f) in one step per term") {
  const log_window leader = log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8});
  struct follower_case {
    std::string name;
    log_window log;
    std::vector<index_t> probes;  // next_index of each probe, the accepted one last
  };
  const std::vector<follower_case> cases{
      {"(a)", log_of({1, 1, 1, 4, 4, 5, 5, 6, 6}), {12, 10}},
      {"(b)", log_of({1, 1, 1, 4}), {12, 5}},
      {"(c)", log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}), {12, 11}},
      {"(d)", log_of({1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}), {12, 11}},
      {"(e)", log_of({1, 1, 1, 4, 4, 4, 4}), {12, 8, 6}},
      {"(f)", log_of({1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}), {12, 7, 4}},
  };
  for (const follower_case& c : cases) {
    CAPTURE(c.name);
    peer_progress p(leader.last_index(), window);
    std::vector<index_t> probes;
    for (int round = 0; round < 10 && p.mode() == replication_mode::probing; ++round) {
      const io::time_point now = t0 + std::chrono::milliseconds(round);
      const next_request next = decide(p, 0, leader.last_index(), now);
      REQUIRE(std::holds_alternative<entries_request>(next));
      const index_t from = std::get<entries_request>(next).from;
      probes.push_back(from);
      append_entries_args args{8, 1, from - 1, leader.term_at(from - 1), {}, 0};
      for (index_t i = from; i <= leader.last_index(); ++i) args.entries.push_back(leader.at(i));
      p.entries_sent(args.entries.size(), now, leader.last_index());
      const append_decision d = append_entries_decision(c.log, 0, args);
      if (const auto* r = std::get_if<append_rejected>(&d)) {
        p.rejected(args.prev_log_index, *r, true, leader);
      } else {
        p.accepted(std::get<append_accepted>(d).match_index, true, leader.last_index());
      }
    }
    CHECK(probes == c.probes);
    CHECK(p.mode() == replication_mode::replicating);
    CHECK(p.match_index() == leader.last_index());
  }
}

// ---- Failures and heartbeats (§5.2) --------------------------------------------------------------

TEST_CASE("§5.3: a lost reply sends the peer back to probing from its match, after a pause") {
  peer_progress p = replicating_at(10);
  const io::time_point sent = t0 + 5ms;
  p.entries_sent(5, sent, 30);
  p.entries_sent(5, sent, 30);
  p.failed(sent, heartbeat, true);
  CHECK(p.mode() == replication_mode::probing);
  CHECK(p.next_index() == 11);
  CHECK(p.paused_until() == sent + heartbeat);
  // During the pause nothing goes but heartbeats; the wait ends with the pause or the heartbeat.
  CHECK(decide(p, 0, 30, sent + 1ms) == next_request{no_request_until{sent + heartbeat}});
  // The other request's answer comes in: it finds the peer's position again, but the pause holds.
  CHECK(p.accepted(15, true, 30));
  CHECK(p.next_index() == 16);
  CHECK(decide(p, 0, 30, sent + 2ms) == next_request{no_request_until{sent + heartbeat}});
}

TEST_CASE("§5.2: a heartbeat due while entries keep failing goes first, bare; the entries follow it") {
  peer_progress p = replicating_at(10, t0);
  const io::time_point sent = t0 + 10ms;
  p.entries_sent(5, sent, 30);
  p.failed(sent, heartbeat, true);
  // One interval after the failed send the pause ends and the heartbeat is due at once: the slot
  // goes to a bare heartbeat anchored at the match, not to the retry of the entries.
  const io::time_point due = sent + heartbeat;
  CHECK(decide(p, 0, 30, due) == next_request{heartbeat_request{10}});
  p.heartbeat_sent(due);
  CHECK(p.in_flight() == 0);
  CHECK(decide(p, 0, 30, due) == next_request{entries_request{11}});
}

TEST_CASE("§5.2: a heartbeat goes every interval while the window is full, and takes no slot") {
  peer_progress p = replicating_at(10);
  const io::time_point sent = t0 + 1ms;
  for (std::size_t k = 0; k < window; ++k) p.entries_sent(1, sent, 100);
  const io::time_point due = sent + heartbeat;
  CHECK(decide(p, 0, 100, due - 1ns) == next_request{no_request_until{due}});
  CHECK(decide(p, 0, 100, due) == next_request{heartbeat_request{10}});
  p.heartbeat_sent(due);
  CHECK(p.in_flight() == window);
  CHECK(decide(p, 0, 100, due) == next_request{no_request_until{due + heartbeat}});
  // Its answer hands back no slot either.
  CHECK_FALSE(p.accepted(10, false, 100));
  CHECK(p.in_flight() == window);
}

TEST_CASE("§5.2: an idle peer gets an empty request from next_index each interval, holding a slot") {
  peer_progress p = replicating_at(10, t0);
  CHECK(decide(p, 0, 10, t0 + 1ms) == next_request{no_request_until{t0 + heartbeat}});
  // With nothing to send, the request from next_index carries no entries and holds a slot.
  CHECK(decide(p, 0, 10, t0 + heartbeat) == next_request{entries_request{11}});
}

TEST_CASE("§5.3: a peer not told the commit index gets an empty request from next_index at once") {
  const auto untold = [](const peer_progress& p, io::time_point now) {
    return next_request_decision(p, 0, 10, now, heartbeat, true);
  };
  peer_progress p = replicating_at(10, t0);
  CHECK(untold(p, t0 + 1ms) == next_request{entries_request{11}});
  // Told, it waits for the interval as before.
  CHECK(decide(p, 0, 10, t0 + 1ms) == next_request{no_request_until{t0 + heartbeat}});
  // With the window full, the reply that frees a slot comes first; the request after it tells.
  for (std::size_t i = 0; i < window; ++i) p.entries_sent(0, t0 + 1ms, 10);
  CHECK(untold(p, t0 + 2ms) == next_request{no_request_until{t0 + 1ms + heartbeat}});
  // A peer being probed, its probe on the way, learns it with the request after the answer.
  const peer_progress probed(10, window);
  peer_progress probing = probed;
  probing.entries_sent(0, t0, 10);
  CHECK(untold(probing, t0 + 1ms) == next_request{no_request_until{t0 + heartbeat}});
}

// ---- Snapshots (§7) ------------------------------------------------------------------------------

TEST_CASE("§7: a peer whose next entry is compacted away gets the snapshot, and heartbeats beside it") {
  const log_window leader = log_of({1, 1, 1, 1, 1}, 20, 1);
  peer_progress p = probing_after(leader, append_rejected{0, 6});
  REQUIRE(p.next_index() == 6);
  CHECK(decide(p, 20, 25, t0 + 1ms) == next_request{snapshot_request{}});
  p.snapshot_started();
  CHECK(p.mode() == replication_mode::snapshotting);
  // Nothing else goes from next_index while it is on its way, but heartbeats do, anchored at the
  // snapshot's index since the match lies in the compacted prefix.
  CHECK(decide(p, 20, 25, t0 + 1ms) == next_request{no_request_until{t0 + heartbeat}});
  CHECK(decide(p, 20, 25, t0 + heartbeat) == next_request{heartbeat_request{20}});
}

TEST_CASE("§7: the snapshot waits out the pause of a failed request") {
  peer_progress p = replicating_at(3);
  p.entries_sent(2, t0 + 1ms, 10);
  p.failed(t0 + 1ms, heartbeat, true);
  REQUIRE(p.next_index() == 4);
  // The log was compacted through 8 meanwhile.
  CHECK(decide(p, 8, 10, t0 + 2ms) == next_request{no_request_until{t0 + 1ms + heartbeat}});
  CHECK(decide(p, 8, 10, t0 + 1ms + heartbeat) == next_request{snapshot_request{}});
}

TEST_CASE("§7: a delivered snapshot moves the peer's match to its last index; it is probed after") {
  const log_window leader = log_of({1, 1, 1, 1, 1}, 20, 1);
  peer_progress p = probing_after(leader, append_rejected{0, 6});
  p.snapshot_started();
  p.snapshot_finished(true, 20, t0 + 1ms, heartbeat);
  CHECK(p.mode() == replication_mode::probing);
  CHECK(p.match_index() == 20);
  CHECK(p.next_index() == 21);
  CHECK_FALSE(p.paused(t0 + 2ms));
  CHECK(decide(p, 20, 25, t0 + 2ms) == next_request{entries_request{21}});
  p.entries_sent(5, t0 + 2ms, 25);
  CHECK(p.accepted(25, true, 25));
  CHECK(p.mode() == replication_mode::replicating);
}

TEST_CASE("§7: a failed snapshot leaves the match, pauses, and then the snapshot goes again") {
  const log_window leader = log_of({1, 1, 1, 1, 1}, 20, 1);
  peer_progress p = probing_after(leader, append_rejected{0, 6});
  p.snapshot_started();
  const io::time_point chunk_sent = t0 + 7ms;
  p.snapshot_finished(false, 20, chunk_sent, heartbeat);
  CHECK(p.mode() == replication_mode::probing);
  CHECK(p.match_index() == 0);
  CHECK(p.next_index() == 1);
  CHECK(p.paused_until() == chunk_sent + heartbeat);
  CHECK(decide(p, 20, 25, chunk_sent + 1ms) == next_request{no_request_until{t0 + heartbeat}});
  CHECK(decide(p, 20, 25, chunk_sent + heartbeat) == next_request{snapshot_request{}});
}

TEST_CASE("§7: while the snapshot is on its way, an older append's success moves the match only") {
  const log_window leader = log_of({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 20, 1);
  peer_progress p = replicating_at(5);
  p.entries_sent(3, t0 + 1ms, 30);  // 6..8
  p.entries_sent(3, t0 + 1ms, 30);  // 9..11
  // The second request overtook the first: the peer's log ends at 5, so it rejects.
  p.rejected(8, append_rejected{0, 6}, true, leader);
  // Meanwhile the leader compacted through 20; next_index 6 lies in the snapshot.
  REQUIRE(decide(p, 20, 30, t0 + 2ms) == next_request{snapshot_request{}});
  p.snapshot_started();
  // Answers to older requests come in: a heartbeat's failure and rejection change nothing, the
  // first request's success moves the match.
  p.failed(t0 + 1ms, heartbeat, false);
  CHECK_FALSE(p.paused(t0 + 2ms));
  p.rejected(9, append_rejected{0, 6}, false, leader);
  CHECK(p.mode() == replication_mode::snapshotting);
  CHECK(p.accepted(8, true, 30));
  CHECK(p.match_index() == 8);
  CHECK(p.mode() == replication_mode::snapshotting);
  CHECK(p.in_flight() == 0);
}

// ---- Invariants in code --------------------------------------------------------------------------

TEST_CASE("Invariants: a peer acknowledging entries beyond the leader's log is a broken invariant") {
  peer_progress p(10, window);
  p.entries_sent(0, t0, 10);
  const std::string what = broken_invariant([&] { p.accepted(11, true, 10); });
  CHECK(what.starts_with("coraft: invariant broken: a peer acknowledges entries the leader lacks ("));
  CHECK(what.find("progress.hpp:") != std::string::npos);
}

TEST_CASE("Invariants: a second snapshot, or the end of one never started, is a broken invariant") {
  peer_progress p(10, window);
  CHECK(broken_invariant([&] { p.snapshot_finished(true, 5, t0, heartbeat); }) != "");
  p.snapshot_started();
  CHECK(broken_invariant([&] { p.snapshot_started(); }) != "");
  CHECK(broken_invariant([&] { p.entries_sent(1, t0, 10); }) != "");
}

TEST_CASE("Invariants: entries beyond the window, to a paused peer or past the log are refused") {
  peer_progress p(10, window);
  p.entries_sent(0, t0, 10);  // the probe: the window of one is full
  CHECK(broken_invariant([&] { p.entries_sent(0, t0, 10); }) != "");
  CHECK(p.accepted(10, true, 10));
  // Replicating, next_index 11: five entries would take it past a log that ends at 12.
  CHECK(broken_invariant([&] { p.entries_sent(5, t0, 12); }) != "");
  peer_progress q = replicating_at(10);
  q.entries_sent(1, t0, 20);
  q.failed(t0, heartbeat, true);
  CHECK(broken_invariant([&] { q.entries_sent(1, t0 + 1ms, 20); }) != "");
  // An answer to a request from next_index that was never sent.
  peer_progress r = replicating_at(10);
  CHECK(broken_invariant([&] { r.ignored(true); }) != "");
}
