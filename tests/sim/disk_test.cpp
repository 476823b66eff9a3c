#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/sim/host.hpp>
#include <coraft/sim/network.hpp>
#include <coraft/sim/world.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>
#include <cstdint>
#include <fcntl.h>
#include <optional>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace sim_test;

namespace {

// Opens `path` with `flags`, writes `content` at `offset`, then syncs what `sync` says.
enum class sync { none, data, data_and_directory };
co::task<co::result<void>> write_file(sim::host* h, std::string path, std::string content,
                                      sync what, std::uint64_t offset = 0,
                                      int flags = O_CREAT | O_RDWR) {
  auto f = co_await h->open(path, flags);
  if (!f) co_return f.error();
  auto bytes = bytes_of(content);
  auto written = co_await h->pwrite(*f, bytes, offset);
  if (!written) co_return written.error();
  if (what != sync::none) {
    if (auto synced = co_await h->fdatasync(*f); !synced) co_return synced;
  }
  if (what == sync::data_and_directory) {
    const auto slash = path.rfind('/');
    const std::string directory = slash == std::string::npos ? "/" : path.substr(0, slash + 1);
    co_return co_await h->sync_directory(directory);
  }
  co_return co::result<void>{};
}

// The whole content of `path`.
co::task<co::result<std::string>> read_file(sim::host* h, std::string path) {
  auto f = co_await h->open(path, O_RDONLY);
  if (!f) co_return f.error();
  auto size = h->file_size(*f);
  if (!size) co_return size.error();
  std::vector<std::byte> buffer(*size);
  auto n = co_await h->pread(*f, buffer, 0);
  if (!n) co_return n.error();
  buffer.resize(*n);
  co_return text_of(buffer);
}

co::task<co::result<void>> sync_dir(sim::host* h, std::string path) {
  co_return co_await h->sync_directory(path);
}

}  // namespace

TEST_CASE("disk: writes are visible at once; a crash keeps synced writes and loses the rest") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "durable|", sync::data_and_directory)));
  REQUIRE(m.run(write_file(&m.host, "/log", "cached", sync::none, 8)));
  CHECK(m.run(read_file(&m.host, "/log")).value() == "durable|cached");
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "durable|");
}

TEST_CASE("disk: a write made after an fdatasync was issued is not covered by it") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "one", sync::data_and_directory)));
  auto body = [](sim::host* h) -> co::task<void> {
    auto f = co_await h->open("/log", O_RDWR);
    REQUIRE(f);
    co::scope both(co_await co::current_context());
    both.spawn([](sim::host* h, sim::file* f) -> co::task<void> {
      auto synced = co_await h->fdatasync(*f);
      REQUIRE(synced);
    }(h, &*f));
    auto later = bytes_of("two");
    auto written = co_await h->pwrite(*f, later, 3);  // the sync above is in flight
    REQUIRE(written);
    co_await both.join();
  };
  m.run(body(&m.host));
  CHECK(m.run(read_file(&m.host, "/log")).value() == "onetwo");
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "one");
}

TEST_CASE("disk: a crash may tear the last unsynced write, keeping a prefix of it") {
  const std::string synced = "header|";
  const std::string last(200, 'x');
  int torn = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    machine m(seed);
    m.host.disk().faults().torn_write = 1.0;
    REQUIRE(m.run(write_file(&m.host, "/log", synced, sync::data_and_directory)));
    REQUIRE(m.run(write_file(&m.host, "/log", last, sync::none, synced.size())));
    m.crash_and_restart();
    const std::string after = m.run(read_file(&m.host, "/log")).value();
    REQUIRE(after.size() >= synced.size());
    CHECK(after.substr(0, synced.size()) == synced);
    const std::string kept = after.substr(synced.size());
    CHECK(kept.size() < last.size());  // never the whole write
    CHECK(kept == last.substr(0, kept.size()));
    torn += !kept.empty();
  }
  CHECK(torn >= 15);  // almost every crash keeps some of it

  machine m;  // without the fault, nothing of it survives
  REQUIRE(m.run(write_file(&m.host, "/log", synced, sync::data_and_directory)));
  REQUIRE(m.run(write_file(&m.host, "/log", last, sync::none, synced.size())));
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == synced);
}

