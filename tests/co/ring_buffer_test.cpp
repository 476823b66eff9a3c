// ring_buffer: a double-ended queue in one circular array, which keeps its order across growth,
// wrap-around and shrinking, and releases what it drops.
#include <doctest/doctest.h>

#include <cstddef>
#include <deque>
#include <memory>

#include <coraft/co/ring_buffer.hpp>

using coraft::co::ring_buffer;

namespace {

// The buffer holds exactly what the model deque holds, in the same order.
void check_same(const ring_buffer<int>& ring, const std::deque<int>& model) {
  REQUIRE(ring.size() == model.size());
  for (std::size_t i = 0; i < model.size(); ++i) CHECK(ring[i] == model[i]);
}

}  // namespace

TEST_CASE("ring_buffer keeps a deque's order through growth, wrap-around and shrinking") {
  ring_buffer<int> ring;
  std::deque<int> model;
  CHECK(ring.empty());
  int next = 0;
  // Rounds of appending more than is dropped, then of dropping more: the head wraps around the
  // array many times, the array doubles, and then it shrinks again.
  for (int round = 0; round < 200; ++round) {
    const bool growing = round < 100;
    for (int i = 0; i < (growing ? 150 : 20); ++i) {
      ring.push_back(next);
      model.push_back(next++);
    }
    const std::size_t drop = std::min<std::size_t>(model.size(), growing ? 100 : 170);
    ring.pop_front(drop);
    model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(drop));
    if (round % 7 == 0 && !model.empty()) {
      ring.pop_back();
      model.pop_back();
    }
    check_same(ring, model);
  }
  CHECK(ring.capacity() < 8192);  // shrunk from the peak of more than 5,000 elements
  ring.clear();
  CHECK(ring.empty());
}

TEST_CASE("ring_buffer releases the elements it drops at once") {
  ring_buffer<std::shared_ptr<int>> ring;
  auto watched = std::make_shared<int>(7);
  ring.push_back(watched);
  ring.push_back(watched);
  ring.push_back(std::make_shared<int>(8));
  CHECK(watched.use_count() == 3);
  ring.pop_front();
  CHECK(watched.use_count() == 2);
  ring.pop_back();
  CHECK(*ring.back() == 7);
  ring.pop_front();
  CHECK(watched.use_count() == 1);
  CHECK(ring.empty());
}

TEST_CASE("a moved-from ring_buffer is empty and usable") {
  ring_buffer<int> from;
  for (int i = 0; i < 100; ++i) from.push_back(i);
  from.pop_front(30);
  ring_buffer<int> to = std::move(from);
  CHECK(to.size() == 70);
  CHECK(to[0] == 30);
  CHECK(from.empty());  // NOLINT(bugprone-use-after-move): the state it promises
  from.push_back(5);
  CHECK(from[0] == 5);
  to = std::move(from);
  CHECK(to.size() == 1);
  CHECK(from.empty());  // NOLINT(bugprone-use-after-move)
}
