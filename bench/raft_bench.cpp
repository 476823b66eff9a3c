// raft_bench — committed entries per second and commit latency of a cluster in one process.
//
//   raft_bench [--nodes 3|5] [--transport tcp|sim] [--fsync on|off] [--preallocate on|off]
//              [--gather-from 4096] [--clients 64]
//              [--payload 256] [--rate 0] [--readers 0] [--reads index|lease] [--duration 10]
//              [--warmup 2] [--data DIR] [--json]
//
// tcp: each member on its own thread and io_uring executor (raft::server_thread), over real
//      loopback TCP, with file storage (fdatasync'd, or with --fsync off written but not synced).
// sim: every member in one deterministic simulated world on one thread, messages delivered at
//      once, storage in memory: what the protocol code itself costs in CPU.
//
// `--clients` coroutines on the leader each propose an entry of `--payload` bytes and await its
// commit, again and again: a closed loop, or with `--rate N` an open one, where proposals are due on
// a fixed schedule of N a second, each taken by the next client free, and each latency is measured
// from the time the proposal was due (a stall then shows in every latency it delays, rather than
// pausing the load); `--readers` coroutines on the leader each await node.read_index() (a
// linearizable read's index: one heartbeat round shared by the reads waiting, or, with --reads
// lease, the leader's lease), again and again. After the warm-up, for `--duration` seconds, the bench counts commits
// and records each one's latency (proposal to commit acknowledgement), and reads the members'
// counters before and after: fsyncs, requests, and each member's heap allocations (a counting
// operator new, per thread) and CPU time. One table is printed; with --json, a JSON object on the
// last line.
#include <coraft/co/channel.hpp>
#include <coraft/co/context.hpp>
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/raft/storage/memory_storage.hpp>
#include <coraft/raft/node.hpp>
#include <coraft/raft/server/server_thread.hpp>
#include <coraft/raft/transport/sim_transport.hpp>
#include <coraft/sim/world.hpp>

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "allocation_count.hpp"
#include "free_ports.hpp"
#include "percentile.hpp"

namespace {

using namespace std::chrono_literals;
using coraft::raft::node_id;
using wall_clock = std::chrono::steady_clock;

struct settings {
  std::size_t nodes = 3;
  std::string transport = "tcp";
  bool fsync = true;
  bool preallocate = true;  // file_storage_options::preallocate_segments
  std::size_t gather_from = coraft::raft::file_storage_options{}.gather_payloads_from;
  std::size_t clients = 64;
  std::size_t payload = 256;
  double rate = 0;  // proposals due per second (an open loop); 0: a closed loop
  std::size_t readers = 0;
  bool lease = false;  // --reads lease: options::lease_reads
  double duration = 10;
  double warmup = 2;
  std::string data;
  bool json = false;
};

// What the clients measure. Touched only on the thread that runs the leader.
struct load {
  bool measuring = false;
  bool stopping = false;
  std::uint64_t committed = 0;  // while measuring
  std::uint64_t refused = 0;    // proposals that did not commit (leadership changes)
  std::vector<std::uint32_t> latencies_us;
  std::uint64_t reads = 0;          // read indexes obtained while measuring
  std::uint64_t refused_reads = 0;  // read_index() errors (leadership changes)
  std::vector<std::uint32_t> read_latencies_us;
  std::size_t running = 0;      // clients and readers that have not ended yet

  // An open loop (rate > 0): the pacer puts each proposal's due time into `due` when it falls
  // due, and the next client free takes it; what waits there is the load falling behind.
  double rate = 0;
  wall_clock::time_point schedule_start;
  std::unique_ptr<coraft::co::channel<wall_clock::time_point>> due;
  std::uint64_t next_slot = 0;  // the first the pacer has not put into `due`

  // How far behind its schedule the load is: the oldest proposal due and not yet taken by a
  // client (released or not), as time since it fell due.
  wall_clock::duration behind() const {
    const auto waiting = std::chrono::duration<double>(static_cast<double>(due->size()) / rate);
    const auto unreleased = wall_clock::now() - slot_time(next_slot);
    return std::max(unreleased, wall_clock::duration::zero()) +
           std::chrono::duration_cast<wall_clock::duration>(waiting);
  }

