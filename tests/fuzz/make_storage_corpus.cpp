// tests/fuzz/make_storage_corpus.cpp — writes storage_fuzzer's seed corpus: data directories left by
// real file_storage writes on the simulated disk (a fresh one, one or many segments, a snapshot, a
// truncation by a newer term, a torn tail after a power cut, the leftovers of interrupted work),
// each in the input form of storage_input.hpp. Usage: make_storage_corpus <directory>
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/raft/storage/file_storage.hpp>
#include <coraft/raft/log.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>
#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "storage_input.hpp"

namespace {

namespace co = coraft::co;
namespace raft = coraft::raft;
namespace sim = coraft::sim;
using storage = raft::file_storage<sim::host>;

constexpr const char* data_directory = "/data";

struct machine {
  explicit machine(std::uint64_t seed) : world(seed) {}
  sim::world world;
  sim::network net{world};
  sim::host host{world, net, "n1"};

  template <class T>
  T run(co::task<T> t) {
    return co::block_on(host, std::move(t));
  }
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "make_storage_corpus: %s\n", what);
    std::exit(1);
  }
}

// Appends `count` entries of `term`, with payloads of varied lengths, to `log` and `s`.
void append(storage& s, raft::log_window& log, int count, raft::term_t term) {
  const raft::index_t from = log.last_index() + 1;
  for (int k = 0; k < count; ++k) {
    const raft::index_t i = log.last_index() + 1;
    std::string text = "entry " + std::to_string(i) + " ";
    text.append(static_cast<std::size_t>((i * 29) % 47), static_cast<char>('a' + i % 26));
    log.append(raft::log_entry{term, i % 5 == 0 ? raft::entry_kind::no_op : raft::entry_kind::command,
                               raft::to_bytes(text)});
  }
  s.append(log, from);
}

void durable(machine& m, storage& s) { check(bool(m.run(s.durable(s.last_write()))), "durable"); }

co::task<co::result<std::vector<std::byte>>> read(sim::host* h, std::string path) {
  auto f = co_await h->open(path, O_RDONLY);
  if (!f) co_return f.error();
  std::vector<std::byte> content(h->file_size(*f).value());
  auto n = co_await h->pread(*f, content, 0);
  if (!n) co_return n.error();
  content.resize(*n);
  co_return content;
}

storage_fuzz::directory_files files_of(machine& m) {
  storage_fuzz::directory_files files;
  const std::vector<std::string> names = m.host.list_directory(data_directory).value();
  for (const std::string& name : names) {
    auto content = m.run(read(&m.host, std::string(data_directory) + "/" + name));
    check(bool(content), "read a file back");
    files[name] = std::move(*content);
  }
  return files;
}

// One data directory: `write` runs against a fresh storage on a fresh machine.
storage_fuzz::directory_files directory(std::uint64_t seed, raft::file_storage_options options,
                                        const std::function<void(machine&, storage&)>& write) {
  machine m(seed);
  {
    storage s(m.host, data_directory, options);
    check(bool(m.run(s.load())), "load");
    write(m, s);
  }
  return files_of(m);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <directory>\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  const raft::file_storage_options one_segment{};
  const raft::file_storage_options small_segments{.segment_size = 200};
  std::vector<storage_fuzz::directory_files> corpus;

  corpus.push_back(directory(1, one_segment, [](machine& m, storage& s) {
    s.save_term_and_vote(1, 1);
    durable(m, s);
  }));
  corpus.push_back(directory(2, one_segment, [](machine& m, storage& s) {
    raft::log_window log;
    s.save_term_and_vote(3, 2);
    append(s, log, 12, 3);
    durable(m, s);
  }));
  corpus.push_back(directory(3, small_segments, [](machine& m, storage& s) {
    raft::log_window log;
    s.save_term_and_vote(2, 1);
    append(s, log, 25, 2);
    durable(m, s);
  }));
  corpus.push_back(directory(4, small_segments, [](machine& m, storage& s) {
    raft::log_window log;
    s.save_term_and_vote(4, 3);
    append(s, log, 20, 4);
    durable(m, s);
    s.save_snapshot({9, 4}, raft::to_bytes("state machine as of index 9"));
    append(s, log, 4, 4);
    durable(m, s);
  }));
  corpus.push_back(directory(5, small_segments, [](machine& m, storage& s) {
    raft::log_window log;
    s.save_term_and_vote(1, 1);
    append(s, log, 14, 1);
    durable(m, s);
    s.save_term_and_vote(2, 2);  // a newer leader replaces the suffix from index 8 (§5.3)
    log.truncate_from(8);
    for (int k = 0; k < 3; ++k)
      log.append(raft::log_entry{2, raft::entry_kind::command, raft::to_bytes("replaced")});
    s.append(log, 8);
    durable(m, s);
  }));
  corpus.push_back(directory(6, one_segment, [](machine& m, storage& s) {
    // A power cut tears the last write: the directory holds a torn tail.
    raft::log_window log;
    s.save_term_and_vote(5, 1);
    append(s, log, 6, 5);
    durable(m, s);
    m.host.disk().faults().torn_write = 1.0;
    append(s, log, 6, 5);
    auto unsynced = [](storage* st) -> co::task<void> { (void)co_await st->durable(st->last_write()); };
    const auto used = m.host.disk().used();
    m.host.spawn(unsynced(&s));
    m.world.run_for([&] { return m.host.disk().used() > used; }, std::chrono::seconds(1));
    m.host.crash();
    m.world.run_for(std::chrono::milliseconds(10));
    m.host.restart();
  }));
  {
    // Leftovers of interrupted work next to a small log and snapshot.
    auto files = directory(7, small_segments, [](machine& m, storage& s) {
      raft::log_window log;
      s.save_term_and_vote(2, 2);
      append(s, log, 8, 2);
      s.save_snapshot({3, 2}, raft::to_bytes("three"));
      durable(m, s);
    });
    files["meta.tmp"] = files["meta"];
    files["snapshot.tmp"] = {std::byte{1}, std::byte{2}};
    files[raft::format::snapshot_name(1)] = files[raft::format::snapshot_name(3)];
    corpus.push_back(std::move(files));
  }

  for (std::size_t k = 0; k < corpus.size(); ++k) {
    const auto bytes = storage_fuzz::encode_input(corpus[k]);
    const std::string path = out + "/directory_" + std::to_string(k) + ".bin";
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    check(bool(file), "write a corpus file");
  }
  return 0;
}
