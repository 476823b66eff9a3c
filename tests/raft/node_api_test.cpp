// The node's public API, on small simulated clusters (of both stacks): propose, start, status, the apply channel's
// back-pressure, and shutdown.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "cluster.hpp"
#include "seeds.hpp"

using namespace coraft;
using namespace coraft::test;

namespace {

// One node on its own: it elects itself and commits alone.
struct lone_node {
  sim::world world{7};
  sim::network network{world};
  raft_wires wires{&network};
  sim_board board{wires};
  raft::memory_disk disk;
  sim_storage storage{world, disk, 500us};
  sim_transport transport{board, world, 1, 100ms};
  sim_node node;
  co::scope life{world};

  explicit lone_node(raft::options o = lab_options()) : node(world, transport, storage, 1, {}, o) {
    network.add_host("n1");
    life.spawn(node.run());
  }
  ~lone_node() {
    life.request_stop();
    while (life.size() > 0) world.step();
  }
  void run_for(io::duration d) { world.run_for(d); }
};

// Proposes `text` on `node` and stores the outcome in `out`; ends with the outcome.
co::task<void> propose_into(sim_node* node, std::string text,
                            std::optional<co::result<raft::proposal>>* out) {
  out->emplace(co_await node->propose(raft::to_bytes(text)));
}

}  // namespace

TEST_CASE("API: a lone node elects itself, and propose resumes once the entry is committed") {
  lone_node n;
  n.run_for(1s);
  CHECK(n.node.status().role == raft::role::leader);
  CHECK(n.node.status().leader == 1);
  std::optional<co::result<raft::proposal>> outcome;
  co::scope client(n.world);
  client.spawn(propose_into(&n.node, "hello", &outcome));
  n.run_for(100ms);
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->has_value());
  // After the leader's no-op and the configuration entry recording its incarnation.
  CHECK((*outcome)->index == 3);
  CHECK((*outcome)->term == n.node.status().term);
  auto st = n.node.status();
  CHECK(st.commit_index == 3);
  CHECK(st.last_index == 3);
  CHECK(st.first_index == 1);
  CHECK(st.config.members.at(0).incarnation == st.incarnation);
  CHECK(st.incarnation != 0);
  // The no-op, the configuration and the command wait in the apply channel, in order.
  auto first = n.node.applied().try_recv();
  auto second = n.node.applied().try_recv();
  auto third = n.node.applied().try_recv();
  REQUIRE(first);
  REQUIRE(second);
  REQUIRE(third);
  CHECK(first->kind == raft::entry_kind::no_op);
  CHECK(second->kind == raft::entry_kind::configuration);
  CHECK(third->index == 3);
  CHECK(raft::to_string(third->payload) == "hello");
  CHECK(n.disk.durable.entries.size() == 3);  // durable before it was acknowledged
}

// A caller cancelled around the step its proposal is settled in (a scope stopped as the commit
// lands: cancelled first and settled before it runs again, or the reverse) leaves nothing behind
// in the node, whichever comes first. Tried at every step from the proposal to its commit.
TEST_CASE("API: a proposal cancelled at any step up to its commit") {
  for (int cancel_after = 0;; ++cancel_after) {
    CAPTURE(cancel_after);
    lone_node n;
    n.run_for(1s);
    REQUIRE(n.node.status().role == raft::role::leader);
    const raft::index_t index = n.node.status().last_index + 1;
    std::optional<co::result<raft::proposal>> outcome;
    co::scope client(n.world);
    client.spawn(propose_into(&n.node, "hello", &outcome));
    REQUIRE(n.node.status().last_index == index);  // appended at once
    for (int i = 0; i < cancel_after && !outcome; ++i) n.world.step();
    const bool committed_before = n.node.status().commit_index >= index;
    client.request_stop();
    client.run_until_idle();
    REQUIRE(outcome.has_value());
    if (committed_before) REQUIRE_MESSAGE(outcome->has_value(), outcome->error().message());
    // The node goes on: another proposal commits, and the node holds no trace of the first.
    std::optional<co::result<raft::proposal>> next;
    co::scope again(n.world);
    again.spawn(propose_into(&n.node, "again", &next));
    n.run_for(100ms);
    REQUIRE(next.has_value());
    REQUIRE(next->has_value());
    if (committed_before && outcome->has_value()) break;  // every step up to the commit was tried
  }
}

TEST_CASE("API: the apply channel is bounded: a stalled application stalls applying, not committing") {
  raft::options o = lab_options();
  o.apply_capacity = 3;
  lone_node n(o);
  n.run_for(1s);
  REQUIRE(n.node.status().role == raft::role::leader);
  for (int i = 0; i < 10; ++i) CHECK(n.node.start(command(i)).is_leader);
  n.run_for(200ms);
  auto st = n.node.status();
  CHECK(st.commit_index == 12);  // the no-op, the configuration entry and ten commands
  CHECK(st.last_applied == 3);  // three buffered, the fourth waits for room
  CHECK(n.node.applied().size() == 3);
  for (int i = 0; i < 3; ++i) (void)n.node.applied().try_recv();
  n.run_for(10ms);
  CHECK(n.node.status().last_applied == 6);
}

TEST_CASE("API: a follower refuses proposals and names the leader it knows") {
  for (stack on : stacks_to_run()) {
    CAPTURE(to_string(on));
    cluster c(simulation{on, 11}, 3);
    int leader = c.check_one_leader();
    int follower = (leader + 1) % 3;
    std::optional<co::result<raft::proposal>> outcome;
    co::scope client(c.world());
    client.spawn([](test::member* node, std::optional<co::result<raft::proposal>>* out) -> co::task<void> {
      out->emplace(co_await node->propose(raft::to_bytes("x")));
    }(c.node(follower), &outcome));
    REQUIRE(outcome.has_value());
    CHECK(outcome->error() == raft::errc::not_leader);
    CHECK(c.node(follower)->status().leader == cluster::id(leader));
    auto r = c.node(follower)->start(raft::to_bytes("y"));
    CHECK_FALSE(r.is_leader);
  }
}

