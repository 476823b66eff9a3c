// tests/raft/logs.hpp — log windows built from their terms, for the tests of the rules alone.
#pragma once

#include <deque>
#include <initializer_list>
#include <utility>

#include <coraft/raft/log.hpp>

namespace coraft::test {

// A log window whose entries (base_index + 1 on) have the given terms.
inline raft::log_window log_of(std::initializer_list<raft::term_t> terms, raft::index_t base_index = 0,
                               raft::term_t base_term = 0) {
  std::deque<raft::log_entry> entries;
  for (raft::term_t t : terms) entries.push_back(raft::log_entry{t, raft::entry_kind::command, {}});
  raft::log_window log;
  log.reset(base_index, base_term, std::move(entries));
  return log;
}

}  // namespace coraft::test
