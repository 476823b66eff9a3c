// soak — an unlimited log in bounded memory and disk: millions of entries through a 3-member
// cluster of real processes, with periodic snapshots, watching each member's resident memory and
// data directory as the log grows.
//
//   soak [--entries 10000000] [--payload 64] [--clients 128] [--snapshot-every 100000]
//        [--segment-mib 16] [--data DIR]
//
// The parent forks one process per member (TCP on loopback, file storage with fsync). Each member
// runs `--clients` proposers that keep proposing while it leads, applies entries to a fixed-size
// state (a count and a checksum), snapshots it every `--snapshot-every` entries, and reports its
// progress on a pipe. The parent samples every member's RSS (VmRSS, VmHWM) and data directory size
// and prints a row each time the cluster passes another tenth of the entries.
#include <coraft/co/scope.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/server/server.hpp>
#include <coraft/wire/codec.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/describe/class.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "free_ports.hpp"

namespace {

using namespace std::chrono_literals;
using executor = coraft::io::uring_executor;
using server = coraft::raft::server<executor>;
using coraft::raft::node_id;

struct settings {
  std::uint64_t entries = 10'000'000;
  std::size_t payload = 64;
  std::size_t clients = 128;
  std::uint64_t snapshot_every = 100'000;
  std::uint64_t segment_mib = 16;
  std::string data;
};

// The replicated state: fixed-size whatever the log's length.
struct machine {
  std::uint64_t commands = 0;
  std::uint64_t checksum = 0;
};
BOOST_DESCRIBE_STRUCT(machine, (), (commands, checksum))

// Proposes entries back to back while this member leads; idles while it follows. Awaits each
// commit (or a 20 ms pause after a refusal); ends when cancelled.
coraft::co::task<void> propose_forever(executor& ex, server& s, std::size_t payload,
                                       std::uint64_t seed) {
  coraft::raft::bytes command(payload);
  for (std::uint64_t n = 0;; ++n) {
    for (std::size_t i = 0; i < std::min<std::size_t>(8, payload); ++i)
      command[i] = static_cast<std::byte>((seed + n) >> (8 * i));
    auto committed = co_await s.node().propose(command);
    if (committed) continue;
    if (coraft::co::is_cancelled(committed.error())) co_return;
    if (!co_await ex.sleep_for(20ms)) co_return;
  }
}

// Applies entries to the machine, snapshots it every `every` entries, and writes "applied N" to
// `report` every 100 ms. Awaits the apply channel; ends when the node stops.
coraft::co::task<void> apply_and_report(executor& ex, server& s, std::uint64_t every, int report) {
  machine state;
  coraft::raft::index_t applied = 0, since_snapshot = 0;
  auto next_report = ex.now();
  while (auto entry = co_await s.node().applied().recv()) {
    applied = entry->index;
    if (entry->is_snapshot) {
      state = coraft::wire::decode<machine>(entry->payload).value();
    } else if (entry->kind == coraft::raft::entry_kind::command) {
      ++state.commands;
      std::uint64_t word = 0;
      for (std::size_t i = 0; i < std::min<std::size_t>(8, entry->payload.size()); ++i)
        word |= std::to_integer<std::uint64_t>(entry->payload[i]) << (8 * i);
      state.checksum = (state.checksum ^ word) * 0x100000001b3ULL;
      if (++since_snapshot >= every) {
        s.node().snapshot(entry->index, coraft::wire::encode(state));
        since_snapshot = 0;
      }
    }
    if (ex.now() >= next_report) {
      std::string line = "applied " + std::to_string(applied) + "\n";
      (void)!::write(report, line.data(), line.size());
      next_report = ex.now() + 100ms;
    }
  }
}

// One member's process: never returns.
[[noreturn]] void run_member(const settings& config, node_id id,
                             const std::map<node_id, coraft::io::endpoint>& members, int report) {
  coraft::raft::server_config member;
  member.id = id;
  member.members = members;
  member.data_directory = config.data + "/member-" + std::to_string(id);
  member.storage.segment_size = config.segment_mib << 20;
  member.node.max_entries_per_append = 4096;
  member.node.apply_capacity = 8192;
  member.node.random_seed = id;
  {
    executor ex;
    server s(ex, member);
    coraft::co::scope scope(ex);
    scope.spawn(s.run());
    scope.spawn(apply_and_report(ex, s, config.snapshot_every, report));
    for (std::size_t c = 0; c < config.clients; ++c)
      scope.spawn(propose_forever(ex, s, config.payload, (std::uint64_t{id} << 48) + (c << 32)));
    ex.run();
  }
  std::_Exit(0);
}

struct sample {
  std::uint64_t rss_kib = 0, peak_rss_kib = 0, disk_bytes = 0;
};

std::uint64_t status_field(pid_t pid, std::string_view field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field, 0) != 0) continue;
    std::uint64_t value = 0;
    auto digits = line.find_first_of("0123456789");
    if (digits != std::string::npos)
      std::from_chars(line.data() + digits, line.data() + line.size(), value);
    return value;
  }
  return 0;
}

