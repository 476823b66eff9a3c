// coraft/raft/transport/call_table.hpp — the calls awaiting a reply, by call number.
//
// A transport numbers its calls in increasing order and keeps each caller's waiting state (in the
// caller's frame) here until the reply comes or the caller gives up. The calls in flight are few (a
// window's worth per peer), so a vector kept in number order serves: adding appends, and the vector
// keeps its capacity, so that a call allocates nothing in the steady state (a map would allocate a
// node per call).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "coraft/raft/assert.hpp"

namespace coraft::raft {

template <class Call>
class call_table {
 public:
  // `id` is higher than every id added before.
  void add(std::uint64_t id, Call* call) {
    CORAFT_ASSERT(calls_.empty() || calls_.back().first < id, "call numbers increase");
    calls_.emplace_back(id, call);
  }

  Call* find(std::uint64_t id) const noexcept {
    const auto it = position(id);
    return it != calls_.end() && it->first == id ? it->second : nullptr;
  }

  void remove(std::uint64_t id) noexcept {
    const auto it = position(id);
    if (it != calls_.end() && it->first == id) calls_.erase(it);
  }

  // The call waiting longest (the lowest number), or null when none waits.
  Call* oldest() const noexcept { return calls_.empty() ? nullptr : calls_.front().second; }
  void remove_oldest() noexcept {
    if (!calls_.empty()) calls_.erase(calls_.begin());
  }

  // Calls `f` with every waiting call, oldest first, then forgets them all.
  template <class F>
  void take_all(F&& f) {
    std::vector<std::pair<std::uint64_t, Call*>> taken;
    taken.swap(calls_);
    for (auto& [id, call] : taken) f(*call);
    if (calls_.empty()) {  // keep the capacity, unless f added calls meanwhile
      taken.clear();
      calls_.swap(taken);
    }
  }

  bool empty() const noexcept { return calls_.empty(); }

 private:
  auto position(std::uint64_t id) const noexcept {
    return std::lower_bound(calls_.begin(), calls_.end(), id,
                            [](const auto& entry, std::uint64_t wanted) { return entry.first < wanted; });
  }

  std::vector<std::pair<std::uint64_t, Call*>> calls_;  // in increasing id order
};

}  // namespace coraft::raft
