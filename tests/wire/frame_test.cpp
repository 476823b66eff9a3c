#include <doctest/doctest.h>

#include <coraft/raft/messages.hpp>
#include <coraft/wire/frame.hpp>

#include <cstdint>
#include <ostream>  // doctest prints std::error_code through it
#include <limits>
#include <vector>

#include "raft_protocol.hpp"
#include "test_types.hpp"

using namespace coraft;
using coraft::test::bytes_of;
using coraft::test::raft_protocol;

namespace {

std::vector<std::byte> frame_of(const raft_protocol::message& message,
                                const wire::frame_options& options = {}) {
  std::vector<std::byte> out;
  auto encoded = wire::encode_frame<raft_protocol>(message, out, options);
  REQUIRE_MESSAGE(encoded.has_value(), encoded.error().message());
  return out;
}

std::error_code frame_error(const std::vector<std::byte>& frame,
                            const wire::frame_options& options = {}) {
  auto decoded = wire::decode_frame<raft_protocol>(frame, options);
  return decoded ? std::error_code{} : decoded.error();
}

// A frame for the append_entries_args with three entries: the largest sample.
std::vector<std::byte> sample_frame() { return frame_of(test::sample_raft_messages()[5]); }

}  // namespace

TEST_CASE("frame: the header is magic, version, type, length and checksum, in that order") {
  const auto frame = frame_of(raft::request_vote_reply{.term = 7, .vote_granted = true});
  const auto covered = bytes_of({0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x07, 0x01});
  const std::uint32_t crc = wire::crc32c(covered);
  CHECK(frame == bytes_of({'C', 'R', 'F', 'T', 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
                           static_cast<int>(crc & 0xFF), static_cast<int>((crc >> 8) & 0xFF),
                           static_cast<int>((crc >> 16) & 0xFF), static_cast<int>(crc >> 24),
                           0x07, 0x01}));
  static_assert(raft_protocol::type_of<raft::request_vote_args> == 0);
  static_assert(raft_protocol::type_of<raft::append_entries_reply> == 3);
}

TEST_CASE("frame: every Raft message round-trips through a frame") {
  for (const auto& message : test::sample_raft_messages()) {
    const auto frame = frame_of(message);
    auto decoded = wire::decode_frame<raft_protocol>(frame);
    REQUIRE_MESSAGE(decoded.has_value(), decoded.error().message());
    CHECK(*decoded == message);
  }
}

TEST_CASE("frame: a typed message encodes like the variant holding it") {
  const raft::append_entries_reply reply{.term = 2, .success = true, .match_index = 10};
  std::vector<std::byte> typed;
  REQUIRE(wire::encode_frame<raft_protocol>(reply, typed).has_value());
  CHECK(typed == frame_of(reply));
}

TEST_CASE("frame: a stream reader parses the header, then waits for exactly the payload") {
  // Two frames back to back in one buffer, as they would arrive on a stream.
  std::vector<std::byte> stream;
  const auto messages = test::sample_raft_messages();
  REQUIRE(wire::encode_frame<raft_protocol>(messages[1], stream).has_value());
  REQUIRE(wire::encode_frame<raft_protocol>(messages[5], stream).has_value());

  std::span<const std::byte> rest(stream);
  for (const auto& expected : {messages[1], messages[5]}) {
    auto header = wire::parse_frame_header<raft_protocol>(rest);
    REQUIRE(header.has_value());
    REQUIRE(rest.size() >= header->frame_size());
    auto decoded = wire::decode_frame_payload<raft_protocol>(
        *header, rest.subspan(wire::frame_header_size, header->payload_size));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == expected);
    rest = rest.subspan(header->frame_size());
  }
  CHECK(rest.empty());
}

TEST_CASE("frame: a frame cut at any byte is truncated") {
  const auto frame = sample_frame();
  for (std::size_t cut = 0; cut < frame.size(); ++cut) {
    CAPTURE(cut);
    const std::vector<std::byte> prefix(frame.begin(), frame.begin() + cut);
    CHECK(frame_error(prefix) == wire::errc::truncated);
  }
  auto longer = frame;
  longer.push_back(std::byte{0});
  CHECK(frame_error(longer) == wire::errc::trailing_bytes);
}