TEST_CASE("disk: a new file whose directory was not synced disappears in a crash") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/fresh", "data", sync::data)));
  CHECK(m.host.list_directory("/").value() == std::vector<std::string>{"fresh"});
  m.crash_and_restart();
  CHECK(m.host.list_directory("/").value().empty());
  CHECK(m.run(read_file(&m.host, "/fresh")).error() == std::errc::no_such_file_or_directory);

  REQUIRE(m.run(write_file(&m.host, "/kept", "data", sync::data_and_directory)));
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/kept")).value() == "data");
}

TEST_CASE("disk: a directory's entries are durable only once that directory is synced") {
  machine m;
  REQUIRE(m.host.make_directory("/raft"));
  REQUIRE(m.run(write_file(&m.host, "/raft/log", "entries", sync::data_and_directory)));
  m.crash_and_restart();  // "/raft" itself was never made durable in "/"
  CHECK(m.host.list_directory("/").value().empty());

  REQUIRE(m.host.make_directory("/raft"));
  REQUIRE(m.run(sync_dir(&m.host, "/")));
  REQUIRE(m.run(write_file(&m.host, "/raft/log", "entries", sync::data_and_directory)));
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/raft/log")).value() == "entries");
}

TEST_CASE("disk: rename replaces the target durably only after the directory sync") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/state", "v1", sync::data_and_directory)));

  // Write the new version aside, sync it, rename over the old one, crash before the directory sync.
  REQUIRE(m.run(write_file(&m.host, "/state.tmp", "v2", sync::data)));
  REQUIRE(m.host.rename("/state.tmp", "/state"));
  CHECK(m.run(read_file(&m.host, "/state")).value() == "v2");
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/state")).value() == "v1");
  CHECK(m.host.list_directory("/").value() == std::vector<std::string>{"state"});

  // The same, with the directory sync: the new version survives and the temporary name is gone.
  REQUIRE(m.run(write_file(&m.host, "/state.tmp", "v2", sync::data)));
  REQUIRE(m.host.rename("/state.tmp", "/state"));
  REQUIRE(m.run(sync_dir(&m.host, "/")));
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/state")).value() == "v2");
  CHECK(m.host.list_directory("/").value() == std::vector<std::string>{"state"});
}

TEST_CASE("disk: a removal not made durable is undone by a crash") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/segment-1", "old", sync::data_and_directory)));
  REQUIRE(m.host.remove("/segment-1"));
  CHECK(m.host.list_directory("/").value().empty());
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/segment-1")).value() == "old");
  REQUIRE(m.host.remove("/segment-1"));
  REQUIRE(m.run(sync_dir(&m.host, "/")));
  m.crash_and_restart();
  CHECK(m.host.list_directory("/").value().empty());
}

TEST_CASE("disk: unlink, awaited, removes as remove does: a crash undoes it until the directory is synced") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/segment-1", "old", sync::data_and_directory)));
  auto unlink = [](sim::host* h, std::string path) -> co::task<co::result<void>> {
    co_return co_await h->unlink(path);
  };
  REQUIRE(m.run(unlink(&m.host, "/segment-1")));
  CHECK(m.host.list_directory("/").value().empty());
  CHECK(m.run(unlink(&m.host, "/segment-1")).error() == std::errc::no_such_file_or_directory);
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/segment-1")).value() == "old");
  REQUIRE(m.run(unlink(&m.host, "/segment-1")));
  REQUIRE(m.run(sync_dir(&m.host, "/")));
  m.crash_and_restart();
  CHECK(m.host.list_directory("/").value().empty());
}

TEST_CASE("disk: punch_hole zeros a range within the size, which stays; durable like a write") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/segment-1", "abcdefgh", sync::data_and_directory)));
  // Punches [offset, offset + length) and, if `sync`, syncs the file.
  auto punch = [](sim::host* h, std::uint64_t offset, std::uint64_t length,
                  bool sync) -> co::task<co::result<void>> {
    auto f = co_await h->open("/segment-1", O_RDWR);
    if (!f) co_return f.error();
    if (auto r = co_await h->punch_hole(*f, offset, length); !r) co_return r;
    if (sync) co_return co_await h->fdatasync(*f);
    co_return co::result<void>{};
  };
  const std::string zeros(3, '\0');
  REQUIRE(m.run(punch(&m.host, 2, 3, false)));
  CHECK(m.run(read_file(&m.host, "/segment-1")).value() == "ab" + zeros + "fgh");
  REQUIRE(m.run(punch(&m.host, 6, 100, false)));  // clipped at the end: the size stays
  CHECK(m.run(read_file(&m.host, "/segment-1")).value() == "ab" + zeros + "f" + std::string(2, '\0'));
  m.crash_and_restart();  // not synced: undone
  CHECK(m.run(read_file(&m.host, "/segment-1")).value() == "abcdefgh");
  REQUIRE(m.run(punch(&m.host, 0, 3, true)));
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/segment-1")).value() == zeros + "defgh");
}

