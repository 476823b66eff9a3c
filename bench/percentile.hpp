// The percentile the benchmarks report: nearest rank over samples already sorted.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace bench {

// The `p`-th quantile (0..1) of `sorted`, ascending; 0 if there are no samples.
template <class T>
double percentile(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(at, sorted.size() - 1)]);
}

}  // namespace bench