TEST_CASE("frame: a wrong magic, version or type is refused from the header alone") {
  auto frame = sample_frame();
  auto bad_magic = frame;
  bad_magic[0] = std::byte{'X'};
  CHECK(frame_error(bad_magic) == wire::errc::bad_magic);
  CHECK(wire::parse_frame_header<raft_protocol>(std::span(bad_magic).first(14)).error() ==
        wire::errc::bad_magic);

  auto bad_version = frame;
  bad_version[4] = std::byte{2};
  CHECK(frame_error(bad_version) == wire::errc::bad_version);

  auto unknown = frame;
  unknown[5] = std::byte{raft_protocol::size};
  CHECK(frame_error(unknown) == wire::errc::unknown_type);
  unknown[5] = std::byte{255};
  CHECK(frame_error(unknown) == wire::errc::unknown_type);

  // Another application's magic and version are its own.
  const wire::frame_options other{.magic = {std::byte{'K'}, std::byte{'V'}, std::byte{'0'},
                                            std::byte{'1'}},
                                  .version = 3};
  const auto other_frame = frame_of(test::sample_raft_messages()[0], other);
  CHECK(frame_error(other_frame, other) == std::error_code{});
  CHECK(frame_error(other_frame) == wire::errc::bad_magic);
}

TEST_CASE("frame: a payload larger than the configured maximum is refused on both sides") {
  const auto frame = sample_frame();
  const std::uint32_t payload_size = static_cast<std::uint32_t>(frame.size() - 14);
  CHECK(frame_error(frame, {.max_payload_size = payload_size}) == std::error_code{});
  CHECK(frame_error(frame, {.max_payload_size = payload_size - 1}) == wire::errc::too_large);

  // A forged length is refused before a stream reader would wait for (or buffer) the payload.
  auto forged = frame;
  forged[6] = forged[7] = forged[8] = forged[9] = std::byte{0xFF};
  CHECK(wire::parse_frame_header<raft_protocol>(std::span(forged).first(14)).error() ==
        wire::errc::too_large);

  // The sender refuses too, and leaves its buffer as it was.
  std::vector<std::byte> out = bytes_of({1, 2, 3});
  auto encoded = wire::encode_frame<raft_protocol>(test::sample_raft_messages()[5], out,
                                                   {.max_payload_size = payload_size - 1});
  CHECK(encoded.error() == wire::errc::too_large);
  CHECK(out == bytes_of({1, 2, 3}));
}

TEST_CASE("frame: a corrupted payload, type or checksum fails the checksum") {
  const auto frame = sample_frame();
  auto corrupt_payload = frame;
  corrupt_payload[20] ^= std::byte{0x10};
  CHECK(frame_error(corrupt_payload) == wire::errc::bad_crc);

  // A type changed to another valid type would decode the payload as the wrong message.
  auto retyped = frame;
  retyped[5] = std::byte{raft_protocol::type_of<raft::request_vote_args>};
  CHECK(frame_error(retyped) == wire::errc::bad_crc);

  auto corrupt_checksum = frame;
  corrupt_checksum[12] ^= std::byte{0x01};
  CHECK(frame_error(corrupt_checksum) == wire::errc::bad_crc);
}

TEST_CASE("frame: every single-bit flip anywhere in a frame is detected") {
  const auto frame = sample_frame();
  for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
    CAPTURE(bit);
    auto flipped = frame;
    flipped[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    CHECK(frame_error(flipped) != std::error_code{});
  }
}

