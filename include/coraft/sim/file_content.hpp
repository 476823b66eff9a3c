// coraft/sim/file_content.hpp — one simulated file's bytes: what reads see, and what a crash keeps.
//
// Two images of the file and the changes between them: `cached` is the page cache, which every
// read sees; `durable` is the device, which is all a crash leaves. Each write or truncation applies
// to the cache at once and waits in `unsynced`, numbered by the disk, until a sync covering its
// number completes (it is then applied to the durable image) or fails (it is then forgotten, as
// Linux forgets dirty pages whose writeback failed). A crash drops the cache back to the durable
// image, perhaps keeping a torn prefix of the newest write.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace coraft::sim {

class file_content {
 public:
  std::uint64_t size() const noexcept { return cached_.size(); }

  std::size_t read(std::span<std::byte> buffer, std::uint64_t offset) const {
    if (offset >= cached_.size()) return 0;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(),
                                                                    cached_.size() - offset));
    std::copy_n(cached_.begin() + static_cast<std::ptrdiff_t>(offset), n, buffer.begin());
    return n;
  }

  // Change number `sequence`: `bytes` at `offset` (a hole before it reads as zeros).
  void write(std::uint64_t sequence, std::uint64_t offset, std::vector<std::byte> bytes) {
    change c{sequence, offset, std::move(bytes), std::nullopt};
    apply(cached_, c);
    unsynced_.push_back(std::move(c));
  }
  // Change number `sequence`: the file becomes `length` bytes long.
  void truncate(std::uint64_t sequence, std::uint64_t length) {
    change c{sequence, 0, {}, length};
    apply(cached_, c);
    unsynced_.push_back(std::move(c));
  }

  // A sync covering every change numbered up to `covers` has completed: they become durable, or,
  // if it failed, they are forgotten (still in the cache, never durable).
  void sync(std::uint64_t covers, bool failed) {
    auto first_not_covered = std::find_if(unsynced_.begin(), unsynced_.end(),
                                          [&](const change& c) { return c.sequence > covers; });
    if (!failed) {
      for (auto c = unsynced_.begin(); c != first_not_covered; ++c) apply(durable_, *c);
    }
    unsynced_.erase(unsynced_.begin(), first_not_covered);
  }

  // The newest change not yet durable: its number, and its length if it is a write.
  struct pending_change {
    std::uint64_t sequence;
    std::optional<std::size_t> write_length;
  };
  std::optional<pending_change> newest_unsynced() const {
    if (unsynced_.empty()) return std::nullopt;
    const change& c = unsynced_.back();
    if (c.truncate_to) return pending_change{c.sequence, std::nullopt};
    return pending_change{c.sequence, c.bytes.size()};
  }

  // Power is lost: only the durable image remains, plus the first `torn_prefix` bytes of the
  // newest write when the device was caught halfway through it.
  void lose_unsynced(std::size_t torn_prefix = 0) {
    if (torn_prefix > 0 && !unsynced_.empty() && !unsynced_.back().truncate_to) {
      change torn = std::move(unsynced_.back());
      torn.bytes.resize(std::min(torn_prefix, torn.bytes.size()));
      apply(durable_, torn);
    }
    unsynced_.clear();
    cached_ = durable_;
  }

 private:
  struct change {
    std::uint64_t sequence;
    std::uint64_t offset;
    std::vector<std::byte> bytes;
    std::optional<std::uint64_t> truncate_to;  // engaged for a truncation (bytes then empty)
  };

  static void apply(std::vector<std::byte>& image, const change& c) {
    if (c.truncate_to) {
      image.resize(static_cast<std::size_t>(*c.truncate_to));
      return;
    }
    const auto end = static_cast<std::size_t>(c.offset) + c.bytes.size();
    if (image.size() < end) image.resize(end);
    std::copy(c.bytes.begin(), c.bytes.end(),
              image.begin() + static_cast<std::ptrdiff_t>(c.offset));
  }

  std::vector<std::byte> cached_;   // what reads see
  std::vector<std::byte> durable_;  // what a crash leaves
  std::vector<change> unsynced_;    // oldest first; cached_ = durable_ + these (+ forgotten ones)
};

}  // namespace coraft::sim
