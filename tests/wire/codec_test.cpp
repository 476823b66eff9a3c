#include <doctest/doctest.h>

#include <coraft/raft/messages.hpp>
#include <coraft/wire/codec.hpp>
#include <coraft/wire/size.hpp>

#include <cstdint>
#include <ostream>  // doctest prints std::error_code through it
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "raft_protocol.hpp"
#include "test_types.hpp"

using namespace coraft;
using coraft::test::bytes_of;

namespace {

template <class T>
T round_trip(const T& value) {
  const auto encoded = wire::encode(value);
  auto decoded = wire::decode<T>(encoded);
  REQUIRE_MESSAGE(decoded.has_value(), decoded.error().message());
  return *decoded;
}

template <class T>
std::error_code decode_error(const std::vector<std::byte>& input) {
  auto decoded = wire::decode<T>(input);
  return decoded ? std::error_code{} : decoded.error();
}

test::everything full_everything() {
  test::everything e;
  e.flag = true;
  e.u8 = 255;
  e.u16 = 65535;
  e.u32 = 4000000000u;
  e.u64 = std::numeric_limits<std::uint64_t>::max();
  e.i8 = -128;
  e.i16 = -32768;
  e.i32 = std::numeric_limits<std::int32_t>::min();
  e.i64 = std::numeric_limits<std::int64_t>::min();
  e.letter = '\xE9';  // negative where char is signed: must survive either way
  e.raw = std::byte{0xAB};
  e.hue = test::color::blue;
  e.level = test::signed_level::low;
  e.flags = static_cast<test::undescribed_flags>(0xFFFFFFFFu);
  e.text = std::string(1000, 'x') + std::string("\0tail", 5);
  e.blob = bytes_of({0, 1, 2, 255, 128, 127});
  e.numbers = {0, 1, 127, 128, 300, std::numeric_limits<std::uint64_t>::max()};
  e.rows = {{}, {1, -1}, {std::numeric_limits<std::int32_t>::max()}, {}};
  e.points = {{.name = "", .where = {0, 0}, .previous = std::nullopt},
              {.name = "a", .where = {-5, 5}, .previous = test::point{1, 2}}};
  e.maybe_point = test::named_point{.name = "here", .where = {3, 4}, .previous = std::nullopt};
  e.maybe_number = std::numeric_limits<std::int64_t>::max();
  e.triple = {0, 65535, 300};
  e.tag = {std::byte{'t'}, std::byte{'a'}, std::byte{'g'}, std::byte{0}};
  e.bits = {true, false, true, true};
  e.palette = {test::color::red, test::color::green, test::color::blue};
  e.origin = {std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::min()};
  return e;
}

}  // namespace

TEST_CASE("codec: varints take one byte below 128 and ten for the largest value") {
  CHECK(wire::encode(std::uint64_t{0}) == bytes_of({0x00}));
  CHECK(wire::encode(std::uint64_t{127}) == bytes_of({0x7F}));
  CHECK(wire::encode(std::uint64_t{128}) == bytes_of({0x80, 0x01}));
  CHECK(wire::encode(std::uint32_t{300}) == bytes_of({0xAC, 0x02}));
  CHECK(wire::encode(std::numeric_limits<std::uint64_t>::max()) ==
        bytes_of({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
  for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 16383ull, 16384ull, 1ull << 63, ~0ull})
    CHECK(wire::encode(v).size() == wire::varint_size(v));
}

TEST_CASE("codec: signed integers are zigzagged so small negatives stay short") {
  CHECK(wire::encode(std::int64_t{0}) == bytes_of({0x00}));
  CHECK(wire::encode(std::int64_t{-1}) == bytes_of({0x01}));
  CHECK(wire::encode(std::int64_t{1}) == bytes_of({0x02}));
  CHECK(wire::encode(std::int32_t{-2}) == bytes_of({0x03}));
  CHECK(wire::encode(std::numeric_limits<std::int64_t>::min()) ==
        wire::encode(std::numeric_limits<std::uint64_t>::max()));
  CHECK(wire::encode(std::numeric_limits<std::int64_t>::max()) ==
        wire::encode(std::numeric_limits<std::uint64_t>::max() - 1));
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{63},
                         std::int64_t{-64}, std::int64_t{64}, std::int64_t{-65},
                         std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max()})
    CHECK(wire::zigzag_decode(wire::zigzag_encode(v)) == v);
}

