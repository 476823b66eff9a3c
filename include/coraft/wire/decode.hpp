// coraft/wire/decode.hpp — rebuilds a value from untrusted bytes, driven by its type alone.
//
// Decoding is total and bounded: any input yields a value or a wire::errc, never a read past the
// end, and no allocation is larger than the input could justify. Every length and count is checked
// against the bytes remaining *before* memory is reserved for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

#include <boost/describe/bases.hpp>
#include <boost/describe/enumerators.hpp>
#include <boost/describe/members.hpp>
#include <boost/describe/modifiers.hpp>
#include <boost/mp11/algorithm.hpp>

#include "coraft/co/result.hpp"
#include "coraft/wire/errors.hpp"
#include "coraft/wire/reader.hpp"
#include "coraft/wire/traits.hpp"
#include "coraft/wire/varint.hpp"

namespace coraft::wire {

namespace detail {

// Reads a length or count and checks that `element_size` bytes per unit are still there.
inline co::result<std::size_t> read_length(reader& in, std::size_t element_size) noexcept {
  auto length = in.read_varint();
  if (!length) return length.error();
  if (*length > in.remaining() / element_size) return make_error_code(errc::truncated);
  return static_cast<std::size_t>(*length);
}

// Copies a run of raw bytes into a container of byte-like elements (std::string, byte vectors).
template <class Container>
std::error_code read_byte_run(reader& in, Container& out) {
  auto length = read_length(in, 1);
  if (!length) return length.error();
  auto bytes = in.read_bytes(*length);
  if (!bytes) return bytes.error();
  out.resize(*length);
  if (*length > 0) std::memcpy(out.data(), bytes->data(), *length);
  return {};
}

template <class Enum>
bool is_described_enumerator(std::underlying_type_t<Enum> raw) noexcept {
  bool known = false;
  boost::mp11::mp_for_each<boost::describe::describe_enumerators<Enum>>([&](auto enumerator) {
    if (static_cast<std::underlying_type_t<Enum>>(enumerator.value) == raw) known = true;
  });
  return known;
}

}  // namespace detail

// Decodes one value of type T from the reader into `value`, which it overwrites. On error the
// reader's position and `value` are unspecified; decode() below discards both.
template <class T>
std::error_code decode_value(reader& in, T& value) {
  if constexpr (std::same_as<T, bool>) {
    auto byte = in.read_byte();
    if (!byte) return byte.error();
    if (*byte != std::byte{0} && *byte != std::byte{1}) return errc::bad_bool;
    value = *byte == std::byte{1};
  } else if constexpr (byte_like<T>) {
    auto byte = in.read_byte();
    if (!byte) return byte.error();
    value = static_cast<T>(static_cast<unsigned char>(*byte));
  } else if constexpr (std::is_enum_v<T>) {
    static_assert(described_enum<T> || enum_with_fixed_type<T>,
                  "coraft::wire decodes an enum only if it is described (BOOST_DESCRIBE_ENUM) or "
                  "has a fixed underlying type");
    std::underlying_type_t<T> raw{};
    if (auto error = decode_value(in, raw)) return error;
    if constexpr (described_enum<T>) {
      if (!detail::is_described_enumerator<T>(raw)) return errc::bad_enum;
    }
    value = static_cast<T>(raw);
  } else if constexpr (std::unsigned_integral<T>) {
    auto raw = in.read_varint();
    if (!raw) return raw.error();
    if (!std::in_range<T>(*raw)) return errc::out_of_range;
    value = static_cast<T>(*raw);
  } else if constexpr (std::signed_integral<T>) {
    auto raw = in.read_varint();
    if (!raw) return raw.error();
    const std::int64_t wide = zigzag_decode(*raw);
    if (!std::in_range<T>(wide)) return errc::out_of_range;
    value = static_cast<T>(wide);
  } else if constexpr (std::same_as<T, std::string>) {
    return detail::read_byte_run(in, value);
  } else if constexpr (shared_byte_buffer<T>) {
    auto length = detail::read_length(in, 1);
    if (!length) return length.error();
    auto run = in.read_bytes(*length);
    if (!run) return run.error();
    if constexpr (requires { typename T::owner_type; }) {
      if (const auto* owner = in.owner().template as<typename T::owner_type>()) {
        value = T::share(*owner, *run);
        return {};
      }
    }
    value = T::copy_of(*run);
  } else if constexpr (is_vector<T>) {
    using element_type = typename T::value_type;
    if constexpr (byte_like<element_type>) {
      return detail::read_byte_run(in, value);
    } else {
      constexpr std::size_t element_size = min_encoded_size<element_type>();
      static_assert(element_size > 0,
                    "coraft::wire cannot bound a vector whose elements may encode to no bytes: a "
                    "forged count could claim any number of them");
      auto count = detail::read_length(in, element_size);
      if (!count) return count.error();
      value.clear();
      value.reserve(*count);  // bounded: count * element_size <= bytes remaining
      for (std::size_t i = 0; i < *count; ++i) {
        element_type element{};
        if (auto error = decode_value(in, element)) return error;
        value.push_back(std::move(element));
      }
    }
  } else if constexpr (is_std_array<T>) {
    if constexpr (byte_like<typename T::value_type>) {
      auto bytes = in.read_bytes(value.size());
      if (!bytes) return bytes.error();
      if (!value.empty()) std::memcpy(value.data(), bytes->data(), value.size());
    } else {
      for (auto& element : value)
        if (auto error = decode_value(in, element)) return error;
    }
  } else if constexpr (is_optional<T>) {
    bool present = false;
    if (auto error = decode_value(in, present)) return error;
    if (!present) {
      value.reset();
    } else {
      value.emplace();
      return decode_value(in, *value);
    }
  } else if constexpr (described_struct<T>) {
    namespace describe = boost::describe;
    if (!in.enter_nested()) return errc::too_deep;
    std::error_code error;
    boost::mp11::mp_for_each<describe::describe_bases<T, describe::mod_any_access>>([&](auto base) {
      if (!error) error = decode_value(in, static_cast<typename decltype(base)::type&>(value));
    });
    boost::mp11::mp_for_each<describe::describe_members<T, describe::mod_any_access>>(
        [&](auto member) {
          if (!error) error = decode_value(in, value.*member.pointer);
        });
    in.leave_nested();
    return error;
  } else {
    static_assert(unsupported_type<T>,
                  "coraft::wire cannot decode this type: use integers, bool, enums, std::string, "
                  "std::vector, std::array, std::optional or a BOOST_DESCRIBE_STRUCT");
  }
  return {};
}

// Decodes exactly one T from `input`: bytes left over after it are an error, since they mean the
// sender and receiver disagree on the message's shape.
// With an `owner`, byte runs of shared buffer types may be views of the input (see input_owner).
template <class T>
co::result<T> decode(std::span<const std::byte> input, input_owner owner = {}) {
  static_assert(std::is_default_constructible_v<T>, "decoded types must be default-constructible");
  reader in(input, owner);
  T value{};
  if (auto error = decode_value(in, value)) return error;
  if (!in.at_end()) return make_error_code(errc::trailing_bytes);
  return value;
}

}  // namespace coraft::wire