TEST_CASE("disk: writes past the capacity fail with ENOSPC and change nothing") {
  machine m;
  m.host.disk().faults().capacity = 100;
  REQUIRE(m.run(write_file(&m.host, "/a", std::string(60, 'a'), sync::none)));
  auto full = m.run(write_file(&m.host, "/a", std::string(50, 'b'), sync::none, 60));
  CHECK(full.error() == std::errc::no_space_on_device);
  CHECK(m.run(read_file(&m.host, "/a")).value() == std::string(60, 'a'));
  CHECK(m.run(write_file(&m.host, "/b", std::string(40, 'b'), sync::none)));  // exactly full
  CHECK(m.host.disk().used() == 100);
  CHECK(m.run(write_file(&m.host, "/a", std::string(60, 'c'), sync::none)));  // overwrite: no growth
  CHECK(m.run(write_file(&m.host, "/c", "x", sync::none)).error() == std::errc::no_space_on_device);
  REQUIRE(m.host.remove("/b"));  // no handle is open: the space comes back at once
  CHECK(m.host.disk().used() == 60);
  CHECK(m.run(write_file(&m.host, "/c", "x", sync::none)));
}

TEST_CASE("disk: ENOSPC clears once the capacity is raised again, and the same write then succeeds") {
  machine m;
  m.host.disk().faults().capacity = 10;
  auto full = m.run(write_file(&m.host, "/log", "0123456789abc", sync::data_and_directory));
  CHECK(full.error() == std::errc::no_space_on_device);
  m.host.disk().faults().capacity = std::numeric_limits<std::uint64_t>::max();  // space freed elsewhere
  REQUIRE(m.run(write_file(&m.host, "/log", "0123456789abc", sync::data_and_directory)));
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "0123456789abc");
}

TEST_CASE("disk: a failed write yields EIO and changes nothing; the next one may succeed") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "base|", sync::data_and_directory)));
  m.host.disk().faults().write_failure = 1.0;
  auto failed = m.run(write_file(&m.host, "/log", "lost", sync::data, 5));
  CHECK(failed.error() == std::errc::io_error);
  CHECK(m.run(read_file(&m.host, "/log")).value() == "base|");
  CHECK(m.host.disk().used() == 5);
  m.host.disk().faults().write_failure = 0.0;
  REQUIRE(m.run(write_file(&m.host, "/log", "kept", sync::data, 5)));
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "base|kept");
}

TEST_CASE("disk: a slow sync takes its latency spike, then makes its write durable as usual") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "", sync::data_and_directory)));
  m.host.disk().faults().slow_sync = 1.0;
  m.host.disk().faults().slow_sync_min = 80ms;
  m.host.disk().faults().slow_sync_max = 90ms;
  const io::time_point before = m.world.now();
  REQUIRE(m.run(write_file(&m.host, "/log", "slow", sync::data)));
  CHECK(m.world.now() - before >= 80ms);
  CHECK(m.world.now() - before <= 90ms);
  m.host.disk().faults().slow_sync = 0.0;
  const io::time_point fast_from = m.world.now();
  REQUIRE(m.run(write_file(&m.host, "/log", "fast", sync::data, 4)));
  CHECK(m.world.now() - fast_from <= m.host.disk().faults().max_sync_latency);
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "slowfast");
}

