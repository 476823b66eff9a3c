// coraft/wire/reader.hpp — a bounded cursor over untrusted input.
//
// Every read checks the bytes remaining first and returns an error instead of reading past the end,
// so decoding arbitrary bytes is total: it yields a value or an error, never undefined behaviour.
// Reads of byte runs return views into the input (no copy); the caller decides whether to copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "coraft/co/result.hpp"
#include "coraft/wire/errors.hpp"
#include "coraft/wire/varint.hpp"

namespace coraft::wire {

// The buffer an input lies in, when decoded byte runs may share it instead of copying it: a
// shared_byte_buffer type T that names a T::owner_type decodes each run as T::share(owner, run) when
// the input's owner is of that type (a receive buffer whose entries become views of it), and as
// T::copy_of(run) otherwise. The owner must outlive the decoding; what share() makes may outlive it.
class input_owner {
 public:
  input_owner() = default;

  template <class Owner>
  static input_owner of(const Owner& owner) noexcept {
    input_owner o;
    o.object_ = &owner;
    o.type_ = &type_tag<Owner>;
    return o;
  }

  // The owner, if there is one and it is an Owner.
  template <class Owner>
  const Owner* as() const noexcept {
    return type_ == &type_tag<Owner> ? static_cast<const Owner*>(object_) : nullptr;
  }

 private:
  template <class Owner>
  static constexpr char type_tag = 0;  // its address names the type

  const void* object_ = nullptr;
  const char* type_ = nullptr;
};

class reader {
 public:
  // Recursive message types (a struct holding a vector of itself) could otherwise make a small
  // hostile input recurse once per byte and exhaust the stack.
  static constexpr std::uint32_t max_nesting_depth = 100;

  explicit reader(std::span<const std::byte> input, input_owner owner = {}) noexcept
      : input_(input), owner_(owner) {}

  const input_owner& owner() const noexcept { return owner_; }

  std::size_t remaining() const noexcept { return input_.size() - position_; }
  std::size_t position() const noexcept { return position_; }
  bool at_end() const noexcept { return position_ == input_.size(); }

  co::result<std::byte> read_byte() noexcept {
    if (at_end()) return make_error_code(errc::truncated);
    return input_[position_++];
  }

  // A view of the next `count` bytes, valid as long as the input is.
  co::result<std::span<const std::byte>> read_bytes(std::size_t count) noexcept {
    if (count > remaining()) return make_error_code(errc::truncated);
    const auto bytes = input_.subspan(position_, count);
    position_ += count;
    return bytes;
  }

  // A LEB128 varint in its one valid encoding (see varint.hpp).
  co::result<std::uint64_t> read_varint() noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < max_varint_size; ++i) {
      if (at_end()) return make_error_code(errc::truncated);
      const auto byte = static_cast<std::uint8_t>(input_[position_++]);
      // The tenth byte holds bit 63 only: anything more is past 64 bits or an eleventh byte.
      if (i == max_varint_size - 1 && byte > 1) return make_error_code(errc::bad_varint);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
      if ((byte & 0x80) == 0) {
        if (byte == 0 && i > 0) return make_error_code(errc::bad_varint);  // a needless zero group
        return value;
      }
    }
    return make_error_code(errc::bad_varint);  // not reached: the tenth byte always ends the loop
  }

  co::result<std::uint32_t> read_u32_le() noexcept {
    auto bytes = read_bytes(4);
    if (!bytes) return bytes.error();
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i)
      value |= static_cast<std::uint32_t>((*bytes)[i]) << (8 * i);
    return value;
  }

  // Brackets the decoding of one nested message; false once max_nesting_depth is reached, in
  // which case leave_nested must not be called.
  [[nodiscard]] bool enter_nested() noexcept {
    if (depth_ == max_nesting_depth) return false;
    ++depth_;
    return true;
  }
  void leave_nested() noexcept { --depth_; }

 private:
  std::span<const std::byte> input_;
  input_owner owner_;
  std::size_t position_ = 0;   // invariant: position_ <= input_.size()
  std::uint32_t depth_ = 0;    // nested messages being decoded right now
};

}  // namespace coraft::wire
