// coraft/raft/storage/errors.hpp — errors that say which file is damaged, and where.
//
// When durable storage finds a checksum mismatch in the middle of its log, the operator needs the
// file and the offset, not just "corrupt". A std::error_code carries only a category and an int, so
// each such error is *recorded*: storage_error(kind, detail) keeps the detail text and returns a
// code whose message() is "corrupt log: <detail>". The code still compares equal to its kind:
//
//     if (r.error() == raft::storage_errc::corrupt_log) ...   // true for every corrupt-log error
//
// Recorded details live as long as the process. They are made only when a storage refuses to open
// (at most a handful per run), never on a hot path.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace coraft::raft {

// What is wrong with the stored state. Each makes the node refuse to start: silently dropping
// acknowledged entries would break the promise durable() made.
enum class storage_errc {
  corrupt_log = 1,   // a log record fails its checksum (or is cut short) before the log's tail
  log_gap,           // indexes missing between segments, or before the first one
  corrupt_meta,      // the term-and-vote file exists but neither of its slots is valid
  corrupt_snapshot,  // the newest snapshot file fails its checksum
};

namespace detail {

inline const char* storage_errc_text(storage_errc kind) noexcept {
  switch (kind) {
    case storage_errc::corrupt_log:
      return "corrupt log";
    case storage_errc::log_gap:
      return "gap in the log";
    case storage_errc::corrupt_meta:
      return "corrupt term-and-vote file";
    case storage_errc::corrupt_snapshot:
      return "corrupt snapshot";
  }
  return "unknown storage error";
}

// The kinds, as error conditions.
class storage_condition_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coraft.storage"; }
  std::string message(int code) const override {
    return storage_errc_text(static_cast<storage_errc>(code));
  }
};

// Recorded errors: the code numbers an entry of the record, which holds its kind and detail.
class storage_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "coraft.storage.recorded"; }

  std::string message(int code) const override {
    auto [kind, detail] = lookup(code);
    return std::string(storage_errc_text(kind)) + ": " + detail;
  }
  std::error_condition default_error_condition(int code) const noexcept override {
    return {static_cast<int>(lookup(code).first), condition_category()};
  }

  std::error_code record(storage_errc kind, std::string detail) {
    std::lock_guard lock(mutex_);
    recorded_.emplace_back(kind, std::move(detail));
    return {static_cast<int>(recorded_.size()), *this};  // 1-based: 0 would mean "no error"
  }

  static const std::error_category& condition_category() noexcept {
    static const storage_condition_category instance;
    return instance;
  }

 private:
  std::pair<storage_errc, std::string> lookup(int code) const {
    std::lock_guard lock(mutex_);
    if (code <= 0 || static_cast<std::size_t>(code) > recorded_.size()) {
      return {storage_errc::corrupt_log, "(unrecorded error " + std::to_string(code) + ")"};
    }
    return recorded_[static_cast<std::size_t>(code) - 1];
  }

  mutable std::mutex mutex_;
  std::deque<std::pair<storage_errc, std::string>> recorded_;  // a deque: entries never move
};

inline storage_error_category& recorded_storage_errors() noexcept {
  static storage_error_category instance;
  return instance;
}

}  // namespace detail

inline const std::error_category& storage_category() noexcept {
  return detail::storage_error_category::condition_category();
}

inline std::error_condition make_error_condition(storage_errc kind) noexcept {
  return {static_cast<int>(kind), storage_category()};
}

// An error of `kind` whose message() ends with `detail` (name the file and the offset in it).
inline std::error_code storage_error(storage_errc kind, std::string detail) {
  return detail::recorded_storage_errors().record(kind, std::move(detail));
}

}  // namespace coraft::raft

template <>
struct std::is_error_condition_enum<coraft::raft::storage_errc> : std::true_type {};
