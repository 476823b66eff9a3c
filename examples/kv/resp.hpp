// resp.hpp — the Redis serialization protocol (RESP2), both directions, with bounds.
//
// Requests: an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`), as every Redis client
// sends, or an inline command (`PING\r\n`), as a person at a terminal types. parse_request() looks
// at the start of a buffer and says: a whole command (and how many bytes it took), not enough bytes
// yet, or a protocol error — never more than the limits allow, whatever a client sends.
//
// Replies: small builders that append to a string, and reply_length(), which finds where one
// encoded reply ends (to relay a leader's reply without decoding it).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kv::resp {

inline constexpr std::size_t max_bulk_length = 16u << 20;   // one argument
inline constexpr std::size_t max_arguments = 1u << 20;      // arguments of one command
inline constexpr std::size_t max_inline_length = 64u << 10;  // an inline command's line

struct parsed {
  enum class outcome { command, incomplete, error } result = outcome::incomplete;
  std::vector<std::string> arguments;  // for a command
  std::size_t consumed = 0;            // bytes of the buffer the command took
  std::string error;                   // for an error: what was wrong (the connection closes)
};

namespace detail {

// A decimal integer line ending in \r\n at `at`, advancing `at` past it; nullopt if incomplete.
// Sets `malformed` when the line is not an integer.
inline std::optional<long long> integer_line(std::string_view in, std::size_t& at, bool& malformed) {
  auto end = in.find("\r\n", at);
  if (end == std::string_view::npos) {
    malformed = in.size() - at > 32;  // no sane integer line is this long
    return malformed ? std::optional<long long>(0) : std::nullopt;
  }
  long long value = 0;
  auto [p, ec] = std::from_chars(in.data() + at, in.data() + end, value);
  malformed = ec != std::errc{} || p != in.data() + end;
  at = end + 2;
  return value;
}

inline parsed error(std::string why) {
  parsed p;
  p.result = parsed::outcome::error;
  p.error = std::move(why);
  return p;
}

}  // namespace detail

inline parsed parse_request(std::string_view in) {
  parsed p;
  if (in.empty()) return p;
  if (in[0] != '*') {  // inline: words separated by spaces, up to the end of the line
    auto end = in.find('\n');
    if (end == std::string_view::npos) {
      return in.size() > max_inline_length ? detail::error("too big inline request") : p;
    }
    std::string_view line = in.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    for (std::size_t i = 0; i < line.size();) {
      while (i < line.size() && line[i] == ' ') ++i;
      std::size_t start = i;
      while (i < line.size() && line[i] != ' ') ++i;
      if (i > start) p.arguments.emplace_back(line.substr(start, i - start));
    }
    p.consumed = end + 1;
    p.result = parsed::outcome::command;  // an empty line is a command with no arguments
    return p;
  }
  std::size_t at = 1;
  bool malformed = false;
  auto count = detail::integer_line(in, at, malformed);
  if (!count) return p;
  if (malformed || *count < 0 || static_cast<std::size_t>(*count) > max_arguments)
    return detail::error("invalid multibulk length");
  p.arguments.reserve(static_cast<std::size_t>(*count));
  for (long long i = 0; i < *count; ++i) {
    if (at >= in.size()) return parsed{};
    if (in[at] != '$') return detail::error(std::string("expected '$', got '") + in[at] + "'");
    ++at;
    auto length = detail::integer_line(in, at, malformed);
    if (!length) return parsed{};
    if (malformed || *length < 0 || static_cast<std::size_t>(*length) > max_bulk_length)
      return detail::error("invalid bulk length");
    const auto size = static_cast<std::size_t>(*length);
    if (in.size() - at < size + 2) return parsed{};
    if (in.substr(at + size, 2) != "\r\n") return detail::error("bulk string not terminated");
    p.arguments.emplace_back(in.substr(at, size));
    at += size + 2;
  }
  p.consumed = at;
  p.result = parsed::outcome::command;
  return p;
}

// ---- replies ------------------------------------------------------------------------------------

inline void simple(std::string& out, std::string_view text) {
  out += '+';
  out += text;
  out += "\r\n";
}
inline void error(std::string& out, std::string_view text) {
  out += '-';
  out += text;
  out += "\r\n";
}
inline void integer(std::string& out, long long value) {
  out += ':';
  out += std::to_string(value);
  out += "\r\n";
}
inline void bulk(std::string& out, std::string_view text) {
  out += '$';
  out += std::to_string(text.size());
  out += "\r\n";
  out += text;
  out += "\r\n";
}
inline void null_bulk(std::string& out) { out += "$-1\r\n"; }
inline void array_header(std::string& out, std::size_t count) {
  out += '*';
  out += std::to_string(count);
  out += "\r\n";
}
inline void command(std::string& out, const std::vector<std::string>& arguments) {
  array_header(out, arguments.size());
  for (const auto& a : arguments) bulk(out, a);
}

// The length of the one encoded reply at the start of `in`: 0 if it is not complete yet, nullopt if
// it is not a valid reply.
inline std::optional<std::size_t> reply_length(std::string_view in, std::size_t at = 0,
                                               int depth = 0) {
  if (depth > 8) return std::nullopt;
  if (at >= in.size()) return 0;
  const char kind = in[at];
  if (kind == '+' || kind == '-') {
    auto end = in.find("\r\n", at);
    return end == std::string_view::npos ? 0 : end + 2 - at;
  }
  std::size_t after = at + 1;
  bool malformed = false;
  auto value = detail::integer_line(in, after, malformed);
  if (!value) return 0;
  if (malformed) return std::nullopt;
  if (kind == ':') return after - at;
  if (kind == '$') {
    if (*value == -1) return after - at;
    if (*value < 0) return std::nullopt;
    const auto size = static_cast<std::size_t>(*value);
    if (in.size() - after < size + 2) return 0;
    return after + size + 2 - at;
  }
  if (kind == '*') {
    if (*value == -1) return after - at;
    if (*value < 0) return std::nullopt;
    std::size_t total = after - at;
    for (long long i = 0; i < *value; ++i) {
      auto element = reply_length(in, at + total, depth + 1);
      if (!element || *element == 0) return element;
      total += *element;
    }
    return total;
  }
  return std::nullopt;
}

}  // namespace kv::resp
