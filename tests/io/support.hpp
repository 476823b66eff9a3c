// Helpers shared by the io tests: a temporary directory and a connected pair of loopback streams.
#pragma once

#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/co/when_all.hpp>
#include <coraft/io/uring_executor.hpp>

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

namespace io_test {

using coraft::co::task;
using executor = coraft::io::uring_executor;

// A fresh directory under /tmp, removed with everything in it when the test ends.
class temp_directory {
 public:
  temp_directory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "coraft-io-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  temp_directory(const temp_directory&) = delete;
  temp_directory& operator=(const temp_directory&) = delete;
  ~temp_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline coraft::io::endpoint loopback_any_port() { return {"127.0.0.1", 0}; }

// Awaits one connection on `from`. The listener is owned by the caller, which awaits this task.
inline task<coraft::co::result<executor::stream>> accept_one(executor& ex,
                                                             executor::listener& from) {
  co_return co_await ex.accept(from);
}

inline task<coraft::co::result<executor::stream>> connect_to(executor& ex,
                                                             coraft::io::endpoint remote) {
  co_return co_await ex.connect(remote);
}

// Both ends of one TCP connection on loopback, and the listener that produced it.
struct connection {
  executor::listener listener;
  executor::stream client;
  executor::stream server;
};

inline connection connect_pair(executor& ex) {
  auto listener = ex.listen(loopback_any_port()).value();
  auto both = [](executor& ex, executor::listener& l)
      -> task<std::pair<executor::stream, executor::stream>> {
    auto [client, server] =
        co_await coraft::co::when_all(connect_to(ex, l.local_endpoint()), accept_one(ex, l));
    co_return std::pair{std::move(client).value(), std::move(server).value()};
  };
  auto [client, server] = coraft::co::block_on(ex, both(ex, listener));
  return connection{std::move(listener), std::move(client), std::move(server)};
}

}  // namespace io_test
