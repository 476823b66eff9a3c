// coraft/wire/traits.hpp — which shape of value a C++ type is, as far as the codec is concerned.
//
// The encoder and decoder branch on these shapes at compile time; keeping the classification in one
// place guarantees the two directions agree on it.
#pragma once

#include "coraft/wire/requirements.hpp"

#include <array>
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/describe/bases.hpp>
#include <boost/describe/enumerators.hpp>
#include <boost/describe/members.hpp>
#include <boost/describe/modifiers.hpp>

namespace coraft::wire {

// Types that travel as one raw byte, alone or in runs (vectors and arrays of them are byte buffers).
// char is among them so that its platform-dependent signedness cannot change the encoding.
template <class T>
concept byte_like = std::same_as<T, std::byte> || std::same_as<T, char> ||
                    std::same_as<T, signed char> || std::same_as<T, unsigned char> ||
                    std::same_as<T, char8_t>;

// A class whose members were listed with BOOST_DESCRIBE_STRUCT or BOOST_DESCRIBE_CLASS.
template <class T>
concept described_struct = std::is_class_v<T> && boost::describe::has_describe_members<T>::value;

template <class T>
concept described_enum = std::is_enum_v<T> && boost::describe::has_describe_enumerators<T>::value;

// An enum with a fixed underlying type accepts any value of that type; for one without (a plain
// `enum e { ... }`) a value outside its enumerators' bit range is undefined, so the decoder needs
// its enumerators described before it may produce one. The test: only fixed-type enums can be
// list-initialized from an integer.
template <class T>
concept enum_with_fixed_type = std::is_enum_v<T> && requires { T{std::underlying_type_t<T>{}}; };

// An immutable byte buffer that copies share (raft::shared_bytes): it encodes exactly as a byte
// vector does, and the decoder makes one with T::copy_of(the bytes), or as a view of the input with
// T::share(owner, the bytes) when T names an owner_type and the input has such an owner (reader.hpp).
template <class T>
concept shared_byte_buffer = std::is_class_v<T> && requires(const T& value,
                                                            std::span<const std::byte> run) {
  { value.data() } -> std::same_as<const std::byte*>;
  { value.size() } -> std::same_as<std::size_t>;
  { T::copy_of(run) } -> std::same_as<T>;
};

template <class T>
inline constexpr bool is_vector = false;
template <class T>
inline constexpr bool is_vector<std::vector<T>> = true;

template <class T>
inline constexpr bool is_optional = false;
template <class T>
inline constexpr bool is_optional<std::optional<T>> = true;

template <class T>
inline constexpr bool is_std_array = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array<std::array<T, N>> = true;

// The fewest bytes any value of T encodes to. A decoder bounds a vector's claimed element count by
// remaining bytes / min_encoded_size, so a forged count fails before anything is allocated.
template <class T>
constexpr std::size_t min_encoded_size() {
  if constexpr (std::integral<T> || std::is_enum_v<T>) {
    return 1;  // bool and std::byte are one byte; every varint is at least one
  } else if constexpr (std::same_as<T, std::string> || shared_byte_buffer<T> || is_vector<T> ||
                       is_optional<T>) {
    return 1;  // a length, a count or a presence byte
  } else if constexpr (is_std_array<T>) {
    return std::tuple_size_v<T> * min_encoded_size<typename T::value_type>();
  } else if constexpr (described_struct<T>) {
    namespace describe = boost::describe;
    // Describe hands out its descriptors as type lists; unpack both and sum over them.
    return []<template <class...> class BaseList, class... Bases,
              template <class...> class MemberList, class... Members>(BaseList<Bases...>,
                                                                      MemberList<Members...>) {
      return (std::size_t{0} + ... + min_encoded_size<typename Bases::type>()) +
             (std::size_t{0} + ... +
              min_encoded_size<std::remove_cvref_t<decltype(std::declval<const T&>().*
                                                            Members::pointer)>>());
    }(describe::describe_bases<T, describe::mod_any_access>{},
           describe::describe_members<T, describe::mod_any_access>{});
  } else {
    return 0;  // not encodable; the encoder and decoder report it
  }
}

template <class T>
inline constexpr bool unsupported_type = false;  // dependent false, for static_assert

}  // namespace coraft::wire
