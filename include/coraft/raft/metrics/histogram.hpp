// coraft/raft/metrics/histogram.hpp — a latency histogram with fixed log-scale buckets.
//
// Bucket 0 counts durations under 1 us; bucket i (1 <= i < bucket_count - 1) counts those in
// [2^(i-1), 2^i) us; the last bucket counts everything from 2^(bucket_count - 2) us (about 67 s)
// up. Recording is a bit_width and three additions: no allocation, no search, cheap enough to stay
// on. A plain value: copying it is how a consistent snapshot is taken.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "coraft/raft/assert.hpp"

namespace coraft::raft {

class latency_histogram {
 public:
  static constexpr std::size_t bucket_count = 28;
  using microseconds = std::chrono::microseconds;

  // The bucket that counts a duration of `us` whole microseconds.
  static constexpr std::size_t bucket_of(std::uint64_t us) noexcept {
    return std::min<std::size_t>(static_cast<std::size_t>(std::bit_width(us)), bucket_count - 1);
  }
  // The smallest duration bucket `i` counts, and the first one it no longer counts (the last
  // bucket has no end: microseconds::max()).
  static constexpr microseconds lower_bound(std::size_t i) noexcept {
    return microseconds(i == 0 ? 0 : std::int64_t{1} << (i - 1));
  }
  static constexpr microseconds upper_bound(std::size_t i) noexcept {
    return i + 1 == bucket_count ? microseconds::max() : microseconds(std::int64_t{1} << i);
  }

  // Counts one duration; a negative one (a clock that stepped back) counts as zero.
  template <class Rep, class Period>
  void record(std::chrono::duration<Rep, Period> d) noexcept {
    const auto us = std::chrono::duration_cast<microseconds>(d).count();
    const std::uint64_t value = us > 0 ? static_cast<std::uint64_t>(us) : 0;
    ++buckets_[bucket_of(value)];
    ++count_;
    sum_us_ += value;
    max_us_ = std::max(max_us_, value);
  }

  std::uint64_t count() const noexcept { return count_; }
  microseconds sum() const noexcept { return microseconds(static_cast<std::int64_t>(sum_us_)); }
  microseconds max() const noexcept { return microseconds(static_cast<std::int64_t>(max_us_)); }
  std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i]; }

  // An estimate of the q-quantile (0 <= q <= 1): the duration below which a fraction q of those
  // recorded fall, interpolated linearly inside the bucket that holds it (so within its edges), and
  // never above the largest recorded. Zero when nothing was recorded.
  microseconds quantile(double q) const noexcept {
    CORAFT_ASSERT(q >= 0.0 && q <= 1.0, "a quantile lies in [0, 1]");
    if (count_ == 0) return microseconds(0);
    const double rank = std::max(1.0, q * static_cast<double>(count_));
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      if (buckets_[i] == 0 || static_cast<double>(below + buckets_[i]) < rank) {
        below += buckets_[i];
        continue;
      }
      const double lower = static_cast<double>(lower_bound(i).count());
      const double upper = i + 1 == bucket_count ? static_cast<double>(max_us_ + 1)
                                                 : static_cast<double>(upper_bound(i).count());
      const double within = (rank - static_cast<double>(below)) / static_cast<double>(buckets_[i]);
      const auto estimate = static_cast<std::uint64_t>(lower + within * (upper - lower));
      const auto in_bucket = std::min(estimate, static_cast<std::uint64_t>(upper) - 1);
      return microseconds(static_cast<std::int64_t>(std::min(in_bucket, max_us_)));
    }
    return max();
  }

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_us_ = 0;
  std::uint64_t max_us_ = 0;
};

}  // namespace coraft::raft