std::uint64_t directory_bytes(const std::string& path) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto& file : std::filesystem::recursive_directory_iterator(path, ec))
    if (file.is_regular_file(ec)) total += file.file_size(ec);
  return total;
}

unsigned long long parse(std::string_view text) {
  unsigned long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    std::fprintf(stderr, "soak: not a number: %.*s\n", static_cast<int>(text.size()), text.data());
    std::exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  settings config;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i], value = argv[i + 1];
    if (flag == "--entries") config.entries = parse(value);
    else if (flag == "--payload") config.payload = parse(value);
    else if (flag == "--clients") config.clients = parse(value);
    else if (flag == "--snapshot-every") config.snapshot_every = parse(value);
    else if (flag == "--segment-mib") config.segment_mib = parse(value);
    else if (flag == "--data") config.data = value;
    else {
      std::fprintf(stderr, "soak: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  bool own_directory = config.data.empty();
  if (own_directory) {
    std::string pattern = (std::filesystem::temp_directory_path() / "coraft-soak-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) return 1;
    config.data = pattern;
  }

  std::map<node_id, coraft::io::endpoint> members;
  auto ports = bench::free_ports(3);
  for (node_id id = 1; id <= 3; ++id) members[id] = {"127.0.0.1", ports[id - 1]};

  std::map<node_id, pid_t> children;
  std::map<node_id, FILE*> reports;
  for (node_id id = 1; id <= 3; ++id) {
    int pipe_ends[2];
    if (::pipe(pipe_ends) != 0) return 1;
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pipe_ends[0]);
      run_member(config, id, members, pipe_ends[1]);
    }
    ::close(pipe_ends[1]);
    children[id] = pid;
    reports[id] = ::fdopen(pipe_ends[0], "r");
  }

  std::printf("soak: %llu entries of %zu bytes, 3 members, snapshot every %llu entries, data in %s\n",
              static_cast<unsigned long long>(config.entries), config.payload,
              static_cast<unsigned long long>(config.snapshot_every), config.data.c_str());
  std::printf("%9s %8s | %-32s | %-32s | %-32s\n", "applied", "seconds", "member 1: rss/peak MiB, disk MiB",
              "member 2", "member 3");
  const auto start = std::chrono::steady_clock::now();
  std::map<node_id, std::uint64_t> applied;
  std::uint64_t next_row = 0;
  while (true) {
    // Each member reports about ten times a second; the slowest sets the pace.
    for (auto& [id, report] : reports) {
      char line[64];
      if (!std::fgets(line, sizeof line, report)) {
        std::fprintf(stderr, "soak: member %u stopped\n", id);
        return 1;
      }
      applied[id] = parse(std::string_view(line + 8, std::strlen(line + 8) - 1));
    }
    std::uint64_t slowest = std::min({applied[1], applied[2], applied[3]});
    if (slowest < next_row && slowest < config.entries) continue;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%9llu %8.1f", static_cast<unsigned long long>(slowest), seconds);
    for (auto& [id, pid] : children) {
      sample s{status_field(pid, "VmRSS:"), status_field(pid, "VmHWM:"),
               directory_bytes(config.data + "/member-" + std::to_string(id))};
      std::printf(" | %9.1f %9.1f %10.1f   ", s.rss_kib / 1024.0, s.peak_rss_kib / 1024.0,
                  s.disk_bytes / 1048576.0);
    }
    std::printf("\n");
    std::fflush(stdout);
    if (slowest >= config.entries) break;
    next_row = (slowest / (config.entries / 10) + 1) * (config.entries / 10);
  }
  for (auto& [id, pid] : children) ::kill(pid, SIGKILL);
  for (auto& [id, pid] : children) ::waitpid(pid, nullptr, 0);
  if (own_directory) std::filesystem::remove_all(config.data);
}
