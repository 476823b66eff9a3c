// coraft/raft/storage/log_segments.hpp — where each log record is, segment file by segment file.
//
// file_storage decides where bytes go at the moment a write is issued, long before they reach the
// disk, so that writes can be queued and grouped. This is its map of the log *as issued*: the
// segments in index order, and the offset of every record in them, which is what a truncation needs
// to know where to cut. It does no I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coraft/raft/types.hpp"

namespace coraft::raft {

struct log_segment {
  index_t first_index = 0;                    // the index in the file's name
  std::vector<std::uint64_t> record_offsets;  // [k]: where the record of first_index + k starts
  std::uint64_t size = 0;                     // where the last record ends

  index_t end_index() const noexcept { return first_index + record_offsets.size(); }  // one past
};

class log_segments {
 public:
  log_segments() = default;
  // Segments in index order, contiguous, after a snapshot covering up to `covered_index`.
  log_segments(std::deque<log_segment> segments, index_t covered_index)
      : segments_(std::move(segments)), covered_index_(covered_index) {}

  const std::deque<log_segment>& segments() const noexcept { return segments_; }
  index_t covered_index() const noexcept { return covered_index_; }

  // The index the next appended record gets.
  index_t next_index() const noexcept {
    return segments_.empty() ? covered_index_ + 1 : segments_.back().end_index();
  }

  // Where a record of `size` bytes appended now goes. A new segment starts when there is none, or
  // when the last one holds records and has reached `segment_size`: a record larger than a whole
  // segment still fits, alone.
  struct placement {
    index_t segment;       // first index of the segment file
    std::uint64_t offset;  // where the record starts in it
    bool new_segment;      // the file does not exist yet
  };
  placement place(std::uint64_t size, std::uint64_t segment_size) {
    bool fresh = false;
    if (segments_.empty() ||
        (segments_.back().size >= segment_size && !segments_.back().record_offsets.empty())) {
      segments_.push_back(log_segment{next_index(), {}, 0});
      fresh = true;
    }
    log_segment& last = segments_.back();
    const placement where{last.first_index, last.size, fresh};
    last.record_offsets.push_back(last.size);
    last.size += size;
    return where;
  }

  // Drop every record at `from` and after (§5.3: a conflicting suffix). The segment holding `from`
  // is cut to `length`; the ones after it go.
  struct cut {
    index_t segment;
    std::uint64_t length;
    std::vector<index_t> removed;  // first indexes of the segments that go
  };
  cut truncate_from(index_t from) {
    if (from <= covered_index_ || from >= next_index()) {
      throw std::logic_error("coraft::raft::log_segments: no record " + std::to_string(from) +
                             " to truncate from");
    }
    cut result{0, 0, {}};
    while (segments_.back().first_index > from) {
      result.removed.push_back(segments_.back().first_index);
      segments_.pop_back();
    }
    log_segment& holder = segments_.back();
    result.segment = holder.first_index;
    result.length = holder.record_offsets[from - holder.first_index];
    holder.record_offsets.resize(from - holder.first_index);
    holder.size = result.length;
    return result;
  }

  // A snapshot now covers every index up to `index` (§7): the segments holding nothing after it
  // go. Returns their first indexes. A segment holding later records stays whole.
  std::vector<index_t> drop_covered(index_t index) {
    std::vector<index_t> dropped;
    while (!segments_.empty() && segments_.front().end_index() <= index + 1) {
      dropped.push_back(segments_.front().first_index);
      segments_.pop_front();
    }
    if (index > covered_index_) covered_index_ = index;
    return dropped;
  }

 private:
  std::deque<log_segment> segments_;  // in index order, contiguous; only the last may be empty
  index_t covered_index_ = 0;         // the last index the snapshot covers (0: none)
};

}  // namespace coraft::raft
