// hello — one member of a Raft cluster that replicates lines of text.
//
//   hello --id 1 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data /tmp/hello-1
//
// Start one per member. The leader proposes each line of its standard input; followers ignore
// theirs. Every member prints each committed line, in the same order. A member restarted from its
// data directory prints the whole history again: first the lines its latest snapshot holds, then
// those of its log. Leadership changes are reported on standard error.
#include <coraft/co/scope.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/server/server.hpp>
#include <coraft/wire/codec.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using executor = coraft::io::uring_executor;
using server = coraft::raft::server<executor>;
using history = std::vector<std::string>;  // the replicated state: every line so far

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "hello: %s\n"
               "usage: hello --id N --peers ID=HOST:PORT,... --data DIR [--snapshot-every N]\n",
               problem.c_str());
  std::exit(2);
}

unsigned parse_number(std::string_view text, const char* what) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) usage(std::string("bad ") + what);
  return value;
}

// "1=127.0.0.1:7001,2=127.0.0.1:7002" -> {1: 127.0.0.1:7001, 2: 127.0.0.1:7002}
std::map<coraft::raft::node_id, coraft::io::endpoint> parse_peers(std::string_view text) {
  std::map<coraft::raft::node_id, coraft::io::endpoint> members;
  while (!text.empty()) {
    auto item = text.substr(0, text.find(','));
    text.remove_prefix(std::min(text.size(), item.size() + 1));
    auto equals = item.find('=');
    if (equals == std::string_view::npos) usage("bad --peers item: " + std::string(item));
    auto address = coraft::io::endpoint::parse(item.substr(equals + 1));
    if (!address) usage("bad address: " + std::string(item.substr(equals + 1)));
    members[parse_number(item.substr(0, equals), "peer id")] = *address;
  }
  return members;
}

// Prints committed lines as they are applied, and snapshots the history every `snapshot_every`
// lines. Awaits the node's apply channel; ends when the node stops.
coraft::co::task<void> print_applied(server& s, std::size_t snapshot_every) {
  history lines;
  while (auto entry = co_await s.node().applied().recv()) {
    if (entry->is_snapshot) {
      // The history up to some point: this member's own snapshot after a restart, or the leader's
      // when this member fell behind. What was printed already is a prefix of it.
      history snapshot = coraft::wire::decode<history>(entry->payload).value();
      std::fprintf(stderr, "hello: snapshot of %zu lines through entry %llu\n", snapshot.size(),
                   static_cast<unsigned long long>(entry->index));
      for (std::size_t i = lines.size(); i < snapshot.size(); ++i)
        std::printf("%s\n", snapshot[i].c_str());
      lines = std::move(snapshot);
    } else if (entry->kind == coraft::raft::entry_kind::command) {
      lines.push_back(coraft::raft::to_string(entry->payload));
      std::printf("%s\n", lines.back().c_str());
      if (lines.size() % snapshot_every == 0)
        s.node().snapshot(entry->index, coraft::wire::encode(lines));
    }
    std::fflush(stdout);
  }
}

// Reports on standard error whenever this member starts or stops leading. Awaits each change of
// the node's term, role or leader; ends when the node stops, or when cancelled.
coraft::co::task<void> report_leadership(server& s) {
  auto known = s.node().status();
  bool leading = false;
  for (;;) {
    auto changed = co_await s.node().role_change(known);
    if (!changed) co_return;
    known = *changed;
    bool now_leading = known.role == coraft::raft::role::leader;
    if (now_leading != leading) {
      std::fprintf(stderr, "hello: node %u %s in term %llu\n", known.id,
                   now_leading ? "leads" : "no longer leads",
                   static_cast<unsigned long long>(known.term));
    }
    leading = now_leading;
  }
}

// Runs the member; any failure (the address is taken, the data directory is damaged) ends the
// program with a message.
coraft::co::task<void> run_or_exit(server& s) {
  try {
    co_await s.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hello: %s\n", e.what());
    std::fflush(stderr);
    std::_Exit(1);  // the input thread may still be reading: leave at once
  }
}

}  // namespace

int main(int argc, char** argv) {
  coraft::raft::server_config config;
  std::size_t snapshot_every = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i], value = argv[i + 1];
    if (flag == "--id") config.id = parse_number(value, "--id");
    else if (flag == "--peers") config.members = parse_peers(value);
    else if (flag == "--data") config.data_directory = value;
    else if (flag == "--snapshot-every") snapshot_every = parse_number(value, "--snapshot-every");
    else usage("unknown flag " + std::string(flag));
  }
  if (argc % 2 == 0) usage("every flag takes a value");
  if (!config.members.contains(config.id)) usage("--peers must list this member's --id");
  if (config.data_directory.empty()) usage("--data is required");
  if (snapshot_every == 0) usage("--snapshot-every must be at least 1");

  executor ex;
  server s(ex, config);
  coraft::co::scope scope(ex);
  scope.spawn(run_or_exit(s));
  scope.spawn(print_applied(s, snapshot_every));
  scope.spawn(report_leadership(s));

  // Standard input is read on a thread of its own; each line is posted to the executor, whose
  // thread owns the node. Only a leader takes it: start() refuses on a follower.
  std::thread([&ex, &s] {
    for (std::string line; std::getline(std::cin, line);)
      ex.post([&s, line] { (void)s.node().start(coraft::raft::to_bytes(line)); });
  }).detach();

  ex.run();  // until the process is stopped
}
