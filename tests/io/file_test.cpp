#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/io/errors.hpp>
#include <coraft/io/uring_executor.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "support.hpp"

using coraft::co::block_on;
using coraft::co::result;
using coraft::co::scope;
using coraft::co::task;
using io_test::executor;
using io_test::temp_directory;

namespace {

// The whole content of `path`, read with plain POSIX calls (not through the executor under test).
std::string read_back(const std::string& path) {
  std::string content;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  char chunk[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, chunk, sizeof chunk)) > 0) content.append(chunk, static_cast<size_t>(n));
  ::close(fd);
  return content;
}

iovec piece(const char* text) {
  return iovec{const_cast<char*>(text), std::strlen(text)};
}

std::span<const std::byte> text_bytes(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

constexpr int create_flags = O_RDWR | O_CREAT | O_TRUNC;

}  // namespace

TEST_CASE("write_and_sync: completes once written and synced, and the bytes are on disk") {
  executor ex;
  temp_directory dir;
  auto body = [](executor& ex, std::string path) -> task<void> {
    auto f = (co_await ex.open(path, create_flags)).value();
    std::array<iovec, 2> first{piece("hello "), piece("world")};
    auto written = co_await ex.write_and_sync(f, first, 0);
    CHECK(written.has_value());
    CHECK(read_back(path) == "hello world");
    std::array<iovec, 1> second{piece("there")};
    CHECK((co_await ex.write_and_sync(f, second, 6)).has_value());
    CHECK(read_back(path) == "hello there");
    CHECK(ex.operations_in_flight() == 0);
  };
  block_on(ex, body(ex, dir / "log"));
}

