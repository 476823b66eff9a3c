// coraft/sim/detail/path.hpp — the simulated disk's paths, as lists of names.
//
// '/'-separated, relative to the disk's root whether or not they start with '/'. Empty names and
// "." are skipped; ".." is refused (EINVAL): the simulator has no use for it, and resolving it
// right (through renamed directories) would be model code that no test needs.
#pragma once

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "coraft/co/result.hpp"

namespace coraft::sim::detail {

inline co::result<std::vector<std::string>> split_path(const std::string& path) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string name = path.substr(start, slash - start);
    if (name == "..") return co::errno_code(EINVAL);
    if (!name.empty() && name != ".") names.push_back(std::move(name));
    start = slash + 1;
  }
  return names;
}

// Is `inner` strictly below `outer` (e.g. "a/b/c" below "a/b")?
inline bool is_below(const std::vector<std::string>& inner, const std::vector<std::string>& outer) {
  return inner.size() > outer.size() && std::equal(outer.begin(), outer.end(), inner.begin());
}

}  // namespace coraft::sim::detail
