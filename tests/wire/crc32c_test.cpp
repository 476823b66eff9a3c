#include <doctest/doctest.h>

#include <coraft/wire/crc32c.hpp>

#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

using coraft::wire::crc32c;

namespace {

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

std::vector<std::byte> filled(std::size_t size, auto value_at) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>(value_at(i));
  return out;
}

// The checksum computed one bit at a time, straight from the definition: the reference the fast
// paths are compared against.
std::uint32_t crc32c_bitwise(std::span<const std::byte> data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::byte b : data) {
    crc ^= static_cast<std::uint32_t>(b);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
  }
  return ~crc;
}

}  // namespace

TEST_CASE("crc32c: known answers") {
  CHECK(crc32c({}) == 0u);
  CHECK(crc32c(bytes_of("123456789")) == 0xE3069283u);
  CHECK(crc32c(bytes_of("a")) == 0xC1D04330u);
  // The iSCSI test vectors (RFC 3720, appendix B.4).
  CHECK(crc32c(filled(32, [](std::size_t) { return 0x00; })) == 0x8A9136AAu);
  CHECK(crc32c(filled(32, [](std::size_t) { return 0xFF; })) == 0x62A8AB43u);
  CHECK(crc32c(filled(32, [](std::size_t i) { return i; })) == 0x46DD794Eu);
  CHECK(crc32c(filled(32, [](std::size_t i) { return 31 - i; })) == 0x113FDB5Cu);
}

TEST_CASE("crc32c: continuing from a previous result equals checksumming the concatenation") {
  const auto data = filled(100, [](std::size_t i) { return i * 37 + 11; });
  const std::span<const std::byte> all(data);
  const std::uint32_t whole = crc32c(all);
  for (std::size_t split = 0; split <= data.size(); ++split) {
    CAPTURE(split);
    CHECK(crc32c(all.subspan(split), crc32c(all.first(split))) == whole);
  }
  // Three pieces, as a record's header, payload and trailer would be checksummed.
  CHECK(crc32c(all.subspan(70), crc32c(all.subspan(5, 65), crc32c(all.first(5)))) == whole);
}

TEST_CASE("crc32c: every length and alignment agrees with the bit-by-bit definition") {
  std::mt19937_64 random(20240611);
  std::vector<std::byte> data(600);
  for (auto& b : data) b = static_cast<std::byte>(random());
  const std::span<const std::byte> all(data);
  for (std::size_t offset = 0; offset < 9; ++offset) {
    for (std::size_t size = 0; offset + size <= 300; ++size) {
      const auto piece = all.subspan(offset, size);
      const std::uint32_t expected = crc32c_bitwise(piece);
      REQUIRE(crc32c(piece) == expected);
      REQUIRE(~coraft::wire::detail::crc32c_software(piece.data(), piece.size(), ~0u) ==
              expected);
    }
  }
  CHECK(crc32c(all) == crc32c_bitwise(all));
}
