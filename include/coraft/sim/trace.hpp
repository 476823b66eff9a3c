// coraft/sim/trace.hpp — a fingerprint of everything that happened in a simulation.
//
// Every event the world and its parts take note of (a timer firing, a message sent, delivered or
// dropped, a write, a sync, a crash) is folded into one running 64-bit hash together with the
// virtual time it happened at. Two runs from one seed must end with the same fingerprint; if they
// do not, something in the simulation depends on more than the seed (an address, an unordered
// container, real time). Keeping the events as readable lines is optional: it costs memory, and it
// is what one wants when looking for the first step where two runs part.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coraft/io/contract.hpp"

namespace coraft::sim {

class trace {
 public:
  // Fold one event into the fingerprint: when it happened, who it happened to, what it was, and a
  // number that tells it apart from its neighbours (a size, an id, an error).
  void record(io::time_point when, std::string_view who, std::string_view what,
              std::uint64_t detail = 0) {
    const auto nanos = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count());
    mix(nanos);
    mix_text(who);
    mix_text(what);
    mix(detail);
    ++events_;
    if (keep_lines_) {
      lines_.push_back(std::to_string(nanos) + "ns " + std::string(who) + " " + std::string(what) +
                       " " + std::to_string(detail));
    }
  }

  // Fold a bare number into the fingerprint without counting an event or writing a line: for the
  // many small facts (which timer fired) that matter to the fingerprint but not to a reader.
  void mix(std::uint64_t value) noexcept {
    for (int i = 0; i < 8; ++i) mix_byte(static_cast<unsigned char>(value >> (8 * i)));
  }

  void keep_lines(bool keep) noexcept { keep_lines_ = keep; }
  const std::vector<std::string>& lines() const noexcept { return lines_; }

  std::uint64_t fingerprint() const noexcept { return hash_; }
  std::uint64_t events() const noexcept { return events_; }

 private:
  // FNV-1a: simple, and specified byte for byte, so the fingerprint is the same everywhere.
  void mix_byte(unsigned char byte) noexcept {
    hash_ ^= byte;
    hash_ *= 0x100000001b3;
  }
  void mix_text(std::string_view text) noexcept {
    for (char c : text) mix_byte(static_cast<unsigned char>(c));
    mix_byte(0);  // so that ("ab", "c") and ("a", "bc") differ
  }

  std::uint64_t hash_ = 0xcbf29ce484222325;
  std::uint64_t events_ = 0;
  bool keep_lines_ = false;
  std::vector<std::string> lines_;
};

}  // namespace coraft::sim
