// coraft/wire/encode.hpp — turns any supported value into bytes, driven by its type alone.
//
// The layout of each shape is documented in codec.hpp; this header and decode.hpp implement the
// two directions of it and must change together.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

#include <boost/describe/bases.hpp>
#include <boost/describe/members.hpp>
#include <boost/describe/modifiers.hpp>
#include <boost/mp11/algorithm.hpp>

#include "coraft/wire/traits.hpp"
#include "coraft/wire/varint.hpp"
#include "coraft/wire/writer.hpp"

namespace coraft::wire {

// Appends the encoding of `value` to the writer's buffer. Encoding cannot fail: every value of a
// supported type has an encoding. (An enum value outside its described enumerators is encoded as
// is, and then refused by the decoder, which is where untrusted data is judged.)
template <class T>
void encode_value(writer& out, const T& value) {
  if constexpr (std::same_as<T, bool>) {
    out.write_byte(value ? std::byte{1} : std::byte{0});
  } else if constexpr (byte_like<T>) {
    out.write_byte(static_cast<std::byte>(static_cast<unsigned char>(value)));
  } else if constexpr (std::is_enum_v<T>) {
    encode_value(out, static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::unsigned_integral<T>) {
    out.write_varint(value);
  } else if constexpr (std::signed_integral<T>) {
    out.write_varint(zigzag_encode(value));
  } else if constexpr (std::same_as<T, std::string>) {
    out.write_varint(value.size());
    out.write_bytes(std::as_bytes(std::span(value.data(), value.size())));
  } else if constexpr (shared_byte_buffer<T>) {
    out.write_varint(value.size());
    out.write_bytes(std::span<const std::byte>(value.data(), value.size()));
  } else if constexpr (is_vector<T>) {
    out.write_varint(value.size());
    if constexpr (byte_like<typename T::value_type>) {
      out.write_bytes(std::as_bytes(std::span(value.data(), value.size())));
    } else {
      for (const auto& element : value) encode_value(out, element);
    }
  } else if constexpr (is_std_array<T>) {
    // The length is part of the type, so none is written.
    if constexpr (byte_like<typename T::value_type>) {
      out.write_bytes(std::as_bytes(std::span(value)));
    } else {
      for (const auto& element : value) encode_value(out, element);
    }
  } else if constexpr (is_optional<T>) {
    encode_value(out, value.has_value());
    if (value) encode_value(out, *value);
  } else if constexpr (described_struct<T>) {
    namespace describe = boost::describe;
    // Bases first, then the class's own members, each in declaration order.
    boost::mp11::mp_for_each<describe::describe_bases<T, describe::mod_any_access>>([&](auto base) {
      encode_value(out, static_cast<const typename decltype(base)::type&>(value));
    });
    boost::mp11::mp_for_each<describe::describe_members<T, describe::mod_any_access>>(
        [&](auto member) { encode_value(out, value.*member.pointer); });
  } else {
    static_assert(unsupported_type<T>,
                  "coraft::wire cannot encode this type: use integers, bool, enums, std::string, "
                  "std::vector, std::array, std::optional or a BOOST_DESCRIBE_STRUCT");
  }
}

// Appends the encoding of `value` to `out`, keeping what `out` already holds.
template <class T>
void encode(const T& value, std::vector<std::byte>& out) {
  writer w(out);
  encode_value(w, value);
}

// The encoding of `value` in a new buffer.
template <class T>
std::vector<std::byte> encode(const T& value) {
  std::vector<std::byte> out;
  encode(value, out);
  return out;
}

}  // namespace coraft::wire
