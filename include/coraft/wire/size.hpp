// coraft/wire/size.hpp — how many bytes a value encodes to, without encoding it.
//
// A sender that must stay under a size limit (a frame's payload, a request's byte budget) asks
// here instead of encoding to find out. The answer follows the layout of codec.hpp shape by shape,
// in the same order of cases as encode_value(), and must change with it; the wire tests check
// that the two agree on every message type.
#pragma once

#include <cstddef>
#include <type_traits>

#include <boost/describe/bases.hpp>
#include <boost/describe/members.hpp>
#include <boost/describe/modifiers.hpp>
#include <boost/mp11/algorithm.hpp>

#include "coraft/wire/traits.hpp"
#include "coraft/wire/varint.hpp"

namespace coraft::wire {

// The size of encode(value). It looks at every element of a vector of structs, but never at the
// bytes of a byte buffer, so it costs little beside a large payload.
template <class T>
std::size_t encoded_size(const T& value) {
  if constexpr (std::same_as<T, bool> || byte_like<T>) {
    return 1;
  } else if constexpr (std::is_enum_v<T>) {
    return encoded_size(static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::unsigned_integral<T>) {
    return varint_size(value);
  } else if constexpr (std::signed_integral<T>) {
    return varint_size(zigzag_encode(value));
  } else if constexpr (std::same_as<T, std::string> || shared_byte_buffer<T>) {
    return varint_size(value.size()) + value.size();
  } else if constexpr (is_vector<T>) {
    std::size_t size = varint_size(value.size());
    if constexpr (byte_like<typename T::value_type>) {
      size += value.size();
    } else {
      for (const auto& element : value) size += encoded_size(element);
    }
    return size;
  } else if constexpr (is_std_array<T>) {
    std::size_t size = 0;
    for (const auto& element : value) size += encoded_size(element);
    return size;
  } else if constexpr (is_optional<T>) {
    return 1 + (value ? encoded_size(*value) : 0);
  } else if constexpr (described_struct<T>) {
    namespace describe = boost::describe;
    std::size_t size = 0;
    boost::mp11::mp_for_each<describe::describe_bases<T, describe::mod_any_access>>([&](auto base) {
      size += encoded_size(static_cast<const typename decltype(base)::type&>(value));
    });
    boost::mp11::mp_for_each<describe::describe_members<T, describe::mod_any_access>>(
        [&](auto member) { size += encoded_size(value.*member.pointer); });
    return size;
  } else {
    static_assert(unsupported_type<T>, "coraft::wire cannot size this type: see encode_value()");
  }
}

}  // namespace coraft::wire
