// tests/fuzz/storage_input.hpp — how a storage fuzzer input names the files of a data directory.
//
// An input is a sequence of files, each
//
//    1 byte   kind: 0 meta, 1 snapshot-<i>, 2 log-<i>, 3 meta.tmp, 4 snapshot.tmp (taken modulo 5)
//    8 bytes  i, little-endian (for kinds 1 and 2 only)
//    2 bytes  n, the content's length, little-endian
//    n bytes  the content (the last file takes what is left if the input ends early)
//
// so that a mutation can change one file's bytes, its length or its name. A name given twice keeps
// the later content; at most max_files files are read. make_storage_corpus.cpp writes real data
// directories in this form.
#pragma once

#include <coraft/raft/storage/format.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace storage_fuzz {

namespace format = coraft::raft::format;

inline constexpr std::size_t max_files = 8;

using directory_files = std::map<std::string, std::vector<std::byte>>;  // name -> content

inline directory_files parse_input(std::span<const std::byte> input) {
  directory_files files;
  std::size_t at = 0;
  auto take = [&](std::size_t n) {
    const auto piece = input.subspan(at, std::min(n, input.size() - at));
    at += piece.size();
    return piece;
  };
  for (std::size_t k = 0; k < max_files && at < input.size(); ++k) {
    const auto kind = static_cast<std::uint8_t>(take(1)[0]) % 5;
    std::uint64_t index = 0;
    if (kind == 1 || kind == 2) {
      const auto digits = take(8);
      for (std::size_t b = 0; b < digits.size(); ++b)
        index |= static_cast<std::uint64_t>(digits[b]) << (8 * b);
    }
    const auto length_bytes = take(2);
    std::size_t length = 0;
    for (std::size_t b = 0; b < length_bytes.size(); ++b)
      length |= static_cast<std::size_t>(length_bytes[b]) << (8 * b);
    const auto content = take(length);
    std::string name;
    switch (kind) {
      case 0: name = format::meta_name; break;
      case 1: name = format::snapshot_name(index); break;
      case 2: name = format::segment_name(index); break;
      case 3: name = format::meta_temporary_name; break;
      default: name = format::snapshot_temporary_name; break;
    }
    files[name].assign(content.begin(), content.end());
  }
  return files;
}

// The input that parse_input reads back as `files` (whose names are the directory's own).
inline std::vector<std::byte> encode_input(const directory_files& files) {
  std::vector<std::byte> out;
  auto put = [&](std::uint64_t value, std::size_t width) {
    for (std::size_t b = 0; b < width; ++b) out.push_back(static_cast<std::byte>(value >> (8 * b)));
  };
  for (const auto& [name, content] : files) {
    if (name == format::meta_name) {
      put(0, 1);
    } else if (auto i = format::parse_numbered_name(name, format::snapshot_prefix)) {
      put(1, 1);
      put(*i, 8);
    } else if (auto j = format::parse_numbered_name(name, format::segment_prefix)) {
      put(2, 1);
      put(*j, 8);
    } else if (name == format::meta_temporary_name) {
      put(3, 1);
    } else {
      put(4, 1);
    }
    put(std::min<std::size_t>(content.size(), 0xFFFF), 2);
    out.insert(out.end(), content.begin(),
               content.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(content.size(), 0xFFFF)));
  }
  return out;
}

}  // namespace storage_fuzz
