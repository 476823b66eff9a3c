// bench/metrics_cost.cpp — what recording a latency costs: latency_histogram::record() over many
// durations spread across its buckets, in nanoseconds per call, and the size of a metrics snapshot.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <coraft/raft/metrics/histogram.hpp>
#include <coraft/raft/metrics/node_metrics.hpp>

int main() {
  using clock = std::chrono::steady_clock;
  constexpr std::size_t samples = 4096;  // a small table, so that memory does not dominate
  constexpr std::size_t rounds = 20'000;
  std::vector<std::chrono::nanoseconds> durations(samples);
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (auto& d : durations) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    d = std::chrono::nanoseconds(static_cast<std::int64_t>(x % 4'000'000'000ULL));  // up to 4 s
  }
  coraft::raft::latency_histogram h;
  const auto began = clock::now();
  for (std::size_t r = 0; r < rounds; ++r)
    for (const auto d : durations) h.record(d);
  const auto took = std::chrono::duration<double, std::nano>(clock::now() - began).count();
  const double calls = static_cast<double>(samples * rounds);
  std::printf("latency_histogram::record: %.2f ns per call (%llu calls, p50 %lld us)\n", took / calls,
              static_cast<unsigned long long>(h.count()),
              static_cast<long long>(h.quantile(0.5).count()));
  std::printf("sizeof(latency_histogram) = %zu bytes, sizeof(node_metrics) = %zu bytes (without peers)\n",
              sizeof(coraft::raft::latency_histogram), sizeof(coraft::raft::node_metrics));
}