TEST_CASE("frame: a payload with a valid checksum is still checked by the decoder") {
  // Rebuilds a frame around a hostile payload, so the checksum passes and the codec must judge it.
  const auto frame_with_payload = [](std::uint8_t type, const std::vector<std::byte>& payload) {
    std::vector<std::byte> frame = bytes_of({'C', 'R', 'F', 'T', 1, type});
    wire::writer w(frame);
    const auto size = static_cast<std::uint32_t>(payload.size());
    w.write_u32_le(size);
    w.write_u32_le(wire::detail::frame_checksum(1, type, size, payload));
    w.write_bytes(payload);
    return frame;
  };
  const auto reply_type = raft_protocol::type_of<raft::request_vote_reply>;
  CHECK(frame_error(frame_with_payload(reply_type, bytes_of({0x01, 0x01}))) == std::error_code{});
  CHECK(frame_error(frame_with_payload(reply_type, bytes_of({0x01, 0x05}))) ==
        wire::errc::bad_bool);
  CHECK(frame_error(frame_with_payload(reply_type, bytes_of({0x01, 0x01, 0x00}))) ==
        wire::errc::trailing_bytes);
  CHECK(frame_error(frame_with_payload(reply_type, bytes_of({0x80}))) == wire::errc::truncated);
  const auto append_type = raft_protocol::type_of<raft::append_entries_args>;
  // term, leader, prev index, prev term, one entry of kind 7.
  CHECK(frame_error(frame_with_payload(append_type, bytes_of({1, 1, 0, 0, 1, 1, 7, 0, 0}))) ==
        wire::errc::bad_enum);
}

namespace {

std::vector<std::byte> concatenated(const wire::gathered_bytes& gathered) {
  std::vector<std::byte> out;
  for (const auto& s : gathered.segments) {
    auto bytes = gathered.bytes_of(s);
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

raft::append_entries_args large_append() {
  raft::append_entries_args args;
  args.term = 4;
  args.leader = 2;
  args.prev_log_index = 10;
  args.prev_log_term = 3;
  for (std::size_t size : {5u, 4096u, 0u, 700u, 70000u}) {
    raft::bytes payload(size);
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::byte>(i * 31 + size);
    args.entries.push_back({4, raft::entry_kind::command, std::move(payload)});
  }
  args.leader_commit = 9;
  return args;
}

}  // namespace

TEST_CASE("frame: a gathered frame holds the same bytes and references large payloads") {
  const auto args = large_append();
  wire::gathered_bytes gathered;
  // Two frames back to back, as a transport batches them into one send.
  REQUIRE(wire::encode_frame_gathered<raft_protocol>(args, gathered, 512).has_value());
  const raft::request_vote_reply reply{.term = 4, .vote_granted = true};
  REQUIRE(wire::encode_frame_gathered<raft_protocol>(reply, gathered, 512).has_value());
  gathered.close_own_run();

  auto expected = frame_of(args);
  const auto second = frame_of(reply);
  expected.insert(expected.end(), second.begin(), second.end());
  CHECK(concatenated(gathered) == expected);
  CHECK(gathered.size() == expected.size());

  // The 4096-, 700- and 70000-byte payloads are referenced where they live; the small ones copied.
  std::vector<const std::byte*> referenced;
  for (const auto& s : gathered.segments)
    if (s.external) referenced.push_back(s.external);
  CHECK(referenced == std::vector<const std::byte*>{args.entries[1].payload.data(),
                                                    args.entries[3].payload.data(),
                                                    args.entries[4].payload.data()});
  CHECK(gathered.own.size() < 200);

  // What a peer decodes from the gathered bytes is the message itself.
  auto decoded = wire::decode_frame<raft_protocol>(std::span(expected).first(frame_of(args).size()));
  REQUIRE(decoded.has_value());
  CHECK(std::get<raft::append_entries_args>(*decoded) == args);

  std::vector<iovec> pieces;
  gathered.append_iovecs(pieces);
  CHECK(pieces.size() == gathered.segments.size());
}

TEST_CASE("frame: a gathered frame over the size limit leaves the buffer as it was") {
  wire::gathered_bytes gathered;
  const raft::request_vote_reply reply{.term = 1, .vote_granted = false};
  REQUIRE(wire::encode_frame_gathered<raft_protocol>(reply, gathered, 64).has_value());
  const auto before = concatenated(gathered);
  const auto own_before = gathered.own.size();
  auto refused = wire::encode_frame_gathered<raft_protocol>(large_append(), gathered, 64,
                                                            wire::frame_options{.magic = wire::default_frame_magic, .version = 1, .max_payload_size = 1000});
  CHECK(refused.error() == wire::errc::too_large);
  CHECK(gathered.own.size() == own_before);
  CHECK(concatenated(gathered) == before);
}