TEST_CASE("API: a leader that loses its leadership learns, as a follower, that its proposal was overwritten") {
  for (stack on : stacks_to_run()) {
    CAPTURE(to_string(on));
    cluster c(simulation{on, 12}, 3);
    int leader = c.check_one_leader();
    c.disconnect(leader);
    std::optional<co::result<raft::proposal>> outcome;
    co::scope client(c.world());
    client.spawn([](test::member* node, std::optional<co::result<raft::proposal>>* out) -> co::task<void> {
      out->emplace(co_await node->propose(raft::to_bytes("lost")));
    }(c.node(leader), &outcome));
    c.sleep(2s);  // the others elect a new leader meanwhile
    CHECK_FALSE(outcome.has_value());  // still waiting: it cannot know yet
    c.connect(leader);                 // it hears of the higher term and steps down
    c.sleep(1s);
    REQUIRE(outcome.has_value());
    CHECK(outcome->error() == raft::errc::entry_overwritten);
    CHECK(outcome->error() == raft::proposal_outcome::not_committed);
  }
}

TEST_CASE("API: shutdown ends every coroutine of the node, fails pending proposals, closes the apply channel") {
  for (stack on : stacks_to_run()) {
    CAPTURE(to_string(on));
    cluster c(simulation{on, 13}, 3);
    int leader = c.check_one_leader();
    for (int i = 0; i < 3; ++i)
      if (i != leader) c.disconnect(i);  // nothing can commit any more
    std::optional<co::result<raft::proposal>> outcome;
    bool shut = false;
    co::scope client(c.world());
    client.spawn([](test::member* node, std::optional<co::result<raft::proposal>>* out) -> co::task<void> {
      out->emplace(co_await node->propose(raft::to_bytes("pending")));
    }(c.node(leader), &outcome));
    c.sleep(100ms);
    CHECK_FALSE(outcome.has_value());
    client.spawn([](test::member* node, bool* done) -> co::task<void> {
      co_await node->shutdown();
      *done = true;
    }(c.node(leader), &shut));
    c.sleep(10ms);
    CHECK(shut);
    REQUIRE(outcome.has_value());
    CHECK(outcome->error() == raft::errc::shut_down);
    CHECK(c.node(leader)->applied().closed());
  }
}

namespace {

// Follows one member's view of leadership through role_change(), as an application would: each
// status it resumes with, until the node stops (the error then).
co::task<void> follow_leadership(test::member* node, std::vector<raft::node_status>* seen,
                                 std::error_code* ended) {
  raft::node_status known = node->status();
  for (;;) {
    auto next = co_await node->role_change(known);
    if (!next) {
      *ended = next.error();
      co_return;
    }
    seen->push_back(*next);
    known = *next;
  }
}

}  // namespace

TEST_CASE("API: role_change resumes at each change of term, role or leader, and with shut_down at the end") {
  for (stack on : stacks_to_run()) {
    CAPTURE(to_string(on));
    cluster c(simulation{on, 14}, 3);
    const int leader = c.check_one_leader();
    // The two others: one of them wins the next election, the other follows it.
    const int watched[2] = {(leader + 1) % 3, (leader + 2) % 3};
    raft::node_status before[2];
    std::vector<raft::node_status> seen[2];
    std::error_code ended[2];
    co::scope app(c.world());
    for (int k = 0; k < 2; ++k) {
      before[k] = c.node(watched[k])->status();
      app.spawn(follow_leadership(c.node(watched[k]), &seen[k], &ended[k]));
    }
    c.sleep(1s);
    CHECK(seen[0].empty());  // a stable leader: nothing changes, nothing resumes
    CHECK(seen[1].empty());

    c.disconnect(leader);  // the other two elect a new leader among themselves
    c.sleep(3s);
    const int next_leader = c.check_one_leader();
    CHECK(next_leader != leader);
    for (int k = 0; k < 2; ++k) {
      CAPTURE(watched[k]);
      REQUIRE_FALSE(seen[k].empty());
      // Each resumption differs from the one before, terms never go back, and the last is now.
      raft::node_status previous = before[k];
      for (const auto& s : seen[k]) {
        CHECK(s.term >= previous.term);
        CHECK((s.term != previous.term || s.role != previous.role || s.leader != previous.leader));
        previous = s;
      }
      const raft::node_status now = c.node(watched[k])->status();
      CHECK(previous.term == now.term);
      CHECK(previous.role == now.role);
      CHECK(previous.leader == now.leader);
      CHECK(now.leader == cluster::id(next_leader));
    }

    // A status already out of date resumes at once.
    std::optional<co::result<raft::node_status>> at_once;
    app.spawn([](test::member* node, raft::node_status stale,
                 std::optional<co::result<raft::node_status>>* out) -> co::task<void> {
      out->emplace(co_await node->role_change(stale));
    }(c.node(watched[0]), before[0], &at_once));
    REQUIRE(at_once.has_value());
    REQUIRE(at_once->has_value());
    CHECK((*at_once)->term == c.node(watched[0])->status().term);

    bool shut = false;
    app.spawn([](test::member* node, bool* done) -> co::task<void> {
      co_await node->shutdown();
      *done = true;
    }(c.node(watched[0]), &shut));
    c.sleep(10ms);
    CHECK(shut);
    CHECK(ended[0] == raft::errc::shut_down);
    CHECK_FALSE(ended[1]);  // still following
    app.request_stop();
  }
}
