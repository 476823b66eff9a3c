// io::backoff and io::listen_when_free: the retry schedules that callers share.
#include <doctest/doctest.h>

#include <coraft/co/scope.hpp>
#include <coraft/io/backoff.hpp>
#include <coraft/io/listen.hpp>
#include <coraft/io/random.hpp>
#include <coraft/io/uring_executor.hpp>

#include <chrono>
#include <optional>
#include <system_error>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using coraft::co::block_on;
using coraft::co::result;
using coraft::co::scope;
using coraft::co::task;
using coraft::io::backoff;
using coraft::io::duration;
using coraft::io::endpoint;
using io_test::executor;

TEST_CASE("BackoffDoubles: first, twice, four times, then the cap; reset starts over") {
  backoff pause(20ms, 150ms);
  std::vector<duration> seen;
  for (int i = 0; i < 5; ++i) seen.push_back(pause.next());
  CHECK(seen == std::vector<duration>{20ms, 40ms, 80ms, 150ms, 150ms});
  pause.reset();
  CHECK(pause.next() == 20ms);
  CHECK(pause.current() == 40ms);
}

TEST_CASE("BackoffFirstAboveCap: a first pause above the cap waits the cap") {
  backoff pause(2s, 1s);
  CHECK(pause.next() == 1s);
  CHECK(pause.next() == 1s);
}

TEST_CASE("BackoffJitter: each pause drawn from [p/2, p], the doubling goes on from p") {
  coraft::io::seeded_random random(5);
  backoff pause(100ms, 800ms);
  const std::vector<duration> nominal{100ms, 200ms, 400ms, 800ms, 800ms};
  bool some_below_nominal = false;
  for (duration p : nominal) {
    const duration drawn = pause.next(random);
    CHECK(drawn >= p / 2);
    CHECK(drawn <= p);
    some_below_nominal = some_below_nominal || drawn < p;
  }
  CHECK(some_below_nominal);
  coraft::io::seeded_random again(5);
  backoff replay(100ms, 800ms);
  coraft::io::seeded_random first_run(5);
  backoff original(100ms, 800ms);
  for (int i = 0; i < 5; ++i) CHECK(replay.next(again) == original.next(first_run));  // seeded
}

namespace {

// Holds `l` until `how_long` has passed, then closes it.
task<void> release_after(executor& ex, std::optional<executor::listener>* l, duration how_long) {
  (void)co_await ex.sleep_for(how_long);
  l->reset();
}

task<result<executor::listener>> listen_and_release(executor& ex, endpoint address,
                                                    std::optional<executor::listener>* held,
                                                    duration held_for, duration patience) {
  scope releaser(co_await coraft::co::current_context());
  releaser.spawn(release_after(ex, held, held_for));
  auto bound = co_await coraft::io::listen_when_free(ex, address, patience);
  co_await releaser.join();
  co_return bound;
}

}  // namespace

TEST_CASE("ListenWhenFree: an address held for a moment is bound once it is released") {
  executor ex;
  std::optional<executor::listener> held(ex.listen({"127.0.0.1", 0}).value());
  const endpoint address = held->local_endpoint();
  auto bound = block_on(ex, listen_and_release(ex, address, &held, 200ms, 5s));
  REQUIRE(bound);
  CHECK(bound->local_endpoint() == address);
}

TEST_CASE("ListenWhenFree: an address held past the patience fails with address_in_use") {
  executor ex;
  std::optional<executor::listener> held(ex.listen({"127.0.0.1", 0}).value());
  const endpoint address = held->local_endpoint();
  auto bound = block_on(ex, listen_and_release(ex, address, &held, 1s, 100ms));
  CHECK(bound.error() == std::errc::address_in_use);
}

TEST_CASE("ListenWhenFree: any other error is returned at once") {
  executor ex;
  auto bound = block_on(ex, coraft::io::listen_when_free(ex, endpoint{"not-an-address", 0}));
  CHECK_FALSE(bound);
  CHECK(bound.error() != std::errc::address_in_use);
}
