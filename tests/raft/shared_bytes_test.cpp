// shared_bytes: copies share one immutable buffer, and the codec encodes it exactly as a byte vector.
#include <doctest/doctest.h>

#include <cstddef>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include <coraft/raft/shared_bytes.hpp>
#include <coraft/raft/types.hpp>
#include <coraft/wire/codec.hpp>
#include <coraft/wire/size.hpp>

using namespace coraft;
using raft::bytes;
using raft::shared_bytes;

TEST_CASE("shared_bytes takes a vector's buffer over, and its copies share it") {
  bytes original = raft::to_bytes("a command");
  const std::byte* buffer = original.data();
  shared_bytes taken(std::move(original));
  CHECK(taken.data() == buffer);  // not copied
  CHECK(taken.size() == 9);
  CHECK(taken == raft::to_bytes("a command"));

  shared_bytes copy = taken;
  CHECK(copy.data() == buffer);
  shared_bytes moved = std::move(copy);
  CHECK(moved.data() == buffer);
  CHECK(to_string(moved) == "a command");
  CHECK(moved[2] == std::byte{'c'});
}

TEST_CASE("shared_bytes made from bytes it does not own copies them") {
  const bytes original = raft::to_bytes("xyz");
  shared_bytes copied = original;
  CHECK(copied.data() != original.data());
  CHECK(copied == original);
  shared_bytes from_span = shared_bytes::copy_of(std::span<const std::byte>(original).first(2));
  CHECK(from_span == raft::to_bytes("xy"));
  CHECK(from_span != copied);

  bytes mutable_copy = copied.to_bytes();
  mutable_copy[0] = std::byte{'w'};
  CHECK(copied == original);  // unchanged
}

TEST_CASE("an empty shared_bytes holds nothing and equals every other empty one") {
  shared_bytes none;
  CHECK(none.empty());
  CHECK(none.size() == 0);
  CHECK(none.begin() == none.end());
  CHECK(none == shared_bytes(bytes{}));
  CHECK(none == shared_bytes::copy_of({}));
  CHECK(none == bytes{});
  CHECK(std::span<const std::byte>(none).empty());
}

TEST_CASE("copies of a shared_bytes may be made and dropped on several threads") {
  const shared_bytes payload = raft::to_bytes("shared by every thread");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = payload] {
      for (int i = 0; i < 10000; ++i) {
        shared_bytes again = copy;
        REQUIRE(again.size() == copy.size());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(to_string(payload) == "shared by every thread");
}

TEST_CASE("shared_bytes encodes exactly as a byte vector does") {
  for (std::size_t size : {0u, 1u, 127u, 128u, 70000u}) {
    bytes plain(size);
    for (std::size_t i = 0; i < size; ++i) plain[i] = static_cast<std::byte>(i * 13 + 1);
    const shared_bytes shared = plain;
    const bytes encoded = wire::encode(shared);
    CHECK(encoded == wire::encode(plain));
    CHECK(wire::encoded_size(shared) == encoded.size());
    auto decoded = wire::decode<shared_bytes>(encoded);
    REQUIRE(decoded);
    CHECK(*decoded == plain);
  }
  // An entry: its term and kind as varints, then the payload's length and bytes.
  const raft::log_entry entry{3, raft::entry_kind::configuration, raft::to_bytes("payload")};
  bytes expected{std::byte{3}, std::byte{2}, std::byte{7}};
  const bytes text = raft::to_bytes("payload");
  expected.insert(expected.end(), text.begin(), text.end());
  CHECK(wire::encode(entry) == expected);
  CHECK(wire::encoded_size(entry) == expected.size());
}
