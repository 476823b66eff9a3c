// file_storage on real files through the io_uring executor: the round trip, damage, group commit,
// processes killed with SIGKILL at random moments, and a file system that fills up.
#include <doctest/doctest.h>

#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <coraft/io/uring_executor.hpp>
#include <cstring>
#include <deque>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "../io/support.hpp"
#include "support.hpp"

using namespace storage_test;
using io_test::temp_directory;
using uring_storage = raft::file_storage<io::uring_executor>;

namespace {

co::result<raft::persistent_state> load(const std::string& directory,
                                        raft::file_storage_options options = {}) {
  io::uring_executor executor;
  uring_storage storage(executor, directory, options);
  return co::block_on(executor, storage.load());
}

// Flips every bit of one byte of a file, with plain system calls.
void flip_byte(const std::string& path, std::uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  unsigned char byte = 0;
  REQUIRE(::pread(fd, &byte, 1, static_cast<off_t>(offset)) == 1);
  byte ^= 0xFF;
  REQUIRE(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)) == 1);
  ::close(fd);
}

}  // namespace

TEST_CASE("real files: term, vote, incarnation, log and snapshot come back as written") {
  temp_directory top;
  const std::string directory = top / "node";
  const raft::file_storage_options small{.segment_size = 500};
  raft::log_window log;
  {
    io::uring_executor executor;
    uring_storage storage(executor, directory, small);
    auto fresh = co::block_on(executor, storage.load());
    REQUIRE(fresh);
    CHECK(fresh->incarnation == 0);  // a new directory has none yet
    storage.save_incarnation(0xfeedface12345678);
    storage.save_term_and_vote(7, 3);
    append_entries(storage, log, 60, 7);
    log.truncate_from(41);
    log.append(entry_for(41, 8));
    storage.append(log, 41);
    storage.save_snapshot({20, 7}, raft::to_bytes("twenty"));
    log.reset(20, 7, {log.at(21)});
    for (index_t i = 22; i <= 41; ++i) log.append(i < 41 ? entry_for(i, 7) : entry_for(41, 8));
    REQUIRE(co::block_on(executor, storage.durable(storage.last_write())));
  }
  auto state = load(directory, small);
  REQUIRE_MESSAGE(state, state.error().message());
  CHECK(state->current_term == 7);
  CHECK(state->voted_for == 3);
  CHECK(state->incarnation == 0xfeedface12345678);  // kept through later term and vote writes
  CHECK(state->snapshot == raft::snapshot_meta{20, 7});
  CHECK(raft::to_string(state->snapshot_data) == "twenty");
  CHECK(state->entries == entries_of(log));
  CHECK_FALSE(std::filesystem::exists(top / ("node/" + raft::format::segment_name(1))));
}

TEST_CASE(
    "real files: a torn tail is cut; damage in an older segment is refused with file and offset") {
  temp_directory top;
  const std::string directory = top / "node";
  const raft::file_storage_options small{.segment_size = 500};
  raft::log_window log;
  {
    io::uring_executor executor;
    uring_storage storage(executor, directory, small);
    REQUIRE(co::block_on(executor, storage.load()));
    append_entries(storage, log, 40, 1);
    REQUIRE(co::block_on(executor, storage.durable(storage.last_write())));
  }
  std::vector<std::string> segments;
  for (const auto& file : std::filesystem::directory_iterator(directory)) {
    if (file.path().filename().string().starts_with("log-"))
      segments.push_back(file.path().string());
  }
  std::sort(segments.begin(), segments.end());
  REQUIRE(segments.size() > 2);

  std::filesystem::resize_file(segments.back(), std::filesystem::file_size(segments.back()) - 3);
  auto state = load(directory, small);
  REQUIRE(state);
  CHECK(state->entries.size() == 39);

  flip_byte(segments.front(), 5);  // in the checksum of the first record
  state = load(directory, small);
  REQUIRE_FALSE(state);
  CHECK(state.error() == raft::storage_errc::corrupt_log);
  CHECK(state.error().message().find(segments.front() + " at offset 0") != std::string::npos);
}