TEST_CASE("codec: integers of every width round-trip at their extremes") {
  CHECK(round_trip(std::uint64_t{0}) == 0);
  CHECK(round_trip(std::numeric_limits<std::uint64_t>::max()) ==
        std::numeric_limits<std::uint64_t>::max());
  CHECK(round_trip(std::numeric_limits<std::int64_t>::min()) ==
        std::numeric_limits<std::int64_t>::min());
  CHECK(round_trip(std::numeric_limits<std::int64_t>::max()) ==
        std::numeric_limits<std::int64_t>::max());
  CHECK(round_trip(std::numeric_limits<std::uint16_t>::max()) ==
        std::numeric_limits<std::uint16_t>::max());
  CHECK(round_trip(std::numeric_limits<std::int16_t>::min()) ==
        std::numeric_limits<std::int16_t>::min());
  CHECK(round_trip(std::uint8_t{255}) == 255);
  CHECK(round_trip(std::int8_t{-128}) == -128);
}

TEST_CASE("codec: a struct is its fields in declaration order, with no tags") {
  const raft::request_vote_args args{.term = 5,
                                     .candidate = 2,
                                     .last_log_index = 300,
                                     .last_log_term = 4,
                                     .leadership_transfer = true,
                                     .cluster = 3,
                                     .sender_incarnation = 1,
                                     .receiver_incarnation = 200};
  CHECK(wire::encode(args) == bytes_of({0x05, 0x02, 0xAC, 0x02, 0x04, 0x01, 0x03, 0x01, 0xC8, 0x01}));
  const raft::log_entry entry{.term = 1, .kind = raft::entry_kind::no_op, .payload = bytes_of({9})};
  CHECK(wire::encode(entry) == bytes_of({0x01, 0x01, 0x01, 0x09}));
  const test::derived_message derived{{.id = 7}, "hi"};
  CHECK(wire::encode(derived) == bytes_of({0x07, 0x02, 'h', 'i'}));
}

TEST_CASE("codec: every supported shape round-trips, empty and full") {
  CHECK(round_trip(test::everything{}) == test::everything{});
  CHECK(round_trip(full_everything()) == full_everything());
  CHECK(round_trip(std::string{}).empty());
  CHECK(round_trip(std::string(100000, 'z')) == std::string(100000, 'z'));
  CHECK(round_trip(std::vector<std::vector<std::string>>{{}, {"", "a"}, {}}) ==
        std::vector<std::vector<std::string>>{{}, {"", "a"}, {}});
  CHECK(round_trip(std::optional<std::string>{}) == std::nullopt);
  CHECK(round_trip(std::optional<std::string>{""}) == std::optional<std::string>{""});
  CHECK(round_trip(test::derived_message{{.id = 1ull << 40}, "body"}) ==
        test::derived_message{{.id = 1ull << 40}, "body"});
  test::tree nested{.value = 1, .children = {{.value = 2, .children = {{.value = 3, .children = {}}}},
                                             {.value = 4, .children = {}}}};
  CHECK(round_trip(nested) == nested);
}

TEST_CASE("codec: the Raft messages round-trip, with and without entries") {
  for (const auto& message : test::sample_raft_messages()) {
    std::visit([](const auto& m) { CHECK(round_trip(m) == m); }, message);
  }
}

