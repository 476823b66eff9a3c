// coraft/co/result.hpp — a value or an error code, for outcomes a caller is expected to handle.
//
// Cancellation, a closed channel, a refused connect or a full disk are not bugs: they are returned as
// `result<T>` and inspected by the caller. Exceptions are reserved for broken invariants.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace coraft::co {

// Errors raised by the coroutine vocabulary itself. Cancellation uses the portable
// std::errc::operation_canceled so that it compares equal to a kernel's -ECANCELED.
enum class errc {
  closed = 1,  // the channel was closed and has nothing left to deliver, or refuses new items
};

inline const std::error_category& error_category() noexcept {
  struct category final : std::error_category {
    const char* name() const noexcept override { return "coraft.co"; }
    std::string message(int code) const override {
      switch (static_cast<errc>(code)) {
        case errc::closed: return "closed";
      }
      return "unknown coraft.co error";
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// The error every suspending awaitable returns when its stop token is triggered.
inline std::error_code cancelled() noexcept {
  return std::make_error_code(std::errc::operation_canceled);
}

inline bool is_cancelled(const std::error_code& ec) noexcept {
  return ec == std::errc::operation_canceled;
}

// An errno value (as io_uring reports it, positive) turned into an error code.
inline std::error_code errno_code(int err) noexcept { return {err, std::system_category()}; }

}  // namespace coraft::co

template <>
struct std::is_error_code_enum<coraft::co::errc> : std::true_type {};

namespace coraft::co {

// `result<T>` holds either a T or a non-zero std::error_code. Reading the value of an error result
// throws std::system_error: that is a programming error, not an outcome to handle.
template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;

  template <class U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, result>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, std::error_code>)
  result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}

  result(std::error_code error) : state_(std::in_place_index<1>, error) {}
  result(errc e) : result(make_error_code(e)) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(state_);
  }

  T& value() & { check(); return std::get<0>(state_); }
  const T& value() const& { check(); return std::get<0>(state_); }
  T&& value() && { check(); return std::get<0>(std::move(state_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check() const {
    if (!has_value()) throw std::system_error(std::get<1>(state_));
  }
  std::variant<T, std::error_code> state_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;

  result() = default;
  result(std::error_code error) : error_(error) {}
  result(errc e) : result(make_error_code(e)) {}

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }
  void value() const {
    if (error_) throw std::system_error(error_);
  }

 private:
  std::error_code error_;
};

}  // namespace coraft::co
