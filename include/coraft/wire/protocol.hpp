// coraft/wire/protocol.hpp — the set of messages two peers exchange, and the number naming each.
//
// A protocol is a type list; a message's type number is its position in the list. The numbers are
// part of the wire format, so a protocol only ever grows at the end: reordering or removing an entry
// changes what every later number means to a peer running the previous build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>

#include <boost/mp11/algorithm.hpp>
#include <boost/mp11/list.hpp>
#include <boost/mp11/set.hpp>

namespace coraft::wire {

template <class... Messages>
struct protocol {
  using messages = boost::mp11::mp_list<Messages...>;
  static_assert(sizeof...(Messages) > 0, "a protocol needs at least one message");
  static_assert(sizeof...(Messages) <= 256, "message types travel in one byte");
  static_assert(boost::mp11::mp_is_set<messages>::value,
                "each message type may appear only once, or its number would be ambiguous");

  // What decoding a frame of this protocol yields: whichever message it carried.
  using message = std::variant<Messages...>;

  static constexpr std::size_t size = sizeof...(Messages);

  template <class T>
  static constexpr bool contains = boost::mp11::mp_contains<messages, T>::value;

  // The type number that frames carrying a T hold.
  template <class T>
    requires contains<T>
  static constexpr std::uint8_t type_of = boost::mp11::mp_find<messages, T>::value;
};

template <class T>
inline constexpr bool is_protocol = false;
template <class... Messages>
inline constexpr bool is_protocol<protocol<Messages...>> = true;

}  // namespace coraft::wire