TEST_CASE("codec: encoded_size agrees with the encoding, for every shape and every Raft message") {
  CHECK(wire::encoded_size(test::everything{}) == wire::encode(test::everything{}).size());
  CHECK(wire::encoded_size(full_everything()) == wire::encode(full_everything()).size());
  for (const auto& message : test::sample_raft_messages()) {
    std::visit([](const auto& m) { CHECK(wire::encoded_size(m) == wire::encode(m).size()); },
               message);
  }
}

TEST_CASE("codec: encoding appends to what the buffer already holds") {
  std::vector<std::byte> buffer = bytes_of({0xEE});
  wire::encode(std::uint32_t{1}, buffer);
  wire::encode(std::string("ab"), buffer);
  CHECK(buffer == bytes_of({0xEE, 0x01, 0x02, 'a', 'b'}));
}

TEST_CASE("codec: truncated input is reported at every cut") {
  const auto encoded = wire::encode(full_everything());
  for (std::size_t cut = 0; cut < encoded.size(); ++cut) {
    CAPTURE(cut);
    const std::vector<std::byte> prefix(encoded.begin(), encoded.begin() + cut);
    CHECK(decode_error<test::everything>(prefix) == wire::errc::truncated);
  }
}

TEST_CASE("codec: bytes after a complete message are an error") {
  auto encoded = wire::encode(raft::request_vote_reply{.term = 1, .vote_granted = true});
  encoded.push_back(std::byte{0});
  CHECK(decode_error<raft::request_vote_reply>(encoded) == wire::errc::trailing_bytes);
}

TEST_CASE("codec: a bool or presence byte other than 0 or 1 is an error") {
  CHECK(decode_error<raft::request_vote_reply>(bytes_of({0x01, 0x02})) == wire::errc::bad_bool);
  CHECK(decode_error<raft::request_vote_reply>(bytes_of({0x01, 0xFF})) == wire::errc::bad_bool);
  CHECK(decode_error<std::optional<std::uint32_t>>(bytes_of({0x02, 0x00})) ==
        wire::errc::bad_bool);
}

TEST_CASE("codec: a value that is not a described enumerator is an error") {
  // log_entry: term, kind (entry_kind has enumerators 0, 1 and 2), payload.
  CHECK(decode_error<raft::log_entry>(bytes_of({0x01, 0x03, 0x00})) == wire::errc::bad_enum);
  CHECK(decode_error<test::color>(bytes_of({0x02})) == wire::errc::bad_enum);
  CHECK(wire::decode<test::color>(bytes_of({0xAC, 0x02})).value() == test::color::green);
  CHECK(decode_error<test::signed_level>(wire::encode(std::int16_t{-199})) ==
        wire::errc::bad_enum);
  // An enum without described enumerators accepts any value of its underlying type.
  CHECK(wire::decode<test::undescribed_flags>(wire::encode(std::uint32_t{12345})).value() ==
        static_cast<test::undescribed_flags>(12345));
}

TEST_CASE("codec: a value too large for its field is an error") {
  CHECK(decode_error<std::uint16_t>(wire::encode(std::uint64_t{65536})) ==
        wire::errc::out_of_range);
  CHECK(decode_error<std::int32_t>(wire::encode(std::int64_t{1} << 31)) ==
        wire::errc::out_of_range);
  CHECK(decode_error<std::int32_t>(wire::encode(-(std::int64_t{1} << 31) - 1)) ==
        wire::errc::out_of_range);
  CHECK(wire::decode<std::int32_t>(wire::encode(-(std::int64_t{1} << 31))).value() ==
        std::numeric_limits<std::int32_t>::min());
  // request_vote_args.candidate is a 32-bit node id.
  CHECK(decode_error<raft::request_vote_args>(bytes_of({0x01, 0x80, 0x80, 0x80, 0x80, 0x10,
                                                        0x00, 0x00})) ==
        wire::errc::out_of_range);
  CHECK(decode_error<test::color>(wire::encode(std::uint64_t{1} << 32)) ==
        wire::errc::out_of_range);
}

