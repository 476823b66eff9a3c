// log_window: the in-memory log, and what compaction costs the node's thread.
#include <doctest/doctest.h>

#include <cstddef>
#include <deque>
#include <string>

#include <coraft/raft/log.hpp>
#include <coraft/raft/types.hpp>

using namespace coraft;
using raft::index_t;
using raft::log_entry;
using raft::log_window;

namespace {

log_entry entry(raft::term_t term, index_t i) {
  return log_entry{term, raft::entry_kind::command, raft::to_bytes("command " + std::to_string(i))};
}

// Entries first..last, of `term`, appended to `log`.
void append(log_window& log, index_t first, index_t last, raft::term_t term = 1) {
  for (index_t i = first; i <= last; ++i) REQUIRE(log.append(entry(term, i)) == i);
}

}  // namespace

TEST_CASE("log_window: compaction moves the base at once and leaves the entries to later appends") {
  log_window log;
  append(log, 1, 1000);
  log.compact(600);
  CHECK(log.base_index() == 600);
  CHECK(log.base_term() == 1);
  CHECK(log.first_index() == 601);
  CHECK(log.last_index() == 1000);
  CHECK_FALSE(log.contains(600));
  CHECK(log.at(601) == entry(1, 601));
  CHECK(log.at(1000) == entry(1, 1000));
  // Nothing was released: a snapshot covering many entries costs its node no pause.
  CHECK(log.dropped() == 600);

  // Appends release them, release_batch every release_batch / 2 appends: the window never holds
  // more than release_batch / 2 entries beyond what it held before, and they are gone within
  // release_batch / 2 appends (600 is less than a batch).
  const std::size_t held = (log.last_index() - log.base_index()) + log.dropped();
  const std::size_t half = log_window::release_batch / 2;
  index_t i = 1001;
  for (; log.dropped() > 0; ++i) {
    log.append(entry(2, i));
    CHECK((log.last_index() - log.base_index()) + log.dropped() <= held + half);
  }
  CHECK(i - 1001 <= half);
  const index_t last = log.last_index();
  CHECK(log.at(1000) == entry(1, 1000));
  CHECK(log.at(last) == entry(2, last));
  CHECK(log.term_at(600) == 1);

  // A compaction of many: released batch by batch, never all at once.
  append(log, last + 1, 5000, 2);
  log.compact(4000);
  CHECK(log.dropped() == 3400);
  for (std::size_t dropped = log.dropped(); dropped > 0; dropped = log.dropped()) {
    log.append(entry(2, log.last_index() + 1));
    CHECK(dropped - log.dropped() <= log_window::release_batch);
  }

  // Truncation and compaction keep working on a window whose front holds dropped entries.
  log.compact(4100);
  log.truncate_from(4500);
  CHECK(log.last_index() == 4499);
  CHECK(log.at(4101) == entry(2, 4101));
  CHECK(log.last_index_of_term(2) == 4499);
  CHECK(log.first_index_of_term_ending_at(4499) == 4101);
  log.compact(4499);
  CHECK(log.empty());
  CHECK(log.term_at(4499) == 2);
  CHECK(log.append(entry(3, 4500)) == 4500);
  CHECK_THROWS_AS(log.compact(4600), std::logic_error);
}

TEST_CASE("log_window: a reset leaves the entries it replaces to later appends, then releases them") {
  log_window log;
  append(log, 1, 100);
  log.compact(40);
  std::deque<log_entry> installed{entry(5, 501), entry(5, 502)};
  log.reset(500, 4, std::move(installed));
  CHECK(log.base_index() == 500);
  CHECK(log.term_at(500) == 4);
  CHECK(log.last_index() == 502);
  CHECK(log.at(501) == entry(5, 501));
  CHECK(log.dropped() == 100);  // the 40 compacted and the 60 the reset replaced
  log.release_dropped(30);
  CHECK(log.dropped() == 70);
  append(log, 503, 502 + log_window::release_batch / 2, 5);
  CHECK(log.dropped() == 0);
  CHECK(log.last_index() == 502 + log_window::release_batch / 2);
  CHECK(log.at(502) == entry(5, 502));
}