TEST_CASE("real files: a new segment's blocks are reserved when it is created, its size is what was written") {
  temp_directory top;
  const std::uint64_t segment_size = 1 << 20;
  // Whether this file system reserves blocks at all (tmpfs and ext4 do; some do not).
  const std::string probe = top / "probe";
  const int fd = ::open(probe.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const bool reserves = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, segment_size) == 0;
  ::close(fd);
  for (const bool preallocate : {true, false}) {
    CAPTURE(preallocate);
    const std::string directory = top / (preallocate ? "reserved" : "grown");
    const raft::file_storage_options options{.segment_size = segment_size,
                                             .preallocate_segments = preallocate};
    raft::log_window log;
    {
      io::uring_executor executor;
      uring_storage storage(executor, directory, options);
      REQUIRE(co::block_on(executor, storage.load()));
      append_entries(storage, log, 10, 1);
      REQUIRE(co::block_on(executor, storage.durable(storage.last_write())));
      struct stat segment{};
      REQUIRE(::stat((directory + "/" + raft::format::segment_name(1)).c_str(), &segment) == 0);
      CHECK(static_cast<std::uint64_t>(segment.st_size) < 4096);  // ten small records
      const auto allocated = static_cast<std::uint64_t>(segment.st_blocks) * 512;
      if (!reserves) {
        MESSAGE("this file system reserves no blocks: only the round trip is checked");
      } else if (preallocate) {
        CHECK(allocated >= segment_size);
      } else {
        CHECK(allocated < segment_size);
      }
    }
    auto state = load(directory, options);
    REQUIRE(state);
    CHECK(state->entries == entries_of(log));
  }
}

TEST_CASE("real files: group commit — concurrent appends share fsyncs") {
  temp_directory top;
  io::uring_executor executor;
  uring_storage storage(executor, top / "node");
  REQUIRE(co::block_on(executor, storage.load()));
  raft::log_window log;
  constexpr int writers = 32;
  constexpr int appends_each = 20;
  // Each writer appends one entry and awaits its durability, again and again.
  auto writer = [](uring_storage* s, raft::log_window* log) -> co::task<void> {
    for (int k = 0; k < appends_each; ++k) {
      auto made_durable = co_await s->durable(append_entries(*s, *log, 1, 1));
      REQUIRE(made_durable);
    }
  };
  auto all = [](uring_storage* s, raft::log_window* log, decltype(writer) one) -> co::task<void> {
    co::scope writers_scope(co_await co::current_context());
    for (int i = 0; i < writers; ++i) writers_scope.spawn(one(s, log));
    co_await writers_scope.join();
  };
  const auto started = std::chrono::steady_clock::now();
  co::block_on(executor, all(&storage, &log, writer));
  const auto took = std::chrono::steady_clock::now() - started;
  MESSAGE((writers * appends_each)
          << " appends by " << writers << " concurrent writers: " << storage.statistics().data_syncs
          << " fdatasyncs in "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(storage.statistics().data_syncs * 4 < static_cast<std::uint64_t>(writers * appends_each));
  CHECK(load(top / "node")->entries == entries_of(log));
}

// ---- SIGKILL ------------------------------------------------------------------------------------

namespace {

const raft::file_storage_options kill_options{.segment_size = 16 * 1024};

// The entry at index i in the kill test: a function of i alone, so that the parent can check it.
raft::log_entry kill_entry(index_t i) { return entry_for(i, 1 + i / 1000); }
raft::bytes kill_snapshot_data(index_t i) {
  return raft::to_bytes("state as of " + std::to_string(i));
}

// One writer in the child: appends a few entries, awaits their durability, reports the last index
// on `acks`, and again; compacts the log now and then. Ends only if a write fails.
co::task<void> child_writer(uring_storage* storage, raft::log_window* log, int acks,
                            std::uint64_t seed) {
  std::mt19937_64 random(seed);
  for (;;) {
    const index_t from = log->last_index() + 1;
    for (auto k = random() % 6; k-- > 0;) log->append(kill_entry(log->last_index() + 1));
    const index_t last = log->last_index();
    const raft::write_id w = storage->append(*log, from);
    if (log->last_index() - log->base_index() > 3000) {
      const index_t at = log->last_index() - 500;
      storage->save_snapshot({at, kill_entry(at).term}, kill_snapshot_data(at));
      std::deque<raft::log_entry> rest;
      for (index_t i = at + 1; i <= log->last_index(); ++i) rest.push_back(log->at(i));
      log->reset(at, kill_entry(at).term, std::move(rest));
    }
    if (random() % 50 == 0) storage->save_term_and_vote(1 + last, 1);
    auto made_durable = co_await storage->durable(w);
    if (!made_durable) co_return;
    if (::write(acks, &last, sizeof last) != sizeof last) co_return;
  }
}

// The child process: opens the storage and runs four writers until killed.
co::task<void> child_main(uring_storage* storage, int acks, std::uint64_t seed) {
  auto state = co_await storage->load();
  if (!state) co_return;
  raft::log_window log = window_of(*state);
  co::scope writers(co_await co::current_context());
  for (std::uint64_t i = 0; i < 4; ++i)
    writers.spawn(child_writer(storage, &log, acks, seed * 4 + i));
  co_await writers.join();
}

[[noreturn]] void run_child(const std::string& directory, int acks, std::uint64_t seed) {
  try {
    io::uring_executor executor;
    uring_storage storage(executor, directory, kill_options);
    co::block_on(executor, child_main(&storage, acks, seed));
  } catch (...) {
  }
  ::_exit(3);  // only if something failed: a healthy child runs until it is killed
}

}  // namespace

TEST_CASE("real files: processes killed with SIGKILL at random moments lose nothing acknowledged") {
  temp_directory top;
  const std::string directory = top / "node";
  std::mt19937_64 random(20240601);
  index_t acknowledged = 0;
  std::uint64_t torn_bytes = 0;
  const int iterations = 200;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    CAPTURE(iteration);
    int pipe_ends[2];
    REQUIRE(::pipe2(pipe_ends, O_CLOEXEC) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(pipe_ends[0]);
      run_child(directory, pipe_ends[1], static_cast<std::uint64_t>(iteration));
    }
    ::close(pipe_ends[1]);
    // Kill at a random moment after the child's first acknowledgement, so that every iteration has
    // acknowledged writes to lose, however slowly the child starts (sanitizers, a loaded machine).
    index_t ack = 0;
    pollfd first_ack{pipe_ends[0], POLLIN, 0};
    const bool acked = ::poll(&first_ack, 1, 30'000) == 1 && ::read(pipe_ends[0], &ack, sizeof ack) == sizeof ack;
    if (acked) {
      acknowledged = std::max(acknowledged, ack);
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 8000));
    }
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE_MESSAGE(acked, "the child acknowledged nothing within 30 s");
    REQUIRE_MESSAGE(WIFSIGNALED(status), "the child ended by itself, status " << status);
    while (::read(pipe_ends[0], &ack, sizeof ack) == sizeof ack) acknowledged = std::max(acknowledged, ack);
    ::close(pipe_ends[0]);

    io::uring_executor executor;
    uring_storage storage(executor, directory, kill_options);
    auto state = co::block_on(executor, storage.load());
    REQUIRE_MESSAGE(state, state.error().message());
    torn_bytes += storage.statistics().torn_bytes_cut;
    const index_t base = state->snapshot.last_index;
    if (base > 0) {
      CHECK(state->snapshot.last_term == kill_entry(base).term);
      CHECK(state->snapshot_data == kill_snapshot_data(base));
    }
    REQUIRE(base + state->entries.size() >= acknowledged);
    for (std::size_t k = 0; k < state->entries.size(); ++k) {
      if (state->entries[k] != kill_entry(base + 1 + k))
        FAIL("entry " << base + 1 + k << " differs");
    }
  }
  MESSAGE(iterations << " kills: " << acknowledged << " entries acknowledged in all, "
                     << torn_bytes
                     << " torn bytes cut on reopening");
}

