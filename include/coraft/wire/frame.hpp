// coraft/wire/frame.hpp — a message with the header that lets a stream or a file carry it safely.
//
// Layout (14-byte header, then the payload):
//
//   offset  size  field
//        0     4  magic: the bytes 'C' 'R' 'F' 'T' (or frame_options::magic)
//        4     1  format version (frame_options::version)
//        5     1  message type: the message's position in its protocol (protocol.hpp)
//        6     4  payload length, unsigned little-endian
//       10     4  CRC-32C, unsigned little-endian, of bytes 4..9 followed by the payload
//       14     *  payload: the message, encoded as codec.hpp describes
//
// The checksum covers the version, type and length as well as the payload: a flipped type byte would
// otherwise make a peer decode a valid payload as the wrong message. The magic is left out of it so
// that a stream that lost its place is reported as such (bad_magic), not as corruption.
//
// A stream reader first waits for frame_header_size bytes, calls parse_frame_header — which rejects
// a bad magic, version, type or an oversized length before any payload is buffered — then waits for
// payload_size more bytes and calls decode_frame_payload.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "coraft/co/result.hpp"
#include "coraft/wire/codec.hpp"
#include "coraft/wire/crc32c.hpp"
#include "coraft/wire/errors.hpp"
#include "coraft/wire/protocol.hpp"
#include "coraft/wire/reader.hpp"
#include "coraft/wire/writer.hpp"

namespace coraft::wire {

inline constexpr std::size_t frame_header_size = 14;

inline constexpr std::array<std::byte, 4> default_frame_magic = {
    std::byte{'C'}, std::byte{'R'}, std::byte{'F'}, std::byte{'T'}};

struct frame_options {
  std::array<std::byte, 4> magic = default_frame_magic;
  std::uint8_t version = 1;
  // Larger payloads are refused on both sides; the receiver refuses them from the header alone, so
  // a forged length cannot make it buffer more than this.
  std::uint32_t max_payload_size = 16u << 20;
};

// What parse_frame_header learned; only frames that passed its checks are described by one.
struct frame_header {
  std::uint8_t type = 0;
  std::uint32_t payload_size = 0;
  std::uint32_t checksum = 0;

