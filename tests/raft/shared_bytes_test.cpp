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

TEST_CASE("small copies are cut from one block, which lives until its last buffer goes") {
  const bytes first_bytes = raft::to_bytes("first");
  const bytes second_bytes = raft::to_bytes("second");
  shared_bytes first = shared_bytes::copy_of(first_bytes);
  shared_bytes second = shared_bytes::copy_of(second_bytes);
  if (CORAFT_POOLING) CHECK(second.data() == first.data() + first.size());  // side by side
  {
    shared_bytes third = shared_bytes::copy_of(raft::to_bytes("third"));
    first = {};  // dropping buffers of a block leaves the others intact
    CHECK(to_string(third) == "third");
  }
  CHECK(second == second_bytes);
  // A copy larger than the cuts gets a block of its own, and a thread's copies outlive the
  // thread's current block.
  const bytes large(4000, std::byte{7});
  shared_bytes big;
  std::thread([&] {
    big = shared_bytes::copy_of(large);
    first = shared_bytes::copy_of(first_bytes);
  }).join();
  CHECK(big == large);
  CHECK(first == first_bytes);
}

TEST_CASE("a byte_block hands out views of what its owner wrote, and knows whether they live") {
  raft::byte_block block(64);
  CHECK(block.capacity() == 64);
  CHECK_FALSE(block.in_use());
  const bytes text = raft::to_bytes("entry one|entry two");
  std::copy(text.begin(), text.end(), block.data());
  const std::span<const std::byte> written(block.data(), text.size());
  shared_bytes one = block.share(written.first(9));
  shared_bytes two = shared_bytes::share(block, written.subspan(10));
  CHECK(one.data() == block.data());  // a view, not a copy
  CHECK(to_string(one) == "entry one");
  CHECK(to_string(two) == "entry two");
  CHECK(block.in_use());
  {
    raft::byte_block moved = std::move(block);  // the views keep the bytes, whoever owns the block
    block = raft::byte_block(16);
  }
  CHECK(to_string(two) == "entry two");  // the old block is freed only after its views
  one = {};
  two = {};
  CHECK_FALSE(block.in_use());
}

TEST_CASE("a decoder reading from a byte_block makes its byte runs views of it") {
  const std::vector<shared_bytes> sent = {shared_bytes(raft::to_bytes("alpha")),
                                          shared_bytes(raft::to_bytes("beta"))};
  const bytes encoded = wire::encode(sent);
  raft::byte_block block(encoded.size());
  std::copy(encoded.begin(), encoded.end(), block.data());
  const std::span<const std::byte> input(block.data(), encoded.size());

  auto viewed = wire::decode<std::vector<shared_bytes>>(input, wire::input_owner::of(block));
  REQUIRE(viewed);
  REQUIRE(viewed->size() == 2);
  CHECK((*viewed)[0] == sent[0]);
  CHECK((*viewed)[1] == sent[1]);
  CHECK((*viewed)[0].data() > block.data());  // inside the block
  CHECK((*viewed)[1].data() < block.data() + encoded.size());
  CHECK(block.in_use());

  auto copied = wire::decode<std::vector<shared_bytes>>(input);  // no owner: copies
  REQUIRE(copied);
  CHECK((*copied)[0] == sent[0]);
  CHECK(((*copied)[0].data() < block.data() || (*copied)[0].data() >= block.data() + encoded.size()));
}
