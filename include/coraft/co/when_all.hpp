// coraft/co/when_all.hpp — run tasks concurrently and wait for all of them.
//
// `co_await when_all(a, b, ...)` (tasks or awaiters) yields a std::tuple of their values (std::monostate for void);
// `co_await when_all(std::vector<task<T>>)` a std::vector. If one task throws, the others are
// cancelled, joined, and the first exception is rethrown. Built on scope, like when_any.
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "coraft/co/context.hpp"
#include "coraft/co/scope.hpp"
#include "coraft/co/task.hpp"
#include "coraft/co/when_any.hpp"

namespace coraft::co {

namespace detail {

// Awaits one task and stores its value in `*slot`, which lives in the joining when_all frame.
template <class T>
task<void> collect_one(task<T> t, std::optional<value_of<T>>* slot) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(t);
    slot->emplace();
  } else {
    slot->emplace(co_await std::move(t));
  }
}

template <class... T>
task<std::tuple<value_of<T>...>> gather(task<T>... tasks) {
  scope all(co_await current_context());
  std::tuple<std::optional<value_of<T>>...> slots;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (all.spawn(collect_one(std::move(tasks), &std::get<I>(slots))), ...);
  }(std::index_sequence_for<T...>{});
  co_await all.join();
  co_return std::apply([](auto&... s) { return std::tuple<value_of<T>...>{std::move(*s)...}; },
                       slots);
}

}  // namespace detail

// Accepts tasks and awaiters alike.
template <class... A>
auto when_all(A... awaitables) {
  return detail::gather(as_task(std::move(awaitables))...);
}

template <class T>
task<std::vector<value_of<T>>> when_all(std::vector<task<T>> tasks) {
  scope all(co_await current_context());
  std::vector<std::optional<value_of<T>>> slots(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    all.spawn(detail::collect_one(std::move(tasks[i]), &slots[i]));
  }
  co_await all.join();
  std::vector<value_of<T>> values;
  values.reserve(slots.size());
  for (auto& s : slots) values.push_back(std::move(*s));
  co_return values;
}

}  // namespace coraft::co