namespace {

// The outcome of 200 writes, each synced, on a disk whose every fault is likely: which failed and
// how, and how long each sync took. A function of the seed alone.
std::vector<std::string> faulty_disk_outcomes(std::uint64_t seed) {
  machine m(seed);
  sim::disk_faults& faults = m.host.disk().faults();
  faults.write_failure = 0.2;
  faults.sync_failure = 0.2;
  faults.slow_sync = 0.2;
  faults.capacity = 600;
  std::vector<std::string> outcomes;
  for (int k = 0; k < 200; ++k) {
    const io::time_point before = m.world.now();
    auto r = m.run(write_file(&m.host, "/f" + std::to_string(k % 20), std::string(1 + k % 7, 'x'),
                              sync::data, static_cast<std::uint64_t>(k)));
    outcomes.push_back((r ? std::string("ok") : r.error().message()) + " after " +
                       std::to_string((m.world.now() - before).count()));
  }
  return outcomes;
}

}  // namespace

TEST_CASE("disk: its faults follow from the seed: the same seed fails the same operations alike") {
  const auto first = faulty_disk_outcomes(5);
  CHECK(first == faulty_disk_outcomes(5));
  CHECK(first != faulty_disk_outcomes(6));
  auto count = [&](const std::string& what) {
    return std::count_if(first.begin(), first.end(), [&](const std::string& o) { return o.starts_with(what); });
  };
  CHECK(count("ok") > 0);
  CHECK(count(co::errno_code(EIO).message()) > 0);
  CHECK(count(co::errno_code(ENOSPC).message()) > 0);
}

TEST_CASE("disk: a failed fdatasync yields EIO and forgets the writes it covered") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "base|", sync::data_and_directory)));
  m.host.disk().faults().sync_failure = 1.0;
  auto failed = m.run(write_file(&m.host, "/log", "lost", sync::data, 5));
  CHECK(failed.error() == std::errc::io_error);
  CHECK(m.run(read_file(&m.host, "/log")).value() == "base|lost");  // still readable, for now
  m.host.disk().faults().sync_failure = 0.0;
  auto flush = [](sim::host* h) -> co::task<co::result<void>> {
    auto f = co_await h->open("/log", O_RDWR);
    if (!f) co_return f.error();
    co_return co_await h->fdatasync(*f);
  };
  REQUIRE(m.run(flush(&m.host)));  // a later sync succeeds, without them
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "base|");
}

TEST_CASE("disk: a cancelled fdatasync yields cancelled() and makes nothing durable") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "", sync::data_and_directory)));
  std::optional<co::result<void>> outcome;
  {
    co::scope s(m.host);
    s.spawn([](sim::host* h, std::optional<co::result<void>>* out) -> co::task<void> {
      auto f = co_await h->open("/log", O_RDWR);
      REQUIRE(f);
      auto bytes = bytes_of("pending");
      auto written = co_await h->pwrite(*f, bytes, 0);
      REQUIRE(written);
      out->emplace(co_await h->fdatasync(*f));
    }(&m.host, &outcome));
    CHECK_FALSE(outcome);  // the sync takes time
    s.request_stop();
    s.run_until_idle();
  }
  REQUIRE(outcome);
  CHECK(co::is_cancelled(outcome->error()));
  m.world.run_for(1s);
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "");
}

TEST_CASE("disk: write_and_sync makes its write durable before it returns") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "", sync::data_and_directory)));
  auto body = [](sim::host* h) -> co::task<co::result<void>> {
    auto f = co_await h->open("/log", O_RDWR);
    if (!f) co_return f.error();
    auto first = bytes_of("first,");
    auto second = bytes_of("second");
    const iovec pieces[] = {{first.data(), first.size()}, {second.data(), second.size()}};
    co_return co_await h->write_and_sync(*f, pieces, 0);
  };
  const io::time_point before = m.world.now();
  REQUIRE(m.run(body(&m.host)));
  CHECK(m.world.now() > before);  // a sync takes simulated time
  m.crash_and_restart();
  CHECK(m.run(read_file(&m.host, "/log")).value() == "first,second");
}

