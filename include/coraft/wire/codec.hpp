// coraft/wire/codec.hpp — the message encoding: any described struct to bytes and back, with no
// hand-written serializer per message.
//
// A message is a struct listed with BOOST_DESCRIBE_STRUCT. Its encoding is the concatenation of its
// fields' encodings in declaration order (base classes first), without names, tags or padding: both
// sides must agree on the struct's shape, which the frame's message type and version pin down.
//
//   bool                   one byte, 0 or 1; any other byte is an error
//   std::byte, char,       one raw byte
//     (un)signed char
//   unsigned integers      LEB128 varint (varint.hpp); a value too big for the field is an error
//   signed integers        zigzag, then LEB128 varint
//   enums                  as their underlying integer; if the enum is described, only its
//                          enumerators are accepted
//   std::string            varint byte length, then the bytes
//   std::vector<byte-like> varint byte length, then the bytes (a byte buffer)
//   shared byte buffer     as a byte vector (a type meeting traits.hpp's shared_byte_buffer, such
//                          as raft::shared_bytes, whose copies share their bytes)
//   std::vector<T>         varint element count, then each element
//   std::array<T, N>       the N elements (the count is in the type)
//   std::optional<T>       a presence byte (0 or 1), then the value if present
//   described struct       its bases' fields, then its own, in declaration order
//
// Evolving a message means a new frame version or a new message type: fields cannot be appended
// silently, because a decoder refuses trailing bytes.
#pragma once

#include "coraft/wire/decode.hpp"
#include "coraft/wire/encode.hpp"
