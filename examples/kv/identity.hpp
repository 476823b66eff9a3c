// Which cluster and which member a data directory belongs to: coraft-kv writes both into a small
// file of the directory when it first starts there, and refuses to start on a directory whose
// file names another cluster (--cluster-id) or another member (--id).
//
// The file is written before the executor runs, with plain system calls: to a temporary name,
// synced, renamed into place, and the directory synced, so that a crash leaves either no file or
// the whole file.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <coraft/io/fd.hpp>
#include <coraft/io/file_system.hpp>
#include <coraft/raft/types.hpp>

namespace kv {

struct identity {
  std::string cluster;  // --cluster-id
  coraft::raft::node_id member = 0;  // --id
};

inline constexpr const char* identity_file_name = "coraft-kv.identity";
inline constexpr const char* identity_heading = "coraft-kv data directory";

// A data directory that belongs to another cluster or member, or whose identity cannot be read.
struct identity_refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

[[noreturn]] inline void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

inline void write_synced(const std::string& path, const std::string& text) {
  const coraft::io::unique_fd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!file) fail("cannot create " + path);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(file.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write " + path);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(file.get()) != 0) fail("cannot sync " + path);
}

inline void sync_directory(const std::string& directory) {
  const coraft::io::unique_fd opened(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!opened) fail("cannot open " + directory);
  if (::fsync(opened.get()) != 0) fail("cannot sync " + directory);
}

}  // namespace detail

inline std::string identity_path(const std::string& directory) {
  return (std::filesystem::path(directory) / identity_file_name).string();
}

// The identity stored in `directory`, or nothing when it has none yet. Throws identity_refused
// when the file is there but not one coraft-kv wrote.
inline std::optional<identity> read_identity(const std::string& directory) {
  const std::string path = identity_path(directory);
  std::ifstream in(path);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    throw identity_refused("cannot read " + path);
  }
  std::string heading, cluster_key, member_key;
  identity stored;
  std::getline(in, heading);
  in >> cluster_key >> stored.cluster >> member_key >> stored.member;
  if (!in || heading != identity_heading || cluster_key != "cluster-id" || member_key != "member-id")
    throw identity_refused(path + " is damaged or not coraft-kv's: restore it, or give an empty --data");
  return stored;
}

// Stores `mine` in `directory` (created, with its parents, if missing), whole or not at all.
inline void write_identity(const std::string& directory, const identity& mine) {
  std::filesystem::create_directories(directory);
  std::ostringstream text;
  text << identity_heading << "\ncluster-id " << mine.cluster << "\nmember-id " << mine.member << "\n";
  const std::string path = identity_path(directory);
  const std::string temporary = path + ".tmp";
  detail::write_synced(temporary, text.str());
  if (auto renamed = coraft::io::file_system::rename(temporary, path); !renamed)
    throw std::system_error(renamed.error(), "cannot rename " + temporary);
  detail::sync_directory(directory);
}

// What differs between the directory's identity and the flags', in the flags' words; "" if
// nothing does.
inline std::string identity_mismatch(const identity& stored, const identity& flags) {
  std::string differences;
  if (stored.cluster != flags.cluster)
    differences += "it belongs to cluster '" + stored.cluster + "', and --cluster-id is '" +
                   flags.cluster + "'";
  if (stored.member != flags.member) {
    if (!differences.empty()) differences += "; ";
    differences += "it belongs to member " + std::to_string(stored.member) + ", and --id is " +
                   std::to_string(flags.member);
  }
  return differences;
}

// Makes `directory` this member's: records `mine` there on the first start (an empty or new
// directory, or one written before identities were kept), and otherwise checks it. Throws
// identity_refused, saying what differs, when the directory is another cluster's or member's.
inline void claim_data_directory(const std::string& directory, const identity& mine) {
  const std::optional<identity> stored = read_identity(directory);
  if (!stored) {
    write_identity(directory, mine);
    return;
  }
  if (const std::string differences = identity_mismatch(*stored, mine); !differences.empty())
    throw identity_refused("the data directory " + directory + " is not this member's: " +
                           differences + ". Give the flags it was made with, or an empty --data");
}

}  // namespace kv
