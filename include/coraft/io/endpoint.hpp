// coraft/io/endpoint.hpp — a network address as "host:port", parsed once, printed back the same.
#pragma once

#include <charconv>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace coraft::io {

struct endpoint {
  std::string host;  // an IPv4 address on the real network, any name in the simulator
  std::uint16_t port = 0;

  // Constructors, so that endpoint is not an aggregate: g++ 12 destroys a braced aggregate
  // temporary twice when it appears in a co_await operand, as `co_await connect({host, port})`.
  endpoint() = default;
  endpoint(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}

  std::string to_string() const { return host + ":" + std::to_string(port); }
  friend auto operator<=>(const endpoint&, const endpoint&) = default;

  // "127.0.0.1:7001" -> {host, port}; nullopt if the text is not host:port with a 16-bit port.
  static std::optional<endpoint> parse(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return {};
    unsigned value = 0;
    auto digits = text.substr(colon + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size() || value > 65535) return {};
    return endpoint{std::string(text.substr(0, colon)), static_cast<std::uint16_t>(value)};
  }
};

}  // namespace coraft::io
