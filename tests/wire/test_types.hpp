// tests/wire/test_types.hpp — described structs that exercise every shape the codec supports.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>

namespace coraft::test {

enum class color : std::uint32_t { red = 1, green = 300, blue = 70000 };
BOOST_DESCRIBE_ENUM(color, red, green, blue)

enum class signed_level : std::int16_t { low = -200, zero = 0, high = 200 };
BOOST_DESCRIBE_ENUM(signed_level, low, zero, high)

enum undescribed_flags : std::uint32_t { flag_a = 1, flag_b = 2 };  // any uint32 value decodes

struct point {
  std::int32_t x = 0;
  std::int32_t y = 0;
  friend bool operator==(const point&, const point&) = default;
};
BOOST_DESCRIBE_STRUCT(point, (), (x, y))

struct named_point {
  std::string name;
  point where;
  std::optional<point> previous;
  friend bool operator==(const named_point&, const named_point&) = default;
};
BOOST_DESCRIBE_STRUCT(named_point, (), (name, where, previous))

struct everything {
  bool flag = false;
  std::uint8_t u8 = 0;
  std::uint16_t u16 = 0;
  std::uint32_t u32 = 0;
  std::uint64_t u64 = 0;
  std::int8_t i8 = 0;
  std::int16_t i16 = 0;
  std::int32_t i32 = 0;
  std::int64_t i64 = 0;
  char letter = 0;
  std::byte raw{0};
  color hue = color::red;
  signed_level level = signed_level::zero;
  undescribed_flags flags = flag_a;
  std::string text;
  std::vector<std::byte> blob;
  std::vector<std::uint64_t> numbers;
  std::vector<std::vector<std::int32_t>> rows;
  std::vector<named_point> points;
  std::optional<named_point> maybe_point;
  std::optional<std::int64_t> maybe_number;
  std::array<std::uint16_t, 3> triple{};
  std::array<std::byte, 4> tag{};
  std::vector<bool> bits;
  std::vector<color> palette;
  point origin;
  friend bool operator==(const everything&, const everything&) = default;
};
BOOST_DESCRIBE_STRUCT(everything, (),
                      (flag, u8, u16, u32, u64, i8, i16, i32, i64, letter, raw, hue, level, flags,
                       text, blob, numbers, rows, points, maybe_point, maybe_number, triple, tag,
                       bits, palette, origin))

// Base classes are encoded before the derived class's own members.
struct header_base {
  std::uint64_t id = 0;
  friend bool operator==(const header_base&, const header_base&) = default;
};
BOOST_DESCRIBE_STRUCT(header_base, (), (id))

struct derived_message : header_base {
  std::string body;
  friend bool operator==(const derived_message&, const derived_message&) = default;
};
BOOST_DESCRIBE_STRUCT(derived_message, (header_base), (body))

// A recursive type: the decoder must bound its nesting.
struct tree {
  std::uint32_t value = 0;
  std::vector<tree> children;
  friend bool operator==(const tree&, const tree&) = default;
};
BOOST_DESCRIBE_STRUCT(tree, (), (value, children))

inline std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

}  // namespace coraft::test
