// A program outside coraft's tree, built by each of the outside builds (outside_builds.sh): it
// uses coraft's headers, Boost.Describe through the wire encoding and liburing through the
// executor, and prints the language standard it was compiled in, which coraft must leave alone.
#include <coraft/co/scope.hpp>
#include <coraft/co/task.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/messages.hpp>
#include <coraft/wire/decode.hpp>
#include <coraft/wire/encode.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

// Sleeps a millisecond on the io_uring executor; resumes with whether the timer expired.
coraft::co::task<bool> sleep_briefly(coraft::io::uring_executor& executor) {
  co_return (co_await executor.sleep_for(1ms)).has_value();
}

int main() {
  const coraft::raft::request_vote_args vote{.term = 7, .candidate = 2, .last_log_index = 40};
  auto decoded = coraft::wire::decode<coraft::raft::request_vote_args>(coraft::wire::encode(vote));
  const bool round_trip = decoded && decoded->term == 7 && decoded->candidate == 2 &&
                          decoded->last_log_index == 40;
  coraft::io::uring_executor executor;
  const bool slept = coraft::co::block_on(executor, sleep_briefly(executor));
  std::printf("consumer: __cplusplus %ld, round trip %s, timer %s\n", __cplusplus,
              round_trip ? "ok" : "broken", slept ? "ok" : "broken");
  return round_trip && slept ? 0 : 1;
}
