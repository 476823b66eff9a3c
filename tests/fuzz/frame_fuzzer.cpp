// tests/fuzz/frame_fuzzer.cpp — libFuzzer target for the Raft protocol's frame decoder.
//
// Each input is tried two ways:
//   1. as a whole frame, which mostly exercises header checks and the checksum;
//   2. as a message type byte followed by a payload, sealed into a frame with a correct checksum,
//      so that mutations reach the payload decoder instead of stopping at bad_crc.
// Whatever decodes must re-encode to exactly the bytes it came from (the encoding is canonical) and
// decode again to an equal message; anything else aborts.
#include <coraft/raft/messages.hpp>
#include <coraft/wire/frame.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "../wire/raft_protocol.hpp"

namespace {

using coraft::test::raft_protocol;
namespace wire = coraft::wire;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "frame_fuzzer: %s\n", what);
  std::abort();
}

void check_round_trip(std::span<const std::byte> frame) {
  auto decoded = wire::decode_frame<raft_protocol>(frame);
  if (!decoded) return;
  std::vector<std::byte> encoded;
  if (!wire::encode_frame<raft_protocol>(*decoded, encoded)) fail("re-encoding failed");
  if (!std::equal(encoded.begin(), encoded.end(), frame.begin(), frame.end()))
    fail("re-encoded frame differs from the decoded one");
  auto again = wire::decode_frame<raft_protocol>(encoded);
  if (!again) fail("re-encoded frame does not decode");
  if (!(*again == *decoded)) fail("message changed across a round trip");
}

std::vector<std::byte> sealed_frame(std::uint8_t type, std::span<const std::byte> payload) {
  std::vector<std::byte> frame(wire::default_frame_magic.begin(), wire::default_frame_magic.end());
  wire::writer w(frame);
  const wire::frame_options options;
  w.write_byte(std::byte{options.version});
  w.write_byte(std::byte{type});
  const auto size = static_cast<std::uint32_t>(payload.size());
  w.write_u32_le(size);
  w.write_u32_le(wire::detail::frame_checksum(options.version, type, size, payload));
  w.write_bytes(payload);
  return frame;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = std::as_bytes(std::span(data, size));
  check_round_trip(input);
  if (!input.empty()) {
    // Types past the protocol's end are kept (one in five) to exercise unknown_type too.
    const auto type = static_cast<std::uint8_t>(static_cast<std::uint8_t>(input[0]) %
                                                (raft_protocol::size + 1));
    check_round_trip(sealed_frame(type, input.subspan(1)));
  }
  return 0;
}