TEST_CASE("codec: overlong, oversized and non-minimal varints are errors") {
  // Eleven bytes.
  CHECK(decode_error<std::uint64_t>(bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                              0x80, 0x80, 0x00})) == wire::errc::bad_varint);
  // Ten bytes whose last one carries bits beyond the 64th.
  CHECK(decode_error<std::uint64_t>(bytes_of({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                              0xFF, 0x02})) == wire::errc::bad_varint);
  // A needless zero group: 0 spelled in two bytes, and 1 in three.
  CHECK(decode_error<std::uint64_t>(bytes_of({0x80, 0x00})) == wire::errc::bad_varint);
  CHECK(decode_error<std::uint64_t>(bytes_of({0x81, 0x80, 0x00})) == wire::errc::bad_varint);
  // A varint cut short.
  CHECK(decode_error<std::uint64_t>(bytes_of({0x80})) == wire::errc::truncated);
  CHECK(decode_error<std::uint64_t>({}) == wire::errc::truncated);
}

TEST_CASE("codec: a huge length or count with few bytes behind it fails before allocating") {
  // Were these counts trusted, reserving memory for them would throw std::bad_alloc or
  // std::length_error rather than return an error.
  std::vector<std::byte> huge;
  wire::encode(std::uint64_t{1} << 62, huge);
  huge.resize(huge.size() + 3, std::byte{0});
  CHECK(decode_error<std::vector<std::uint64_t>>(huge) == wire::errc::truncated);
  CHECK(decode_error<std::vector<raft::log_entry>>(huge) == wire::errc::truncated);
  CHECK(decode_error<std::string>(huge) == wire::errc::truncated);
  CHECK(decode_error<std::vector<std::byte>>(huge) == wire::errc::truncated);

  // A billion entries claimed, a hundred bytes present.
  std::vector<std::byte> plausible;
  wire::encode(raft::append_entries_args{}, plausible);
  plausible.resize(4);  // term, leader, prev_log_index, prev_log_term
  wire::encode(std::uint64_t{1'000'000'000}, plausible);
  plausible.resize(plausible.size() + 100, std::byte{1});
  CHECK(decode_error<raft::append_entries_args>(plausible) == wire::errc::truncated);

  // A count that each element's minimum size rules out: three points need at least six bytes.
  CHECK(decode_error<std::vector<test::point>>(bytes_of({0x03, 0, 0, 0, 0, 0})) ==
        wire::errc::truncated);
  CHECK(wire::decode<std::vector<test::point>>(bytes_of({0x03, 0, 0, 0, 0, 0, 0})).has_value());
}

TEST_CASE("codec: nesting deeper than the decoder allows is an error, not a stack overflow") {
  const auto nested_input = [](std::size_t depth) {
    std::vector<std::byte> input;
    for (std::size_t i = 1; i < depth; ++i) {
      input.push_back(std::byte{0});  // value
      input.push_back(std::byte{1});  // one child
    }
    input.push_back(std::byte{0});  // the innermost tree: value 0, no children
    input.push_back(std::byte{0});
    return input;
  };
  CHECK(wire::decode<test::tree>(nested_input(wire::reader::max_nesting_depth)).has_value());
  CHECK(decode_error<test::tree>(nested_input(wire::reader::max_nesting_depth + 1)) ==
        wire::errc::too_deep);
  CHECK(decode_error<test::tree>(nested_input(100000)) == wire::errc::too_deep);
}

TEST_CASE("codec: the minimum encoded size of a message bounds its element counts") {
  static_assert(wire::min_encoded_size<std::uint64_t>() == 1);
  static_assert(wire::min_encoded_size<test::point>() == 2);
  static_assert(wire::min_encoded_size<raft::log_entry>() == 3);
  static_assert(wire::min_encoded_size<std::array<test::point, 4>>() == 8);
  static_assert(wire::min_encoded_size<test::tree>() == 2);
  static_assert(wire::min_encoded_size<test::derived_message>() == 2);
  CHECK(wire::encode(raft::log_entry{}).size() == wire::min_encoded_size<raft::log_entry>());
}