TEST_CASE("disk: open, truncate and directory operations follow POSIX") {
  machine m;
  auto body = [](sim::host* h) -> co::task<void> {
    auto missing = co_await h->open("/missing", O_RDWR);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
    auto no_parent = co_await h->open("/no/such/dir/file", O_CREAT | O_RDWR);
    CHECK(no_parent.error() == std::errc::no_such_file_or_directory);
    auto f = co_await h->open("/file", O_CREAT | O_EXCL | O_RDWR);
    REQUIRE(f);
    auto again = co_await h->open("/file", O_CREAT | O_EXCL | O_RDWR);
    CHECK(again.error() == std::errc::file_exists);
    auto bytes = bytes_of("0123456789");
    auto written = co_await h->pwrite(*f, bytes, 0);
    CHECK(*written == 10);
    REQUIRE(h->truncate(*f, 4));
    CHECK(*h->file_size(*f) == 4);

    auto read_only = co_await h->open("/file", O_RDONLY);
    REQUIRE(read_only);
    auto not_writable = co_await h->pwrite(*read_only, bytes, 0);
    CHECK(not_writable.error() == std::errc::bad_file_descriptor);
    std::array<std::byte, 16> buffer;
    auto read = co_await h->pread(*read_only, buffer, 0);
    CHECK(*read == 4);
    auto past_end = co_await h->pread(*read_only, buffer, 100);
    CHECK(*past_end == 0);
    auto write_only = co_await h->open("/file", O_WRONLY | O_TRUNC);
    REQUIRE(write_only);
    CHECK(*h->file_size(*f) == 0);
    auto not_readable = co_await h->pread(*write_only, buffer, 0);
    CHECK(not_readable.error() == std::errc::bad_file_descriptor);

    REQUIRE(h->make_directory("/d"));
    CHECK(h->make_directory("/d").error() == std::errc::file_exists);
    REQUIRE(h->make_directory("d/e"));  // a leading '/' is optional
    auto directory = co_await h->open("/d", O_RDONLY);
    CHECK(directory.error() == std::errc::is_a_directory);
    CHECK(h->remove("/d").error() == std::errc::directory_not_empty);
    CHECK(h->list_directory("/file").error() == std::errc::not_a_directory);
    CHECK(h->list_directory("/").value() == std::vector<std::string>{"d", "file"});
    CHECK(h->rename("/d", "/d/e/inside").error() == std::errc::invalid_argument);
    CHECK(h->rename("/file", "/d").error() == std::errc::is_a_directory);
    CHECK(h->rename("/nothing", "/x").error() == std::errc::no_such_file_or_directory);
    REQUIRE(h->rename("/file", "/d/e/file"));
    CHECK(h->list_directory("/d/e").value() == std::vector<std::string>{"file"});
    CHECK(*h->file_size(*f) == 0);  // the open handle follows the file
    CHECK(h->remove("/nothing").error() == std::errc::no_such_file_or_directory);
    CHECK(h->list_directory("/../etc").error() == std::errc::invalid_argument);
  };
  m.run(body(&m.host));
}

TEST_CASE("disk: handles opened before a crash are dead after it") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "x", sync::data_and_directory)));
  std::optional<sim::file> old;
  m.run([](sim::host* h, std::optional<sim::file>* keep) -> co::task<void> {
    auto f = co_await h->open("/log", O_RDWR);
    REQUIRE(f);
    keep->emplace(std::move(*f));
  }(&m.host, &old));
  m.crash_and_restart();
  CHECK(m.host.file_size(*old).error() == std::errc::bad_file_descriptor);
  old.reset();
  m.host.crash();
  CHECK(co::is_cancelled(m.host.list_directory("/").error()));  // a host that is down does nothing
  m.host.restart();
  CHECK(m.host.list_directory("/").value() == std::vector<std::string>{"log"});
}

TEST_CASE("disk: a full disk refuses every write that needs space, even after a crash, and overwrites still succeed") {
  machine m;
  REQUIRE(m.run(write_file(&m.host, "/log", "0123", sync::data_and_directory)));
  m.host.disk().faults().full = true;
  CHECK(m.run(write_file(&m.host, "/log", "45", sync::data, 4)).error() == std::errc::no_space_on_device);
  REQUIRE(m.run(write_file(&m.host, "/log", "ab", sync::data, 0)));  // in place: no new space
  m.crash_and_restart();
  CHECK(m.run(write_file(&m.host, "/log", "45", sync::data, 4)).error() == std::errc::no_space_on_device);
  m.host.disk().faults().full = false;
  REQUIRE(m.run(write_file(&m.host, "/log", "45", sync::data, 4)));
  CHECK(m.run(read_file(&m.host, "/log")).value() == "ab2345");
}
