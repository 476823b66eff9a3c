// client.hpp — a coraft-kv client whose commands take effect exactly once.
//
// The client names itself with a 64-bit id and numbers its commands. Each command travels as
// `SESSION id sequence COMMAND ...`; the cluster's session table remembers the latest sequence
// number of every client and the reply it got, so a command sent again — because the connection
// dropped, the reply was late, or the member answered TRYAGAIN — is answered from the table, not
// applied a second time. The client retries on the next member until it has a reply or its
// deadline passes.
//
//   kv::client c(executor, {{"127.0.0.1", 6381}, {"127.0.0.1", 6382}, {"127.0.0.1", 6383}}, id);
//   std::vector<std::string> incr{"INCR", "visits"};
//   auto reply = co_await c.call(std::move(incr));   // ":42\r\n", exactly once
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <coraft/co/result.hpp>
#include <coraft/co/task.hpp>
#include <coraft/co/deadline.hpp>
#include <coraft/io/contract.hpp>
#include <coraft/io/stream_ops.hpp>

#include "resp.hpp"

namespace kv {

template <class Executor>
  requires coraft::io::streams<Executor> && coraft::io::timers<Executor>
class client {
 public:
  struct options {
    std::chrono::nanoseconds attempt_timeout = std::chrono::seconds(2);  // one try at one member
    std::chrono::nanoseconds deadline = std::chrono::seconds(30);        // all tries of one call
    std::chrono::nanoseconds retry_pause = std::chrono::milliseconds(50);
  };

  client(Executor& executor, std::vector<coraft::io::endpoint> members, std::uint64_t id,
         options opts = {})
      : executor_(executor), members_(std::move(members)), id_(id), options_(opts) {}

  // Runs one command exactly once and yields its raw RESP reply; errors: timed_out once the
  // deadline passes with no member answering, cancelled().
  coraft::co::task<coraft::co::result<std::string>> call(std::vector<std::string> command) {
    std::vector<std::string> wrapped{"SESSION", std::to_string(id_), std::to_string(++sequence_)};
    wrapped.insert(wrapped.end(), command.begin(), command.end());
    std::string request;
    resp::command(request, wrapped);
    const auto give_up = executor_.now() + options_.deadline;
    while (executor_.now() < give_up) {
      auto first = co_await coraft::co::with_timeout(executor_, options_.attempt_timeout,
                                                     attempt(request));
      if (!first.timed_out()) {
        auto& reply = *first;
        if (reply && !reply->starts_with("-TRYAGAIN")) co_return std::move(*reply);
        if (!reply && coraft::co::is_cancelled(reply.error())) co_return reply.error();
      }
      // No answer, a lost connection or TRYAGAIN: the same command, at the next member.
      connection_.reset();
      buffer_.clear();
      current_ = (current_ + 1) % members_.size();
      ++retries_;
      if (!co_await executor_.sleep_for(options_.retry_pause)) co_return coraft::co::cancelled();
    }
    co_return std::make_error_code(std::errc::timed_out);
  }

  std::uint64_t retries() const noexcept { return retries_; }

 private:
  // One try at the current member: connect if needed, send, read one reply.
  coraft::co::task<coraft::co::result<std::string>> attempt(const std::string& request) {
    if (!connection_) {
      auto connected = co_await executor_.connect(members_[current_]);
      if (!connected) co_return connected.error();
      connection_.emplace(std::move(*connected));
    }
    const std::span<const std::byte> bytes = std::as_bytes(std::span(request));
    if (auto sent = co_await coraft::io::write_all(executor_, *connection_, bytes); !sent)
      co_return sent.error();
    std::array<char, 4096> chunk;
    while (true) {
      auto length = resp::reply_length(buffer_);
      if (!length) co_return std::make_error_code(std::errc::protocol_error);
      if (*length > 0) {
        std::string reply = buffer_.substr(0, *length);
        buffer_.erase(0, *length);
        co_return reply;
      }
      const std::span<std::byte> into = std::as_writable_bytes(std::span(chunk));
      auto got = co_await executor_.recv(*connection_, into);
      if (!got) co_return got.error();
      if (*got == 0) co_return std::make_error_code(std::errc::connection_reset);
      buffer_.append(chunk.data(), *got);
    }
  }

  Executor& executor_;
  std::vector<coraft::io::endpoint> members_;
  const std::uint64_t id_;
  const options options_;
  std::uint64_t sequence_ = 0;
  std::size_t current_ = 0;
  std::optional<typename Executor::stream> connection_;
  std::string buffer_;
  std::uint64_t retries_ = 0;
};

}  // namespace kv
