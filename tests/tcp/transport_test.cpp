// The TCP transport on the io_uring executor, over real loopback connections.
#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/io/stream_ops.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/transport/tcp_transport.hpp>
#include <coraft/wire/size.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using namespace coraft;
using executor = io::uring_executor;
using transport = raft::tcp_transport<executor>;

namespace {

raft::bytes patterned(std::size_t size, std::size_t seed) {
  raft::bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
  return out;
}

// How the test peer answers: enough arithmetic on each request that a reply proves which request
// it answers and that the request arrived intact.
raft::rpc_reply answer(const raft::rpc_request& request) {
  if (const auto* vote = std::get_if<raft::request_vote_args>(&request))
    return raft::request_vote_reply{vote->term, vote->candidate == 7};
  if (const auto* append = std::get_if<raft::append_entries_args>(&request)) {
    bool intact = true;
    for (std::size_t i = 0; i < append->entries.size(); ++i)
      intact = intact && append->entries[i].payload ==
                             patterned(append->entries[i].payload.size(), append->prev_log_index + i);
    raft::append_entries_reply reply;
    reply.term = append->term;
    reply.success = intact;
    reply.match_index = append->prev_log_index + append->entries.size();
    return reply;
  }
  if (const auto* pre_vote = std::get_if<raft::pre_vote_args>(&request))
    return raft::pre_vote_reply{pre_vote->term - 1, pre_vote->last_log_index == 10};
  if (const auto* timeout_now = std::get_if<raft::timeout_now_args>(&request))
    return raft::timeout_now_reply{timeout_now->term, timeout_now->leader == 1};
  if (const auto* read = std::get_if<raft::read_index_args>(&request))
    return raft::read_index_reply{read->term, read->reader == 2, 40 + read->term};
  const auto& snapshot = std::get<raft::install_snapshot_args>(request);
  return raft::install_snapshot_reply{snapshot.term, snapshot.data == patterned(snapshot.data.size(), 3)};
}

// Answers every request `t` receives, at once. Ends when cancelled.
co::task<void> answer_all(transport& t) {
  while (true) {
    auto rpc = co_await t.receive();
    if (!rpc) co_return;
    rpc->respond(answer(rpc->request));
  }
}

// Resumes once `t` is connected to `peer`; fails the test after five seconds.
co::task<void> until_connected(executor& ex, transport& t, raft::node_id peer) {
  const auto deadline = ex.now() + 5s;
  while (!t.connected_to(peer)) {
    REQUIRE(ex.now() < deadline);
    (void)co_await ex.sleep_for(1ms);
  }
}

raft::append_entries_args append_of(raft::term_t term, raft::index_t prev, std::size_t count,
                                    std::size_t payload_size) {
  raft::append_entries_args args;
  args.term = term;
  args.leader = 1;
  args.prev_log_index = prev;
  for (std::size_t i = 0; i < count; ++i)
    args.entries.push_back({term, raft::entry_kind::command, patterned(payload_size, prev + i)});
  return args;
}

// Two transports on one executor: node 1 calls, node 2 answers (unless a test says otherwise).
struct two_nodes {
  executor ex;
  std::map<raft::node_id, io::endpoint> members = tcp_test::loopback_members(2);
  std::shared_ptr<std::vector<std::string>> log = std::make_shared<std::vector<std::string>>();
  raft::tcp::options options = quick_options(log);
  std::optional<transport> caller, callee;
  co::scope running{ex};
  std::optional<co::scope> callee_scope;

  static raft::tcp::options quick_options(std::shared_ptr<std::vector<std::string>> log) {
    raft::tcp::options o;
    o.rpc_timeout = 300ms;
    o.reconnect_min = 2ms;
    o.reconnect_max = 20ms;
    o.hello_timeout = 200ms;
    o.log = [log](const std::string& line) { log->push_back(line); };
    return o;
  }

