// coraft/raft/option_checks.hpp — the rules every options struct shares, for its validate().
//
// A bad option is refused when the object it configures is constructed, with a
// std::invalid_argument that names the struct, the option, its value and the rule, so that the
// message alone says what to change.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace coraft::raft::option_checks {

using namespace std::chrono_literals;

// Durations longer than this are refused: surely a unit mistake, and the timers double or add
// them, which would overflow.
inline constexpr std::chrono::nanoseconds longest_duration = std::chrono::hours(24);

// A duration as an operator wrote it: whole milliseconds as "150ms", anything else in ns.
inline std::string to_text(std::chrono::nanoseconds d) {
  if (d.count() % 1'000'000 == 0) return std::to_string(d.count() / 1'000'000) + "ms";
  return std::to_string(d.count()) + "ns";
}
inline std::string to_text(std::uint64_t n) { return std::to_string(n); }

// Throws the refusal: "<owner>: <option> (<value>) <rule>".
[[noreturn]] inline void refuse(const char* owner, const char* option, const std::string& value,
                                const std::string& rule) {
  throw std::invalid_argument(std::string(owner) + ": " + option + " (" + value + ") " + rule);
}

// A timer's duration: above zero (zero spins or divides by zero), at most longest_duration.
inline void require_duration(const char* owner, const char* option, std::chrono::nanoseconds d) {
  if (d <= 0ns) refuse(owner, option, to_text(d), "must be positive");
  if (d > longest_duration) refuse(owner, option, to_text(d), "must be at most 24 hours");
}

// A size, count or window: zero would let nothing through.
inline void require_at_least(const char* owner, const char* option, std::uint64_t value,
                             std::uint64_t least, const std::string& why = "") {
  if (value < least)
    refuse(owner, option, to_text(value),
           "must be at least " + to_text(least) + (why.empty() ? "" : ": " + why));
}

}  // namespace coraft::raft::option_checks