  wall_clock::time_point slot_time(std::uint64_t slot) const {
    return schedule_start + std::chrono::duration_cast<wall_clock::duration>(
                                std::chrono::duration<double>(static_cast<double>(slot) / rate));
  }
};

// What one member's thread spent: heap allocations and CPU time. In the simulated cluster, one
// thread runs every member.
struct thread_counters {
  std::uint64_t allocations = 0;
  double cpu_seconds = 0;
};

thread_counters this_thread_counters() {
  timespec cpu{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  return {bench::allocations, static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9};
}

// Counters summed over the members, read before and after the measured window.
struct counters {
  std::uint64_t fsyncs = 0;         // data fdatasyncs (or simulated syncs), every member
  std::uint64_t leader_fsyncs = 0;
  std::uint64_t appends_sent = 0;   // AppendEntries requests from the leader
  double cpu_seconds = 0;           // the whole process, user + system
  thread_counters leader;           // the leader's thread (the clients run there too)
  thread_counters followers;        // summed over the followers' threads (tcp only)
};

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The open loop's schedule: puts each proposal's due time into `l->due` once it falls due, rate a
// second from the start. Awaits a timer until the next one is due (and the channel, if the
// clients are a whole channel behind); ends when `l->stopping`, closing the channel, or when
// cancelled.
template <class Sleeper>
coraft::co::task<void> pacer(Sleeper sleep, load* l) {
  l->schedule_start = wall_clock::now();
  while (!l->stopping) {
    const auto now = wall_clock::now();
    for (; l->slot_time(l->next_slot) <= now; ++l->next_slot)
      if (!co_await l->due->send(l->slot_time(l->next_slot))) break;
    if (!co_await sleep(l->slot_time(l->next_slot) - now)) break;
  }
  l->due->close();
  --l->running;
}

// One client: proposes and awaits the commit, over and over, until told to stop. In an open loop,
// each proposal waits to fall due (`l->due`) and its latency counts from then. Awaits the
// schedule, each proposal, and a 10 ms pause after a refusal; ends when `l->stopping`, when the
// schedule closes, or when cancelled.
template <class Node, class Sleeper>
coraft::co::task<void> client(Node& node, Sleeper sleep, load* l, std::size_t payload,
                              std::uint64_t id) {
  coraft::raft::bytes command(payload, std::byte{'x'});
  for (std::uint64_t n = 0; !l->stopping; ++n) {
    for (std::size_t i = 0; i < std::min<std::size_t>(8, payload); ++i)
      command[i] = static_cast<std::byte>(((id << 40) + n) >> (8 * i));
    wall_clock::time_point due = wall_clock::now();
    if (l->due) {
      auto next = co_await l->due->recv();
      if (!next) break;
      due = *next;
    }
    auto committed = co_await node.propose(command);
    if (committed) {
      if (l->measuring) {
        ++l->committed;
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(wall_clock::now() - due);
        l->latencies_us.push_back(static_cast<std::uint32_t>(took.count()));
      }
      continue;
    }
    if (coraft::co::is_cancelled(committed.error())) break;
    ++l->refused;
    if (!co_await sleep(10ms)) break;
  }
  --l->running;
}

// One reader: awaits a read index, over and over, until told to stop (a 10 ms pause after a
// refusal), yielding to the executor after each (a lease read completes without suspending: the
// readers must not keep the leader's thread from its heartbeats). Ends when `l->stopping` or
// when cancelled.
template <class Node, class Sleeper>
coraft::co::task<void> reader(Node& node, Sleeper sleep, load* l) {
  while (!l->stopping) {
    const auto start = wall_clock::now();
    auto read = co_await node.read_index();
    if (read) {
      if (l->measuring) {
        ++l->reads;
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(wall_clock::now() - start);
        l->read_latencies_us.push_back(static_cast<std::uint32_t>(took.count()));
      }
      co_await coraft::co::yield{};
      continue;
    }
    if (coraft::co::is_cancelled(read.error())) break;
    ++l->refused_reads;
    if (!co_await sleep(10ms)) break;
  }
  --l->running;
}

// ---- tcp: members on threads, real sockets and files ---------------------------------------------

class tcp_cluster {
 public:
  using server = coraft::raft::server_thread::server_type;

  explicit tcp_cluster(const settings& s) : settings_(s) {
    auto ports = bench::free_ports(s.nodes);
    for (std::size_t i = 0; i < s.nodes; ++i)
      members_[static_cast<node_id>(i + 1)] = {"127.0.0.1", ports[i]};
    for (auto& [id, address] : members_) {
      coraft::raft::server_config config;
      config.id = id;
      config.members = members_;
      config.data_directory = s.data + "/member-" + std::to_string(id);
      config.storage.sync_data = s.fsync;
      config.storage.preallocate_segments = s.preallocate;
      config.storage.gather_payloads_from = s.gather_from;
      config.storage.segment_size = 64u << 20;
      config.node.random_seed = id;
      config.node.max_entries_per_append = 4096;
      config.node.max_bytes_per_append = 4u << 20;
      config.node.apply_capacity = 16384;
      config.node.lease_reads = s.lease;
      threads_.push_back(std::make_unique<coraft::raft::server_thread>(
          config, [](server& s) { return consume_applied(&s); }));
    }
  }

  // Waits for a leader and starts the clients on its thread, in its member's scope.
  void start_clients(load* l) {
    leader_ = await_leader();
    const std::size_t payload = settings_.payload;
    for (std::size_t c = 0; c < settings_.clients; ++c) {
      leader_->spawn([l, payload, c](server& s) {
        ++l->running;
        auto sleep = [&s](coraft::io::duration d) { return s.executor().sleep_for(d); };
        return client(s.node(), sleep, l, payload, c);
      });
    }
    if (l->due) {
      leader_->spawn([l](server& s) {
        ++l->running;
        auto sleep = [&s](coraft::io::duration d) { return s.executor().sleep_for(d); };
        return pacer(sleep, l);
      });
    }
    for (std::size_t r = 0; r < settings_.readers; ++r) {
      leader_->spawn([l](server& s) {
        ++l->running;
        auto sleep = [&s](coraft::io::duration d) { return s.executor().sleep_for(d); };
        return reader(s.node(), sleep, l);
      });
    }
  }
  template <class F>
  auto on_leader(F fn) {
    return leader_->call([&](server&) { return fn(); });
  }

  counters read_counters() {
    counters c;
    for (auto& t : threads_) {
      const bool is_leader = t.get() == leader_;
      t->call([&](server& s) {
        c.fsyncs += s.storage().statistics().data_syncs;
        const thread_counters spent = this_thread_counters();
        if (is_leader) {
          c.leader_fsyncs = s.storage().statistics().data_syncs;
          c.appends_sent = s.transport().statistics().requests_sent;
          c.leader = spent;
        } else {
          c.followers.allocations += spent.allocations;
          c.followers.cpu_seconds += spent.cpu_seconds;
        }
      });
    }
    c.cpu_seconds = process_cpu_seconds();
    return c;
  }

  // Tells the clients to stop and waits until they have.
  void stop_clients(load* l) {
    on_leader([l] { l->stopping = true; });
    while (on_leader([l] { return l->running; }) > 0) std::this_thread::sleep_for(1ms);
  }

 private:
  // Drains the apply channel and snapshots a tiny state every 100,000 entries, so that the log,
  // in memory and on disk, stays bounded however long the run. Ends when the node stops.
  static coraft::co::task<void> consume_applied(server* s) {
    std::uint64_t count = 0;
    while (auto entry = co_await s->node().applied().recv()) {
      if (entry->is_snapshot || ++count % 100'000 != 0) continue;
      s->node().snapshot(entry->index, coraft::raft::to_bytes(std::to_string(count)));
    }
  }

  coraft::raft::server_thread* await_leader() {
    const auto deadline = wall_clock::now() + 10s;
    while (wall_clock::now() < deadline) {
      for (auto& t : threads_) {
        auto status = t->call([](server& s) { return s.node().status(); });
        if (status.role == coraft::raft::role::leader) return t.get();
      }
      std::this_thread::sleep_for(10ms);
    }
    std::fprintf(stderr, "raft_bench: no leader elected within 10 s\n");
    std::exit(1);
  }

  settings settings_;
  std::map<node_id, coraft::io::endpoint> members_;
  std::vector<std::unique_ptr<coraft::raft::server_thread>> threads_;
  coraft::raft::server_thread* leader_ = nullptr;
};

// ---- sim: every member in one simulated world ---------------------------------------------------

// Delivers every message at once (at the current virtual time, after what is already ready).
struct instant_wires {
  coraft::sim::world* world;
  void deliver(node_id, node_id, std::function<void()> on_arrival) {
    world->after(coraft::io::duration{0}, std::move(on_arrival));
  }
};

class sim_cluster {
 public:
  using transport = coraft::raft::sim_transport<instant_wires, coraft::sim::world>;
  using storage = coraft::raft::memory_storage<coraft::sim::world>;
  using node = coraft::raft::node<coraft::sim::world, transport, storage>;

  explicit sim_cluster(const settings& s) : settings_(s), disks_(s.nodes) {
    for (std::size_t i = 0; i < s.nodes; ++i) {
      const auto id = static_cast<node_id>(i + 1);
      std::vector<node_id> peers;
      for (std::size_t j = 1; j <= s.nodes; ++j)
        if (j != id) peers.push_back(static_cast<node_id>(j));
      coraft::raft::options options;
      options.random_seed = id;
      options.max_entries_per_append = 4096;
      options.max_bytes_per_append = 4u << 20;
      options.apply_capacity = 16384;
      options.lease_reads = s.lease;
      transports_.push_back(std::make_unique<transport>(board_, world_, id, 1s));
      storages_.push_back(std::make_unique<storage>(world_, disks_[i]));
      nodes_.push_back(std::make_unique<node>(world_, *transports_.back(), *storages_.back(), id,
                                              peers, options));
      scope_.spawn(nodes_.back()->run());
      scope_.spawn(consume_applied(nodes_.back().get()));
    }
  }
  ~sim_cluster() {
    scope_.request_stop();
    scope_.run_until_idle();
  }

  void start_clients(load* l) {
    const auto deadline = world_.now() + 10s;
    while (!leader_) {
      if (world_.now() > deadline || !world_.step()) {
        std::fprintf(stderr, "raft_bench: no leader elected\n");
        std::exit(1);
      }
      for (auto& n : nodes_)
        if (n->status().role == coraft::raft::role::leader) leader_ = n.get();
    }
    auto sleep = [this](coraft::io::duration d) { return world_.sleep_for(d); };
    for (std::size_t c = 0; c < settings_.clients; ++c) {
      ++l->running;
      scope_.spawn(client(*leader_, sleep, l, settings_.payload, c));
    }
    for (std::size_t r = 0; r < settings_.readers; ++r) {
      ++l->running;
      scope_.spawn(reader(*leader_, sleep, l));
    }
  }

  // The world runs only while the bench steps it: for `how_long` of wall-clock time.
  void run_for(wall_clock::duration how_long) {
    const auto until = wall_clock::now() + how_long;
    while (wall_clock::now() < until) {
      for (int i = 0; i < 256; ++i) world_.step();
    }
  }
  template <class F>
  auto on_leader(F fn) {
    return fn();
  }

  counters read_counters() {
    counters c;
    for (std::size_t i = 0; i < disks_.size(); ++i) {
      c.fsyncs += disks_[i].syncs;
      if (nodes_[i].get() == leader_) c.leader_fsyncs = disks_[i].syncs;
    }
    // In steady state only the leader sends requests, and each has one reply.
    c.appends_sent = board_.rpcs_sent() / 2;
    c.cpu_seconds = process_cpu_seconds();
    c.leader = this_thread_counters();  // every member, and the clients
    return c;
  }

  void stop_clients(load* l) {
    l->stopping = true;
    while (l->running > 0) world_.step();
  }

 private:
  static coraft::co::task<void> consume_applied(node* n) {
    std::uint64_t count = 0;
    while (auto entry = co_await n->applied().recv()) {
      if (entry->is_snapshot || ++count % 100'000 != 0) continue;
      n->snapshot(entry->index, coraft::raft::to_bytes(std::to_string(count)));
    }
  }

  settings settings_;
  coraft::sim::world world_{1};
  instant_wires wires_{&world_};
  coraft::raft::sim_switchboard<instant_wires, coraft::sim::world> board_{wires_};
  std::vector<coraft::raft::memory_disk> disks_;
  std::vector<std::unique_ptr<transport>> transports_;
  std::vector<std::unique_ptr<storage>> storages_;
  std::vector<std::unique_ptr<node>> nodes_;
  coraft::co::scope scope_{world_};
  node* leader_ = nullptr;
};

// ---- the measurement -----------------------------------------------------------------------------

struct result {
  double seconds = 0, entries_per_sec = 0, mb_per_sec = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  double fsyncs_per_sec = 0, entries_per_fsync = 0, appends_per_entry = 0, cpu_per_million = 0;
  double reads_per_sec = 0, read_p50_us = 0, read_p99_us = 0;
  std::uint64_t committed = 0, refused = 0, refused_reads = 0;
  // Per committed entry: heap allocations on the leader's thread and on a follower's (the
  // followers' mean), and CPU seconds per million entries on each.
  double leader_allocations = 0, follower_allocations = 0;
  double leader_cpu_per_million = 0, follower_cpu_per_million = 0;
  double schedule_lag_ms = 0;  // open loop: the proposals due but not yet taken at the end, in ms of schedule
};

template <class Cluster, class Wait>
result measure(Cluster& cluster, const settings& s, Wait wait) {
  load l;
  l.latencies_us.reserve(1u << 22);
  l.read_latencies_us.reserve(1u << 22);
  if (s.rate > 0) {
    l.rate = s.rate;
    const auto two_seconds = static_cast<std::size_t>(2 * s.rate);
    l.due = std::make_unique<coraft::co::channel<wall_clock::time_point>>(std::max<std::size_t>(two_seconds, 1024));
  }
  cluster.start_clients(&l);
  wait(std::chrono::duration<double>(s.warmup));
  cluster.on_leader([&l] { l.measuring = true; });
  const counters before = cluster.read_counters();
  const auto start = wall_clock::now();
  wait(std::chrono::duration<double>(s.duration));
  const auto lag = cluster.on_leader([&l] {
    l.measuring = false;
    return l.due ? l.behind() : wall_clock::duration::zero();
  });
  const auto seconds = std::chrono::duration<double>(wall_clock::now() - start).count();
  const counters after = cluster.read_counters();
  cluster.stop_clients(&l);

  result r;
  r.seconds = seconds;
  r.committed = l.committed;
  r.refused = l.refused;
  const double entries = static_cast<double>(std::max<std::uint64_t>(l.committed, 1));
  r.entries_per_sec = static_cast<double>(l.committed) / seconds;
  r.mb_per_sec = r.entries_per_sec * static_cast<double>(s.payload) / 1e6;
  std::sort(l.latencies_us.begin(), l.latencies_us.end());
  r.p50_us = bench::percentile(l.latencies_us, 0.50);
  r.p99_us = bench::percentile(l.latencies_us, 0.99);
  r.p999_us = bench::percentile(l.latencies_us, 0.999);
  r.refused_reads = l.refused_reads;
  r.reads_per_sec = static_cast<double>(l.reads) / seconds;
  std::sort(l.read_latencies_us.begin(), l.read_latencies_us.end());
  r.read_p50_us = bench::percentile(l.read_latencies_us, 0.50);
  r.read_p99_us = bench::percentile(l.read_latencies_us, 0.99);
  r.fsyncs_per_sec = static_cast<double>(after.fsyncs - before.fsyncs) / static_cast<double>(s.nodes) / seconds;
  const auto leader_fsyncs = after.leader_fsyncs - before.leader_fsyncs;
  r.entries_per_fsync = leader_fsyncs ? static_cast<double>(l.committed) / static_cast<double>(leader_fsyncs) : 0;
  r.appends_per_entry = static_cast<double>(after.appends_sent - before.appends_sent) / entries;
  r.cpu_per_million = (after.cpu_seconds - before.cpu_seconds) / entries * 1e6;
  const double followers = static_cast<double>(s.nodes - 1) * entries;
  r.leader_allocations = static_cast<double>(after.leader.allocations - before.leader.allocations) / entries;
  r.follower_allocations =
      static_cast<double>(after.followers.allocations - before.followers.allocations) / followers;
  r.leader_cpu_per_million = (after.leader.cpu_seconds - before.leader.cpu_seconds) / entries * 1e6;
  r.follower_cpu_per_million = (after.followers.cpu_seconds - before.followers.cpu_seconds) / followers * 1e6;
  r.schedule_lag_ms = std::chrono::duration<double, std::milli>(lag).count();
  return r;
}

double parse_number(std::string_view flag, std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 0) {
    std::fprintf(stderr, "raft_bench: %.*s needs a number, not '%.*s'\n", static_cast<int>(flag.size()),
                 flag.data(), static_cast<int>(text.size()), text.data());
    std::exit(2);
  }
  return value;
}

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--json") {
      s.json = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "raft_bench: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    std::string_view value = argv[++i];
    if (flag == "--nodes") s.nodes = static_cast<std::size_t>(parse_number(flag, value));
    else if (flag == "--transport") s.transport = value;
    else if (flag == "--fsync") s.fsync = value == "on";
    else if (flag == "--preallocate") s.preallocate = value == "on";
    else if (flag == "--gather-from") s.gather_from = static_cast<std::size_t>(parse_number(flag, value));
    else if (flag == "--clients") s.clients = static_cast<std::size_t>(parse_number(flag, value));
    else if (flag == "--payload") s.payload = static_cast<std::size_t>(parse_number(flag, value));
    else if (flag == "--rate") s.rate = parse_number(flag, value);
    else if (flag == "--readers") s.readers = static_cast<std::size_t>(parse_number(flag, value));
    else if (flag == "--reads") {
      if (value != "index" && value != "lease") {
        std::fprintf(stderr, "raft_bench: --reads is index or lease\n");
        std::exit(2);
      }
      s.lease = value == "lease";
    }
    else if (flag == "--duration") s.duration = parse_number(flag, value);
    else if (flag == "--warmup") s.warmup = parse_number(flag, value);
    else if (flag == "--data") s.data = value;
    else {
      std::fprintf(stderr, "raft_bench: unknown flag %s\n", argv[i - 1]);
      std::exit(2);
    }
  }
  if ((s.nodes != 3 && s.nodes != 5) || (s.transport != "tcp" && s.transport != "sim") ||
      s.clients + s.readers == 0) {
    std::fprintf(stderr, "raft_bench: --nodes is 3 or 5, --transport tcp or sim, and --clients or "
                         "--readers at least 1\n");
    std::exit(2);
  }
  if (s.rate > 0 && (s.transport != "tcp" || s.clients == 0)) {
    std::fprintf(stderr, "raft_bench: --rate needs --transport tcp and --clients at least 1 (the "
                         "simulated world's time is not the wall clock's)\n");
    std::exit(2);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  settings s = parse(argc, argv);
  const bool own_directory = s.data.empty();
  if (own_directory) {
    std::string pattern = (std::filesystem::temp_directory_path() / "coraft-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) return 1;
    s.data = pattern;
  }

  result r;
  if (s.transport == "tcp") {
    tcp_cluster cluster(s);
    r = measure(cluster, s, [](auto how_long) { std::this_thread::sleep_for(how_long); });
  } else {
    sim_cluster cluster(s);
    r = measure(cluster, s, [&cluster](auto how_long) {
      cluster.run_for(std::chrono::duration_cast<wall_clock::duration>(how_long));
    });
  }
  if (own_directory) std::filesystem::remove_all(s.data);

  const char* fsync = s.transport == "sim" ? "n/a" : s.fsync ? "on" : "off";
  std::printf("raft_bench: %zu nodes, %s transport, fsync %s, %zu clients, %zu-byte entries, "
              "%zu readers (%s), %.0f s\n",
              s.nodes, s.transport.c_str(), fsync, s.clients, s.payload, s.readers,
              s.lease ? "lease" : "index", r.seconds);
  if (s.rate > 0)
    std::printf("  offered entries/s     %12.0f   (open loop; ended %.1f ms behind schedule)\n", s.rate,
                r.schedule_lag_ms);
  std::printf("  committed entries/s   %12.0f\n", r.entries_per_sec);
  std::printf("  MB/s                  %12.1f\n", r.mb_per_sec);
  std::printf("  commit latency p50    %12.0f us\n", r.p50_us);
  std::printf("  commit latency p99    %12.0f us\n", r.p99_us);
  std::printf("  commit latency p999   %12.0f us\n", r.p999_us);
  std::printf("  fsyncs/s per node     %12.0f\n", r.fsyncs_per_sec);
  std::printf("  entries per fsync     %12.1f\n", r.entries_per_fsync);
  std::printf("  AppendEntries/entry   %12.4f\n", r.appends_per_entry);
  std::printf("  CPU s per M entries   %12.2f   (the process)\n", r.cpu_per_million);
  if (s.transport == "tcp") {
    std::printf("    on the leader       %12.2f   (its thread, the clients' included)\n", r.leader_cpu_per_million);
    std::printf("    on a follower       %12.2f   (its thread)\n", r.follower_cpu_per_million);
    std::printf("  allocations/entry     %12.2f   on the leader (clients included), %.2f on a follower\n",
                r.leader_allocations, r.follower_allocations);
  } else {
    std::printf("  allocations/entry     %12.2f   (every member, and the clients)\n", r.leader_allocations);
  }
  if (r.refused) std::printf("  refused proposals     %12llu\n", static_cast<unsigned long long>(r.refused));
  if (s.readers) {
    std::printf("  reads/s               %12.0f\n", r.reads_per_sec);
    std::printf("  read latency p50      %12.0f us\n", r.read_p50_us);
    std::printf("  read latency p99      %12.0f us\n", r.read_p99_us);
    if (r.refused_reads)
      std::printf("  refused reads         %12llu\n", static_cast<unsigned long long>(r.refused_reads));
  }
  if (s.json) {
    std::printf("{\"entries_per_sec\": %.0f, \"mb_per_sec\": %.2f, \"p50_us\": %.0f, \"p99_us\": %.0f, "
                "\"p999_us\": %.0f, \"fsyncs_per_sec\": %.0f, \"entries_per_fsync\": %.2f, "
                "\"appends_per_entry\": %.4f, \"cpu_sec_per_million\": %.3f, \"nodes\": %zu, "
                "\"payload\": %zu, \"clients\": %zu, \"fsync\": \"%s\", \"transport\": \"%s\", "
                "\"seconds\": %.2f, \"readers\": %zu, \"reads\": \"%s\", \"reads_per_sec\": %.0f, "
                "\"read_p50_us\": %.0f, \"read_p99_us\": %.0f, \"rate\": %.0f, \"schedule_lag_ms\": %.1f, "
                "\"leader_allocations_per_entry\": %.3f, \"follower_allocations_per_entry\": %.3f, "
                "\"leader_cpu_sec_per_million\": %.3f, \"follower_cpu_sec_per_million\": %.3f}\n",
                r.entries_per_sec, r.mb_per_sec, r.p50_us, r.p99_us, r.p999_us, r.fsyncs_per_sec,
                r.entries_per_fsync, r.appends_per_entry, r.cpu_per_million, s.nodes, s.payload,
                s.clients, fsync, s.transport.c_str(), r.seconds, s.readers, s.lease ? "lease" : "index",
                r.reads_per_sec, r.read_p50_us, r.read_p99_us, s.rate, r.schedule_lag_ms,
                r.leader_allocations, r.follower_allocations, r.leader_cpu_per_million,
                r.follower_cpu_per_million);
  }
}
