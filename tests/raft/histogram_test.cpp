// latency_histogram: its log-scale buckets and their edges, count, sum, largest, and quantiles.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>

#include <coraft/raft/metrics/histogram.hpp>

using coraft::raft::latency_histogram;
using namespace std::chrono_literals;

TEST_CASE("latency_histogram: bucket i counts [2^(i-1), 2^i) us; under 1 us and the overflow apart") {
  CHECK(latency_histogram::bucket_of(0) == 0);
  CHECK(latency_histogram::bucket_of(1) == 1);
  CHECK(latency_histogram::bucket_of(2) == 2);
  CHECK(latency_histogram::bucket_of(3) == 2);
  CHECK(latency_histogram::bucket_of(4) == 3);
  CHECK(latency_histogram::bucket_of(1023) == 10);
  CHECK(latency_histogram::bucket_of(1024) == 11);
  const std::size_t last = latency_histogram::bucket_count - 1;
  CHECK(latency_histogram::bucket_of(std::uint64_t{1} << 26) == last);
  CHECK(latency_histogram::bucket_of(~std::uint64_t{0}) == last);
  // Each bucket's edges: every duration lies in exactly one, and the buckets tile [0, max).
  CHECK(latency_histogram::lower_bound(0) == 0us);
  for (std::size_t i = 0; i + 1 < latency_histogram::bucket_count; ++i) {
    CHECK(latency_histogram::upper_bound(i) == latency_histogram::lower_bound(i + 1));
    const auto lower = static_cast<std::uint64_t>(latency_histogram::lower_bound(i).count());
    const auto upper = static_cast<std::uint64_t>(latency_histogram::upper_bound(i).count());
    CHECK(latency_histogram::bucket_of(lower) == i);
    CHECK(latency_histogram::bucket_of(upper - 1) == i);
  }
  CHECK(latency_histogram::upper_bound(last) == std::chrono::microseconds::max());
  CHECK(latency_histogram::lower_bound(last) > 60s);  // the overflow starts past a minute
}

TEST_CASE("latency_histogram: count, sum, largest and bucket counts follow what is recorded") {
  latency_histogram h;
  CHECK(h.count() == 0);
  CHECK(h.quantile(0.5) == 0us);
  h.record(500ns);   // under 1 us: bucket 0
  h.record(1us);     // bucket 1
  h.record(3us);     // bucket 2
  h.record(1500us);  // [1024, 2048): bucket 11
  h.record(2ms);     // 2000 us: bucket 11
  h.record(-5us);    // a clock that stepped back counts as zero
  h.record(90s);     // the overflow
  CHECK(h.count() == 7);
  CHECK(h.sum() == 1us + 3us + 1500us + 2000us + 90s);
  CHECK(h.max() == 90s);
  CHECK(h.bucket(0) == 2);
  CHECK(h.bucket(1) == 1);
  CHECK(h.bucket(2) == 1);
  CHECK(h.bucket(11) == 2);
  CHECK(h.bucket(latency_histogram::bucket_count - 1) == 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < latency_histogram::bucket_count; ++i) total += h.bucket(i);
  CHECK(total == h.count());
}

TEST_CASE("latency_histogram: quantiles fall in the bucket that holds them, never past the largest") {
  latency_histogram h;
  for (int i = 0; i < 90; ++i) h.record(100us);  // bucket [64, 128)
  for (int i = 0; i < 10; ++i) h.record(5ms);    // bucket [4096, 8192)
  const auto median = h.quantile(0.5);
  CHECK(median >= 64us);
  CHECK(median < 128us);
  CHECK(h.quantile(0.9) < 128us);
  const auto p99 = h.quantile(0.99);
  CHECK(p99 >= 4096us);
  CHECK(p99 <= 5ms);  // clamped to the largest recorded
  CHECK(h.quantile(1.0) == 5ms);
  CHECK(h.quantile(0.0) >= 64us);  // the smallest rank is the first duration recorded
  // Quantiles never decrease with q.
  auto previous = h.quantile(0.0);
  for (int q = 1; q <= 100; ++q) {
    const auto next = h.quantile(q / 100.0);
    CHECK(next >= previous);
    previous = next;
  }
}