TEST_CASE("write_and_sync: a write the file refuses is an error value and nothing is synced") {
  executor ex;
  temp_directory dir;
  {
    int fd = ::open((dir / "read-only").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    ::close(fd);
  }
  auto body = [](executor& ex, std::string path) -> task<void> {
    auto f = (co_await ex.open(path, O_RDONLY)).value();
    std::array<iovec, 1> bytes{piece("nope")};
    auto written = co_await ex.write_and_sync(f, bytes, 0);
    REQUIRE_FALSE(written.has_value());
    CHECK(written.error() == std::errc::bad_file_descriptor);
  };
  block_on(ex, body(ex, dir / "read-only"));
  CHECK(read_back(dir / "read-only").empty());
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("write_and_sync: a short write is reported as short_write, never accepted") {
  // A file size limit makes the kernel write only the bytes below it: a genuine short write.
  executor ex;
  temp_directory dir;
  // Limits the process to files of `bytes` bytes (writes past it are cut short, SIGXFSZ ignored)
  // until it goes out of scope, even if an assertion fails first.
  struct file_size_limit {
    rlimit saved{};
    void (*saved_handler)(int) = nullptr;
    explicit file_size_limit(rlim_t bytes) {
      REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
      saved_handler = ::signal(SIGXFSZ, SIG_IGN);
      rlimit limited = saved;
      limited.rlim_cur = bytes;
      REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
    }
    ~file_size_limit() {
      ::setrlimit(RLIMIT_FSIZE, &saved);
      ::signal(SIGXFSZ, saved_handler);
    }
  };
  std::optional<file_size_limit> limit(std::in_place, 8);

  auto body = [](executor& ex, std::string path) -> task<void> {
    auto f = (co_await ex.open(path, create_flags)).value();
    std::array<iovec, 2> bytes{piece("0123456789"), piece("abcdef")};
    auto written = co_await ex.write_and_sync(f, bytes, 0);
    REQUIRE_FALSE(written.has_value());
    CHECK(written.error() == coraft::io::errc::short_write);
    // A plain pwrite reports the same limit as a short count.
    auto count = co_await ex.pwrite(f, text_bytes("0123456789abcdef"), 0);
    REQUIRE(count.has_value());
    CHECK(*count == 8);
  };
  block_on(ex, body(ex, dir / "limited"));

  limit.reset();
  CHECK(read_back(dir / "limited") == "01234567");
  CHECK(ex.operations_in_flight() == 0);
}

TEST_CASE("write_and_sync: cancelled before submission touches nothing") {
  executor ex;
  temp_directory dir;
  auto f = block_on(ex, [](executor& ex, std::string path) -> task<executor::file> {
             co_return (co_await ex.open(path, create_flags)).value();
           }(ex, dir / "untouched"));
  result<void> written;
  std::array<iovec, 1> bytes{piece("data")};
  scope writers(ex);
  writers.request_stop();
  auto write = [](executor& ex, executor::file& f, std::span<const iovec> bytes,
                  result<void>* out) -> task<void> {
    *out = co_await ex.write_and_sync(f, bytes, 0);
  };
  writers.spawn(write(ex, f, bytes, &written));
  writers.run_until_idle();
  CHECK(written.error() == coraft::co::cancelled());
  CHECK(ex.operations_in_flight() == 0);
  CHECK(read_back(dir / "untouched").empty());
}

TEST_CASE("pwritev and pread: a gathered write at an offset reads back the same") {
  executor ex;
  temp_directory dir;
  auto body = [](executor& ex, std::string path) -> task<void> {
    auto f = (co_await ex.open(path, create_flags)).value();
    std::array<iovec, 3> pieces{piece("alpha,"), piece("beta,"), piece("gamma")};
    auto written = co_await ex.pwritev(f, pieces, 100);
    REQUIRE(written.has_value());
    CHECK(*written == 16);
    CHECK((co_await ex.fdatasync(f)).has_value());

    std::array<std::byte, 16> got{};
    auto read = co_await ex.pread(f, got, 100);
    REQUIRE(read.has_value());
    CHECK(*read == 16);
    CHECK(std::memcmp(got.data(), "alpha,beta,gamma", 16) == 0);

    // Before the offset is a hole of zeros; past the end, a read yields 0.
    std::array<std::byte, 4> hole{std::byte{1}, std::byte{1}, std::byte{1}, std::byte{1}};
    CHECK(*(co_await ex.pread(f, hole, 10)) == 4);
    CHECK(hole == std::array<std::byte, 4>{});
    CHECK(*(co_await ex.pread(f, got, 116)) == 0);
    CHECK(*ex.file_size(f) == 116);

    auto single = co_await ex.pwrite(f, text_bytes("BETA"), 106);
    CHECK(*single == 4);
    CHECK(*(co_await ex.pread(f, got, 100)) == 16);
    CHECK(std::memcmp(got.data(), "alpha,BETA,gamma", 16) == 0);
  };
  block_on(ex, body(ex, dir / "data"));
}

TEST_CASE("open: a missing file is ENOENT as a value") {
  executor ex;
  temp_directory dir;
  auto body = [](executor& ex, std::string path) -> task<void> {
    auto f = co_await ex.open(path, O_RDONLY);
    REQUIRE_FALSE(f.has_value());
    CHECK(f.error() == std::errc::no_such_file_or_directory);
  };
  block_on(ex, body(ex, dir / "missing"));
}

TEST_CASE("files: size, truncate, rename, remove, make_directory, list_directory, sync_directory") {
  executor ex;
  temp_directory dir;
  auto body = [](executor& ex, const temp_directory& dir) -> task<void> {
    CHECK(ex.make_directory(dir / "sub").has_value());
    CHECK(ex.make_directory(dir / "sub").error() == std::errc::file_exists);
    {
      auto b = (co_await ex.open(dir / "b", create_flags)).value();
      CHECK(*(co_await ex.pwrite(b, text_bytes("0123456789"), 0)) == 10);
      CHECK(*ex.file_size(b) == 10);
      CHECK(ex.truncate(b, 4).has_value());
      CHECK(*ex.file_size(b) == 4);
      auto a = (co_await ex.open(dir / "a", create_flags)).value();
    }
    CHECK(read_back(dir / "b") == "0123");
    CHECK(*ex.list_directory(dir.path()) == std::vector<std::string>{"a", "b", "sub"});

    CHECK(ex.rename(dir / "a", dir / "c").has_value());
    CHECK((co_await ex.sync_directory(dir.path())).has_value());
    CHECK(*ex.list_directory(dir.path()) == std::vector<std::string>{"b", "c", "sub"});

    CHECK(ex.remove(dir / "c").has_value());
    CHECK(ex.remove(dir / "sub").has_value());
    CHECK(ex.remove(dir / "c").error() == std::errc::no_such_file_or_directory);
    CHECK(*ex.list_directory(dir.path()) == std::vector<std::string>{"b"});

    CHECK(ex.list_directory(dir / "missing").error() == std::errc::no_such_file_or_directory);
    auto missing = co_await ex.sync_directory(dir / "missing");
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
    CHECK(ex.operations_in_flight() == 0);
  };
  block_on(ex, body(ex, dir));
}

TEST_CASE("files: many reads and writes at once on an executor with a submission queue of 4") {
  executor ex(4);
  temp_directory dir;
  auto body = [](executor& ex, std::string path) -> task<void> {
    auto f = (co_await ex.open(path, create_flags)).value();
    constexpr int blocks = 200;
    std::vector<std::array<char, 8>> written(blocks);
    scope writers(co_await coraft::co::current_context());
    auto write_block = [](executor& ex, executor::file& f, std::array<char, 8>* block,
                          int index) -> task<void> {
      std::snprintf(block->data(), block->size(), "%07d", index);
      std::array<iovec, 1> bytes{iovec{block->data(), 8}};
      CHECK((co_await ex.write_and_sync(f, bytes, static_cast<std::uint64_t>(index) * 8)));
    };
    for (int i = 0; i < blocks; ++i) writers.spawn(write_block(ex, f, &written[i], i));
    co_await writers.join();

    std::vector<std::array<std::byte, 8>> read(blocks);
    scope readers(co_await coraft::co::current_context());
    auto read_block = [](executor& ex, executor::file& f, std::array<std::byte, 8>* block,
                         int index) -> task<void> {
      CHECK(*(co_await ex.pread(f, *block, static_cast<std::uint64_t>(index) * 8)) == 8);
    };
    for (int i = 0; i < blocks; ++i) readers.spawn(read_block(ex, f, &read[i], i));
    co_await readers.join();
    int matching = 0;
    for (int i = 0; i < blocks; ++i) {
      matching += std::memcmp(read[i].data(), written[i].data(), 8) == 0;
    }
    CHECK(matching == blocks);
  };
  block_on(ex, body(ex, dir / "blocks"));
}

TEST_CASE("files: unlink removes a file through the ring; punch_hole frees a range, size kept") {
  executor ex;
  temp_directory dir;
  auto body = [](executor& ex, const temp_directory& dir) -> task<void> {
    {
      auto f = (co_await ex.open(dir / "segment", create_flags)).value();
      const std::string content(3 * 4096, 'x');
      CHECK(*(co_await ex.pwrite(f, text_bytes(content), 0)) == content.size());
      // The middle block becomes a hole: zeros there, the rest and the size unchanged.
      auto punched = co_await ex.punch_hole(f, 4096, 4096);
      REQUIRE_MESSAGE(punched, punched.error().message());
      CHECK(*ex.file_size(f) == 3 * 4096);
      // Past the end: nothing to free, and the size still stays.
      CHECK((co_await ex.punch_hole(f, 3 * 4096, 4096)).has_value());
      CHECK(*ex.file_size(f) == 3 * 4096);
    }
    CHECK(read_back(dir / "segment") ==
          std::string(4096, 'x') + std::string(4096, '\0') + std::string(4096, 'x'));

    CHECK((co_await ex.unlink(dir / "segment")).has_value());
    CHECK(ex.list_directory(dir.path())->empty());
    CHECK((co_await ex.unlink(dir / "segment")).error() == std::errc::no_such_file_or_directory);
    CHECK((co_await ex.sync_directory(dir.path())).has_value());
    CHECK(ex.operations_in_flight() == 0);
  };
  block_on(ex, body(ex, dir));
}
