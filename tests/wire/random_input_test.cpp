// Feeds random and mutated bytes to the decoders. Any outcome is acceptable except a crash, a
// sanitizer report, or a decoded value that does not re-encode to the very bytes it came from
// (the encoding is canonical, so decode followed by encode must be the identity).
#include <doctest/doctest.h>

#include <coraft/raft/messages.hpp>
#include <coraft/wire/codec.hpp>
#include <coraft/wire/frame.hpp>

#include <cstdint>
#include <ostream>  // doctest prints std::error_code through it
#include <random>
#include <vector>

#include "raft_protocol.hpp"
#include "test_types.hpp"

using namespace coraft;
using coraft::test::raft_protocol;

namespace {

using bytes = std::vector<std::byte>;

class mutator {
 public:
  explicit mutator(std::uint64_t seed) : random_(seed) {}

  std::size_t below(std::size_t bound) {
    return bound == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, bound - 1)(random_);
  }
  std::byte any_byte() { return static_cast<std::byte>(below(256)); }

  bytes random_bytes(std::size_t max_size) {
    bytes out(below(max_size + 1));
    for (auto& b : out) b = any_byte();
    return out;
  }

  // One to four small edits of the kinds that real corruption and hostile peers produce.
  bytes mutate(bytes input) {
    for (std::size_t edits = 1 + below(4); edits > 0; --edits) {
      switch (below(6)) {
        case 0:  // flip one bit
          if (!input.empty()) {
            const std::size_t at = below(input.size());
            input[at] ^= static_cast<std::byte>(1u << below(8));
          }
          break;
        case 1:  // overwrite a byte, often with a boundary value
          if (!input.empty()) {
            static constexpr int interesting[] = {0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF};
            const std::size_t at = below(input.size());
            input[at] = below(2) ? any_byte() : static_cast<std::byte>(interesting[below(6)]);
          }
          break;
        case 2: {  // insert a byte
          // Draws are made one per statement so every compiler consumes them in the same order.
          const auto at = static_cast<std::ptrdiff_t>(below(input.size() + 1));
          input.insert(input.begin() + at, any_byte());
          break;
        }
        case 3:  // delete a byte
          if (!input.empty())
            input.erase(input.begin() + static_cast<std::ptrdiff_t>(below(input.size())));
          break;
        case 4:  // truncate
          input.resize(below(input.size() + 1));
          break;
        case 5: {  // a long run of continuation bytes, as a forged length would start
          const auto at = static_cast<std::ptrdiff_t>(below(input.size() + 1));
          input.insert(input.begin() + at, below(12), std::byte{0xFF});
          break;
        }
      }
    }
    return input;
  }

 private:
  std::mt19937_64 random_;
};

template <class T>
void check_decode_is_canonical(const bytes& input) {
  auto decoded = wire::decode<T>(input);
  if (decoded) REQUIRE(wire::encode(*decoded) == input);
}

void check_frame_decode_is_canonical(const bytes& input) {
  auto decoded = wire::decode_frame<raft_protocol>(input);
  if (!decoded) return;
  bytes again;
  REQUIRE(wire::encode_frame<raft_protocol>(*decoded, again).has_value());
  REQUIRE(again == input);
}

// A frame around `payload` with a correct checksum, so that mutations reach the payload decoder.
bytes sealed_frame(std::uint8_t type, const bytes& payload) {
  bytes frame(wire::default_frame_magic.begin(), wire::default_frame_magic.end());
  wire::writer w(frame);
  w.write_byte(std::byte{1});
  w.write_byte(std::byte{type});
  const auto size = static_cast<std::uint32_t>(payload.size());
  w.write_u32_le(size);
  w.write_u32_le(wire::detail::frame_checksum(1, type, size, payload));
  w.write_bytes(payload);
  return frame;
}

constexpr std::uint64_t seeds[] = {1, 2, 3, 42, 20240611};
constexpr int rounds_per_seed = 20000;

}  // namespace

TEST_CASE("random input: random bytes never crash the message decoders") {
  for (std::uint64_t seed : seeds) {
    CAPTURE(seed);
    mutator m(seed);
    for (int round = 0; round < rounds_per_seed; ++round) {
      const bytes input = m.random_bytes(64);
      check_decode_is_canonical<test::everything>(input);
      check_decode_is_canonical<raft::append_entries_args>(input);
      check_decode_is_canonical<raft::request_vote_reply>(input);
      check_decode_is_canonical<test::tree>(input);
      check_frame_decode_is_canonical(input);
    }
  }
}

TEST_CASE("random input: mutated valid messages decode to an error or re-encode exactly") {
  bytes full;
  {
    test::everything e;
    e.u64 = 1ull << 40;
    e.i64 = -5;
    e.text = "text";
    e.blob = test::bytes_of({1, 2, 3});
    e.numbers = {1, 300, 70000};
    e.rows = {{1, -1}, {}};
    e.points = {{.name = "p", .where = {1, -1}, .previous = test::point{2, 3}}};
    e.maybe_number = -1;
    e.bits = {true, false};
    e.palette = {test::color::green};
    full = wire::encode(e);
  }
  const auto messages = test::sample_raft_messages();
  for (std::uint64_t seed : seeds) {
    CAPTURE(seed);
    mutator m(seed);
    for (int round = 0; round < rounds_per_seed; ++round) {
      check_decode_is_canonical<test::everything>(m.mutate(full));

      const auto& message = messages[m.below(messages.size())];
      const bytes payload = std::visit([](const auto& x) { return wire::encode(x); }, message);
      const bytes mutated = m.mutate(payload);
      const auto type = static_cast<std::uint8_t>(m.below(raft_protocol::size + 1));
      check_frame_decode_is_canonical(sealed_frame(type, mutated));

      bytes frame;
      REQUIRE(wire::encode_frame<raft_protocol>(message, frame).has_value());
      check_frame_decode_is_canonical(m.mutate(frame));
    }
  }
}