  void start_caller() {
    caller.emplace(ex, 1, members, options);
    REQUIRE(caller->listen().has_value());
    running.spawn(caller->run());
  }
  // Starts node 2; with `answering`, a coroutine answers everything it receives.
  void start_callee(bool answering = true) {
    callee.emplace(ex, 2, members, options);
    REQUIRE(callee->listen().has_value());
    callee_scope.emplace(ex);
    callee_scope->spawn(callee->run());
    if (answering) callee_scope->spawn(answer_all(*callee));
  }
  void stop_callee() {
    callee_scope->request_stop();
    callee_scope->run_until_idle();
    callee_scope.reset();
    callee.reset();
  }
  bool logged(const std::string& part) const {
    for (const auto& line : *log)
      if (line.find(part) != std::string::npos) return true;
    return false;
  }
  ~two_nodes() {
    if (callee_scope) stop_callee();
    running.request_stop();
    running.run_until_idle();
  }
};

}  // namespace

TEST_CASE("tcp transport: each kind of call gets its reply, large batches intact") {
  two_nodes t;
  t.start_caller();
  t.start_callee();
  co::block_on(t.ex, [](two_nodes* t) -> co::task<void> {
    co_await until_connected(t->ex, *t->caller, 2);

    const raft::request_vote_args vote{5, 7, 10, 4};
    auto voted = co_await t->caller->call(2, vote);
    REQUIRE(voted.has_value());
    CHECK(voted->term == 5);
    CHECK(voted->vote_granted);

    // 300 entries of 4 KiB: the payloads go out by gathered writes, from where they live.
    raft::append_entries_args large = append_of(6, 100, 300, 4096);
    auto appended = co_await t->caller->call(2, std::move(large));
    REQUIRE(appended.has_value());
    CHECK(appended->success);
    CHECK(appended->match_index == 400);

    // Small payloads are copied into the frame; the result is the same.
    raft::append_entries_args small = append_of(6, 400, 50, 100);
    auto small_reply = co_await t->caller->call(2, std::move(small));
    REQUIRE(small_reply.has_value());
    CHECK(small_reply->success);

    raft::install_snapshot_args snapshot;
    snapshot.term = 6;
    snapshot.leader = 1;
    snapshot.data = patterned(300'000, 3);
    auto installed = co_await t->caller->call(2, std::move(snapshot));
    REQUIRE(installed.has_value());
    CHECK(installed->accepted);

    auto pre_voted = co_await t->caller->call(2, raft::pre_vote_args{8, 7, 10, 4});
    REQUIRE(pre_voted.has_value());
    CHECK(pre_voted->term == 7);
    CHECK(pre_voted->vote_granted);

    auto timed_out = co_await t->caller->call(2, raft::timeout_now_args{6, 1});
    REQUIRE(timed_out.has_value());
    CHECK(timed_out->term == 6);
    CHECK(timed_out->accepted);

    auto read = co_await t->caller->call(2, raft::read_index_args{.term = 6, .reader = 2});
    REQUIRE(read.has_value());
    CHECK(read->success);
    CHECK(read->read_index == 46);
  }(&t));
  CHECK(t.caller->statistics().requests_sent == 7);
  CHECK(t.callee->statistics().requests_received == 7);
  CHECK(t.callee->statistics().connections_accepted == 1);
}

// An AppendEntries of one entry whose encoding takes exactly `size` bytes.
raft::append_entries_args append_of_size(std::size_t size) {
  raft::append_entries_args args = append_of(6, 100, 1, 0);
  std::size_t payload = size - wire::encoded_size(args);
  args.entries[0].payload = patterned(payload, 100);
  while (wire::encoded_size(args) > size) args.entries[0].payload = patterned(--payload, 100);
  REQUIRE(wire::encoded_size(args) == size);
  return args;
}

TEST_CASE("tcp transport: a message of max_message_bytes fits a frame with any call id; a larger frame fails at once") {
  two_nodes t;
  t.options.frames.max_payload_size = 64 * 1024;
  t.start_caller();
  t.start_callee();
  const std::size_t largest = t.caller->max_message_bytes();
  CHECK(largest < t.options.frames.max_payload_size);

  // With the widest call id, the largest message fills the frame exactly.
  std::vector<std::byte> frame;
  const raft::tcp::envelope<raft::append_entries_args> widest{
      std::numeric_limits<std::uint64_t>::max(), append_of_size(largest)};
  CHECK(wire::encode_frame<raft::tcp::protocol>(widest, frame, t.options.frames).has_value());
  CHECK(frame.size() == wire::frame_header_size + t.options.frames.max_payload_size);
  const raft::tcp::envelope<raft::append_entries_args> wider{
      std::numeric_limits<std::uint64_t>::max(), append_of_size(largest + 1)};
  CHECK(wire::encode_frame<raft::tcp::protocol>(wider, frame, t.options.frames).error() ==
        wire::errc::too_large);

  co::block_on(t.ex, [](two_nodes* t, std::size_t largest) -> co::task<void> {
    co_await until_connected(t->ex, *t->caller, 2);
    auto fits = co_await t->caller->call(2, append_of_size(largest));
    REQUIRE(fits.has_value());
    CHECK(fits->success);
    const auto before = t->ex.now();
    auto refused = co_await t->caller->call(2, append_of_size(t->options.frames.max_payload_size + 1));
    CHECK(refused.error() == raft::errc::unreachable);
    CHECK(t->ex.now() - before < t->options.rpc_timeout);  // at once, not by timing out
  }(&t, largest));
  CHECK(t.caller->statistics().requests_too_large == 1);
  CHECK(t.caller->statistics().largest_request_frame <= t.options.frames.max_payload_size);
  CHECK(t.caller->statistics().largest_request_frame >= largest);
}

TEST_CASE("tcp transport: pipelined calls get their own replies, in whatever order they come") {
  two_nodes t;
  t.start_caller();
  t.start_callee(/*answering=*/false);
  constexpr int calls = 64;
  int matched = 0;
  co::block_on(t.ex, [](two_nodes* t, int* matched) -> co::task<void> {
    co_await until_connected(t->ex, *t->caller, 2);
    co::scope callers(co_await co::current_context());
    for (int i = 1; i <= calls; ++i) {
      callers.spawn([](two_nodes* t, int i, int* matched) -> co::task<void> {
        raft::append_entries_args args = append_of(static_cast<raft::term_t>(i), 0, 1, 2000);
        auto reply = co_await t->caller->call(2, std::move(args));
        if (reply && reply->term == static_cast<raft::term_t>(i) && reply->success) ++*matched;
      }(t, i, matched));
    }
    // The peer takes every request before answering any, then answers them last to first.
    std::vector<raft::inbound_rpc> received;
    while (received.size() < calls) received.push_back(std::move(*(co_await t->callee->receive())));
    for (auto it = received.rbegin(); it != received.rend(); ++it) it->respond(answer(it->request));
    co_await callers.join();
  }(&t, &matched));
  CHECK(matched == calls);
  // Several requests shared a write: the caller queued them faster than the socket took them.
  CHECK(t.caller->statistics().request_writes < calls);
}

TEST_CASE("tcp transport: a call without a reply times out, one to a peer that is down fails at once") {
  two_nodes t;
  t.start_caller();
  t.start_callee(/*answering=*/false);
  co::block_on(t.ex, [](two_nodes* t) -> co::task<void> {
    co_await until_connected(t->ex, *t->caller, 2);
    const auto start = t->ex.now();
    const raft::request_vote_args vote{1, 1, 0, 0};
    auto unanswered = co_await t->caller->call(2, vote);
    CHECK(unanswered.error() == raft::errc::unreachable);
    CHECK(t->ex.now() - start >= 300ms);

    // A node that is not running: the call fails without waiting for the timeout.
    const auto again = t->ex.now();
    auto nobody_home = co_await t->caller->call(3, vote);
    CHECK(nobody_home.error() == raft::errc::unreachable);
    CHECK(t->ex.now() - again < 300ms);
  }(&t));
}

TEST_CASE("tcp transport: each call times out rpc_timeout after it was made, one timer serving them all") {
  two_nodes t;
  t.start_caller();
  t.start_callee(/*answering=*/false);
  co::block_on(t.ex, [](two_nodes* t) -> co::task<void> {
    co_await until_connected(t->ex, *t->caller, 2);
    struct unanswered_call {
      io::time_point made{}, failed{};
    };
    auto call = [](two_nodes* t, unanswered_call* c) -> co::task<void> {
      c->made = t->ex.now();
      auto reply = co_await t->caller->call(2, raft::request_vote_args{1, 1, 0, 0});
      CHECK(reply.error() == raft::errc::unreachable);
      c->failed = t->ex.now();
    };
    unanswered_call first, second, third;
    co::scope calls(co_await co::current_context());
    calls.spawn(call(t, &first));
    (void)co_await t->ex.sleep_for(100ms);
    calls.spawn(call(t, &second));
    (void)co_await t->ex.sleep_for(50ms);
    calls.spawn(call(t, &third));
    co_await calls.join();
    for (const unanswered_call* c : {&first, &second, &third}) CHECK(c->failed - c->made >= 300ms);
    CHECK(first.failed < second.failed);
    CHECK(second.failed < third.failed);
    CHECK(t->caller->statistics().calls_timed_out == 3);
  }(&t));
}

TEST_CASE("tcp transport: a restarted peer is reconnected with backoff and calls work again") {
  two_nodes t;
  t.start_caller();
  t.start_callee();
  auto round_trip = [](two_nodes* t) -> co::task<bool> {
    co_await until_connected(t->ex, *t->caller, 2);
    const raft::request_vote_args vote{9, 7, 0, 0};
    auto reply = co_await t->caller->call(2, vote);
    co_return reply.has_value() && reply->vote_granted;
  };
  CHECK(co::block_on(t.ex, round_trip(&t)));
  t.stop_callee();
  co::block_on(t.ex, [](two_nodes* t) -> co::task<void> {
    // The caller notices the loss; calls fail at once while it reconnects.
    while (t->caller->connected_to(2)) (void)co_await t->ex.sleep_for(1ms);
    const raft::request_vote_args vote{9, 7, 0, 0};
    auto down = co_await t->caller->call(2, vote);
    CHECK(down.error() == raft::errc::unreachable);
    // Several reconnect attempts fail (refused) while the peer is down.
    (void)co_await t->ex.sleep_for(60ms);
  }(&t));
  t.start_callee();
  CHECK(co::block_on(t.ex, round_trip(&t)));
  CHECK(t.caller->statistics().connections_opened == 2);
  CHECK(t.caller->statistics().calls_refused >= 1);
}

namespace {

// Connects to `to` as a raw client, sends `bytes`, and reports whether the server then closed the
// connection (end of stream or reset) within two seconds.
co::task<bool> send_and_see_closed(executor& ex, io::endpoint to, std::vector<std::byte> bytes) {
  auto connection = co_await ex.connect(to);
  REQUIRE(connection.has_value());
  const std::span<const std::byte> out(bytes);
  (void)co_await io::write_all(ex, *connection, out);
  std::vector<std::byte> sink(4096);
  const auto deadline = ex.now() + 2s;
  while (ex.now() < deadline) {
    const std::span<std::byte> in(sink);
    auto got = co_await co::when_any(ex.recv(*connection, in), ex.sleep_for(50ms));
    if (got.index() == 0 && (!std::get<0>(got) || *std::get<0>(got) == 0)) co_return true;
  }
  co_return false;
}

std::vector<std::byte> frame_of(const raft::tcp::protocol::message& message) {
  std::vector<std::byte> out;
  REQUIRE(wire::encode_frame<raft::tcp::protocol>(message, out).has_value());
  return out;
}

}  // namespace

TEST_CASE("tcp transport: a peer sending garbage is logged and cut off; the others are served") {
  two_nodes t;
  t.start_caller();
  t.start_callee();
  const io::endpoint callee_address = t.members[2];

  // Random bytes instead of a hello.
  std::vector<std::byte> garbage;
  for (int i = 0; i < 64; ++i) garbage.push_back(static_cast<std::byte>(i * 37 + 11));
  CHECK(co::block_on(t.ex, send_and_see_closed(t.ex, callee_address, garbage)));
  CHECK(t.logged("bad hello"));

  // A hello meant for another node. (One from a member this node does not know is served: a
  // member waiting to join hears first from a leader it has never heard of.)
  raft::tcp::hello misdirected{1, 9};
  CHECK(co::block_on(t.ex, send_and_see_closed(t.ex, callee_address, frame_of(misdirected))));
  CHECK(t.logged("not for node 2"));

  // A proper hello, then a frame header announcing a gigabyte: refused from the header alone.
  auto oversized = frame_of(raft::tcp::hello{1, 2});
  auto header = frame_of(raft::tcp::hello{1, 2});
  header[6] = std::byte{0};
  header[7] = std::byte{0};
  header[8] = std::byte{0};
  header[9] = std::byte{0x40};
  oversized.insert(oversized.end(), header.begin(), header.begin() + wire::frame_header_size);
  CHECK(co::block_on(t.ex, send_and_see_closed(t.ex, callee_address, oversized)));
  CHECK(t.logged("too large"));

  // A proper hello, then a request with a flipped byte: a checksum error.
  auto corrupt = frame_of(raft::tcp::hello{1, 2});
  raft::tcp::envelope<raft::request_vote_args> vote{1, {3, 1, 0, 0}};
  auto vote_frame = frame_of(vote);
  vote_frame.back() ^= std::byte{0x01};
  corrupt.insert(corrupt.end(), vote_frame.begin(), vote_frame.end());
  CHECK(co::block_on(t.ex, send_and_see_closed(t.ex, callee_address, corrupt)));
  CHECK(t.callee->statistics().connections_refused == 4);

  // Node 1's own connection was never disturbed.
  CHECK(co::block_on(t.ex, [](two_nodes* t) -> co::task<bool> {
    const raft::request_vote_args ask{4, 7, 0, 0};
    auto reply = co_await t->caller->call(2, ask);
    co_return reply.has_value() && reply->vote_granted;
  }(&t)));
}

TEST_CASE("tcp transport: a peer that stops reading costs bounded memory; calls are refused") {
  two_nodes t;
  t.options.max_queued_bytes_per_peer = 4u << 20;
  t.options.rpc_timeout = 10s;
  t.start_caller();
  // Node 2's address is a listener that accepts and then never reads a byte.
  auto silent = t.ex.listen(t.members[2]).value();
  std::optional<executor::stream> accepted;
  co::scope acceptor(t.ex);
  acceptor.spawn([](executor* ex, executor::listener* l, std::optional<executor::stream>* out)
                     -> co::task<void> {
    auto s = co_await ex->accept(*l);
    if (s) out->emplace(std::move(*s));
  }(&t.ex, &silent, &accepted));

  std::size_t peak_queued = 0;
  co::block_on(t.ex, [](two_nodes* t, std::size_t* peak) -> co::task<void> {
    co_await until_connected(t->ex, *t->caller, 2);
    co::scope callers(co_await co::current_context());
    // 200 snapshot chunks of 256 KiB: 50 MiB offered to a peer that reads nothing.
    for (int i = 0; i < 200; ++i) {
      callers.spawn([](two_nodes* t) -> co::task<void> {
        raft::install_snapshot_args chunk;
        chunk.term = 1;
        chunk.data = patterned(256 * 1024, 3);
        (void)co_await t->caller->call(2, std::move(chunk));
      }(t));
      *peak = std::max(*peak, t->caller->queued_bytes(2));
      (void)co_await t->ex.sleep_for(100us);
    }
    (void)co_await t->ex.sleep_for(50ms);
    callers.request_stop();
    co_await callers.join();
  }(&t, &peak_queued));
  CHECK(peak_queued > 0);
  CHECK(peak_queued <= (4u << 20));
  CHECK(t.caller->statistics().calls_refused > 100);
  acceptor.request_stop();
  acceptor.run_until_idle();
}