  std::size_t frame_size() const noexcept { return frame_header_size + payload_size; }
};

namespace detail {

// The CRC-32C of a frame: its version, type and length bytes, then its payload.
inline std::uint32_t frame_checksum(std::uint8_t version, std::uint8_t type,
                                    std::uint32_t payload_size,
                                    std::span<const std::byte> payload) noexcept {
  const std::array<std::byte, 6> covered = {
      std::byte{version},
      std::byte{type},
      static_cast<std::byte>(payload_size),
      static_cast<std::byte>(payload_size >> 8),
      static_cast<std::byte>(payload_size >> 16),
      static_cast<std::byte>(payload_size >> 24)};
  return crc32c(payload, crc32c(covered));
}

template <class Protocol, std::size_t Type>
co::result<typename Protocol::message> decode_as(std::span<const std::byte> payload,
                                                 input_owner owner) {
  auto decoded = decode<std::variant_alternative_t<Type, typename Protocol::message>>(payload, owner);
  if (!decoded) return decoded.error();
  return typename Protocol::message(std::in_place_index<Type>, std::move(*decoded));
}

// Decodes `payload` as the protocol's message number `type`, through a table built at compile time.
template <class Protocol, std::size_t... Types>
co::result<typename Protocol::message> decode_as_type(std::uint8_t type,
                                                      std::span<const std::byte> payload,
                                                      input_owner owner,
                                                      std::index_sequence<Types...>) {
  using decoder =
      co::result<typename Protocol::message> (*)(std::span<const std::byte>, input_owner);
  static constexpr decoder decoders[] = {&decode_as<Protocol, Types>...};
  if (type >= Protocol::size) return make_error_code(errc::unknown_type);
  return decoders[type](payload, owner);
}

}  // namespace detail

// Appends one frame carrying `message` to `out`. On error (too_large) `out` is left as it was.
template <class Protocol, class Message>
  requires(is_protocol<Protocol> && Protocol::template contains<Message>)
co::result<void> encode_frame(const Message& message, std::vector<std::byte>& out,
                              const frame_options& options = {}) {
  constexpr std::uint8_t type = Protocol::template type_of<Message>;
  const std::size_t start = out.size();
  writer w(out);
  w.write_bytes(options.magic);
  w.write_byte(std::byte{options.version});
  w.write_byte(std::byte{type});
  w.write_u32_le(0);  // the length and checksum are filled in once the payload is encoded
  w.write_u32_le(0);
  encode_value(w, message);
  const std::size_t payload_size = out.size() - start - frame_header_size;
  if (payload_size > options.max_payload_size) {
    out.resize(start);
    return make_error_code(errc::too_large);
  }
  const auto size = static_cast<std::uint32_t>(payload_size);
  const auto payload = std::span<const std::byte>(out).subspan(start + frame_header_size);
  w.store_u32_le(start + 6, size);
  w.store_u32_le(start + 10, detail::frame_checksum(options.version, type, size, payload));
  return {};
}

// Appends one frame carrying `message` to `out` for a gathered send: byte runs of at least
// `reference_threshold` bytes (entry payloads, snapshot chunks) are referenced from `message`, which
// must outlive the send. The bytes, put end to end, are exactly what encode_frame produces. On error
// (too_large) `out` is left as it was.
template <class Protocol, class Message>
  requires(is_protocol<Protocol> && Protocol::template contains<Message>)
co::result<void> encode_frame_gathered(const Message& message, gathered_bytes& out,
                                       std::size_t reference_threshold,
                                       const frame_options& options = {}) {
  constexpr std::uint8_t type = Protocol::template type_of<Message>;
  out.close_own_run();
  const std::size_t start = out.own.size();
  const std::size_t first_segment = out.segments.size();
  writer w(out, reference_threshold);
  w.write_bytes(options.magic);
  w.write_byte(std::byte{options.version});
  w.write_byte(std::byte{type});
  w.write_u32_le(0);
  w.write_u32_le(0);
  encode_value(w, message);
  out.close_own_run();
  // This frame's segments: the first one starts with the header, which is always copied.
  const auto segments = std::span(out.segments).subspan(first_segment);
  std::size_t payload_size = 0;
  for (const auto& s : segments) payload_size += s.size;
  payload_size -= frame_header_size;
  if (payload_size > options.max_payload_size) {
    out.own.resize(start);
    out.segments.resize(first_segment);
    out.closed = start;
    return make_error_code(errc::too_large);
  }
  const auto size = static_cast<std::uint32_t>(payload_size);
  std::uint32_t checksum = detail::frame_checksum(
      options.version, type, size, out.bytes_of(segments[0]).subspan(frame_header_size));
  for (const auto& s : segments.subspan(1)) checksum = crc32c(out.bytes_of(s), checksum);
  w.store_u32_le(start + 6, size);
  w.store_u32_le(start + 10, checksum);
  return {};
}

// Appends one frame carrying whichever message `message` holds.
template <class Protocol>
  requires is_protocol<Protocol>
co::result<void> encode_frame(const typename Protocol::message& message,
                              std::vector<std::byte>& out, const frame_options& options = {}) {
  return std::visit(
      [&](const auto& alternative) { return encode_frame<Protocol>(alternative, out, options); },
      message);
}

// Checks the header at the start of `bytes` (which may hold more than the header) and says how
// large the frame is. Reads only the first frame_header_size bytes.
template <class Protocol>
  requires is_protocol<Protocol>
co::result<frame_header> parse_frame_header(std::span<const std::byte> bytes,
                                            const frame_options& options = {}) {
  if (bytes.size() < frame_header_size) return make_error_code(errc::truncated);
  // The reads below cannot fail: the header's bytes are all there.
  reader in(bytes.first(frame_header_size));
  const auto magic = *in.read_bytes(4);
  if (!std::equal(magic.begin(), magic.end(), options.magic.begin()))
    return make_error_code(errc::bad_magic);
  if (*in.read_byte() != std::byte{options.version}) return make_error_code(errc::bad_version);
  frame_header header;
  header.type = static_cast<std::uint8_t>(*in.read_byte());
  if (header.type >= Protocol::size) return make_error_code(errc::unknown_type);
  header.payload_size = *in.read_u32_le();
  if (header.payload_size > options.max_payload_size) return make_error_code(errc::too_large);
  header.checksum = *in.read_u32_le();
  return header;
}

// Verifies and decodes the payload that followed `header`: exactly header.payload_size bytes. With
// an `owner` (the buffer the payload lies in), byte runs may be views of it (see input_owner).
template <class Protocol>
  requires is_protocol<Protocol>
co::result<typename Protocol::message> decode_frame_payload(const frame_header& header,
                                                            std::span<const std::byte> payload,
                                                            const frame_options& options = {},
                                                            input_owner owner = {}) {
  if (payload.size() < header.payload_size) return make_error_code(errc::truncated);
  if (payload.size() > header.payload_size) return make_error_code(errc::trailing_bytes);
  if (detail::frame_checksum(options.version, header.type, header.payload_size, payload) !=
      header.checksum)
    return make_error_code(errc::bad_crc);
  return detail::decode_as_type<Protocol>(header.type, payload, owner,
                                          std::make_index_sequence<Protocol::size>{});
}

// Decodes `bytes` holding exactly one frame.
template <class Protocol>
  requires is_protocol<Protocol>
co::result<typename Protocol::message> decode_frame(std::span<const std::byte> bytes,
                                                    const frame_options& options = {}) {
  auto header = parse_frame_header<Protocol>(bytes, options);
  if (!header) return header.error();
  return decode_frame_payload<Protocol>(*header, bytes.subspan(frame_header_size), options);
}

}  // namespace coraft::wire