// ---- a full file system ------------------------------------------------------------------------

TEST_CASE("real files: on a full tmpfs durable() reports ENOSPC, and succeeds once space returns") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: mounting a small tmpfs needs root");
    return;
  }
  temp_directory mount_point;
  if (::mount("tmpfs", mount_point.path().c_str(), "tmpfs", 0, "size=1m") != 0) {
    MESSAGE("skipped: cannot mount a tmpfs: " << std::strerror(errno));
    return;
  }
  struct unmount_at_exit {
    std::string path;
    ~unmount_at_exit() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point.path()};

  const std::string ballast = mount_point / "ballast";  // the space an operator frees
  {
    const std::vector<char> zeros(256 * 1024, 0);
    const int fd = ::open(ballast.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, zeros.data(), zeros.size()) == static_cast<ssize_t>(zeros.size()));
    ::close(fd);
  }
  const std::string directory = mount_point / "node";
  io::uring_executor executor;
  raft::log_window log;
  index_t acknowledged = 0;
  {
    uring_storage storage(executor, directory);
    REQUIRE(co::block_on(executor, storage.load()));
    storage.save_term_and_vote(1, 1);
    co::result<void> outcome;
    for (int batch = 0; batch < 500 && outcome; ++batch) {
      const index_t from = log.last_index() + 1;
      for (int k = 0; k < 20; ++k) {
        log.append(
            raft::log_entry{1, raft::entry_kind::command, raft::bytes(500, std::byte{0x5A})});
      }
      outcome = co::block_on(executor, storage.durable(storage.append(log, from)));
      if (outcome) acknowledged = log.last_index();
    }
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error() == std::errc::no_space_on_device);
    MESSAGE("full after " << acknowledged << " entries: " << outcome.error().message());

    std::filesystem::remove(ballast);
    REQUIRE(co::block_on(executor, storage.durable(storage.last_write())));
  }
  auto state = load(directory);
  REQUIRE(state);
  CHECK(state->entries == entries_of(log));
  CHECK(state->entries.size() > acknowledged);
}
