// coraft/io/listen.hpp — listen on an address that a process killed a moment ago may still hold.
//
// A member restarted at once after a crash (kill -9) can find its port taken for a moment: the
// kernel tears down a dead process's io_uring, and the accept it had in flight, shortly after the
// process is gone. Every server of coraft binds through listen_when_free, which retries "address
// in use" for a few seconds on the executor's timer, so that the thread keeps running its other
// coroutines meanwhile.
#pragma once

#include <chrono>
#include <stdexcept>
#include <system_error>

#include "coraft/co/result.hpp"
#include "coraft/co/task.hpp"
#include "coraft/io/contract.hpp"
#include "coraft/io/endpoint.hpp"

namespace coraft::io {

// Listens on `address`; while that fails with address_in_use, awaits `pause` and tries again, for
// at most `patience`. Ends with the listener, or with the last error (any other error at once,
// cancelled() if the awaiting coroutine is stopped while it waits). A pause of zero would retry
// without letting time pass, so it is refused (std::invalid_argument).
template <class Executor>
  requires streams<Executor> && timers<Executor>
co::task<co::result<typename Executor::listener>> listen_when_free(
    Executor& executor, endpoint address, duration patience = std::chrono::seconds(5),
    duration pause = std::chrono::milliseconds(50)) {
  if (pause <= duration::zero())
    throw std::invalid_argument("coraft::io::listen_when_free: the pause must be positive");
  const time_point give_up = executor.now() + patience;
  for (;;) {
    auto bound = executor.listen(address);
    if (bound || bound.error() != std::errc::address_in_use || executor.now() >= give_up)
      co_return bound;
    if (auto slept = co_await executor.sleep_for(pause); !slept) co_return slept.error();
  }
}

}  // namespace coraft::io
