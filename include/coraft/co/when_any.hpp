// coraft/co/when_any.hpp — run tasks concurrently; the first to finish wins, the rest are cancelled.
//
// `co_await when_any(a, b, ...)` (tasks or awaiters) yields a std::variant whose index() names the
// winner and whose alternative holds its value (std::monostate for task<void>). The losers are cancelled *and joined*
// before when_any returns, so nothing a loser references can be gone while it still runs.
// It is written with a scope: one spawned racer per task, the first racer to finish stops the scope.
#pragma once

#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "coraft/co/context.hpp"
#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"

namespace coraft::co {

// What `co_await a` yields for an awaiter `a`.
template <class A>
using await_result_t = decltype(std::declval<A>().await_resume());

// The value a task<T> produces, with void spelled std::monostate so that it can be stored.
template <class T>
using value_of = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// Any awaitable as a task (a task stays itself), so that when_any and when_all accept an event's
// wait() or a timer beside tasks. The awaiter is moved into the task's frame before it is awaited.
template <class T>
task<T> as_task(task<T> t) {
  return t;
}
template <class A>
  requires(!requires { typename A::promise_type; })
task<await_result_t<A>> as_task(A awaitable) {
  co_return co_await std::move(awaitable);
}

namespace detail {

// Awaits one contender; if it is the first to finish, records its value and stops the race.
// `winner` and `race` live in the when_any frame, which joins this racer before it ends.
template <std::size_t I, class T, class Outcome>
task<void> race_one(task<T> contender, std::optional<Outcome>* winner, scope* race) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(contender);
    if (!*winner) winner->emplace(std::in_place_index<I>);
  } else {
    auto value = co_await std::move(contender);
    if (!*winner) winner->emplace(std::in_place_index<I>, std::move(value));
  }
  race->request_stop();
}

template <class... T>
task<std::variant<value_of<T>...>> race(task<T>... contenders) {
  static_assert(sizeof...(T) > 0, "when_any needs at least one task");
  using outcome = std::variant<value_of<T>...>;
  scope contest(co_await current_context());
  std::optional<outcome> winner;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (contest.spawn(race_one<I>(std::move(contenders), &winner, &contest)), ...);
  }(std::index_sequence_for<T...>{});
  co_await contest.join();
  co_return std::move(*winner);
}

}  // namespace detail

// Accepts tasks and awaiters alike: `co_await when_any(ex.sleep_for(timeout), heard.wait())`.
template <class... A>
auto when_any(A... contenders) {
  return detail::race(as_task(std::move(contenders))...);
}

}  // namespace coraft::co
