// coraft-kv's command line: its flags (Boost.Program_options), their defaults and checks, and the
// settings they make.
//
// Every flag takes `--flag value` or `--flag=value`. Anything wrong (an unknown flag, a missing
// value, a bad number or address, flags that exclude each other) throws bad_command_line, whose
// message names the flag; main() prints it and exits with status 2.
#pragma once

#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/any.hpp>
#include <boost/program_options.hpp>

#include <coraft/io/endpoint.hpp>
#include <coraft/raft/message_sizes.hpp>
#include <coraft/raft/server/server.hpp>

namespace kv {

namespace po = boost::program_options;

// Where read-only commands are served from (--reads).
enum class read_mode { index, lease, log };

inline const char* to_string(read_mode mode) {
  switch (mode) {
    case read_mode::index: return "index";
    case read_mode::lease: return "lease";
    case read_mode::log: return "log";
  }
  return "?";
}

struct settings {
  coraft::raft::server_config raft;
  std::string cluster_name = "coraft-kv";  // --cluster-id, kept in the data directory (identity.hpp)
  read_mode reads = read_mode::index;
  coraft::io::endpoint listen;
  std::optional<coraft::io::endpoint> raft_listen;  // --raft-listen
  std::uint64_t snapshot_entries = 10'000;
};

// A command line coraft-kv cannot run with; the message names the flag.
struct bad_command_line : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The flags' value types: Program_options finds their validate() below by argument-dependent
// lookup, and names the flag in the error each throws.
struct whole_number {
  std::uint64_t value = 0;
};
struct ipv4_address {
  coraft::io::endpoint value;
};
struct peer_list {
  std::map<coraft::raft::node_id, coraft::io::endpoint> raft;
  std::map<coraft::raft::node_id, std::string> clients;  // the client addresses given
};
struct cluster_name {
  std::string value;
};

// Refuses a flag's value; Program_options puts the flag's name in place of %canonical_option%.
[[noreturn]] inline void refuse_value(const std::string& value, const std::string& why) {
  throw po::error_with_option_name("the value '" + value + "' of %canonical_option% is " + why);
}

inline std::uint64_t parse_number(std::string_view text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    refuse_value(std::string(text), "not a whole number");
  return n;
}

// HOST:PORT, with an IPv4 address for HOST and a port from 1 to 65535.
inline coraft::io::endpoint parse_address(std::string_view text) {
  auto parsed = coraft::io::endpoint::parse(text);
  in_addr ignored{};
  if (!parsed || parsed->port == 0 || ::inet_pton(AF_INET, parsed->host.c_str(), &ignored) != 1)
    refuse_value(std::string(text), "not an address: IPV4-ADDRESS:PORT, such as 127.0.0.1:6381");
  return *parsed;
}

inline void validate(boost::any& out, const std::vector<std::string>& values, whole_number*, int) {
  out = whole_number{parse_number(po::validators::get_single_string(values))};
}

inline void validate(boost::any& out, const std::vector<std::string>& values, ipv4_address*, int) {
  out = ipv4_address{parse_address(po::validators::get_single_string(values))};
}

// ID=RAFT-HOST:PORT[/CLIENT-HOST:PORT],...
inline void validate(boost::any& out, const std::vector<std::string>& values, peer_list*, int) {
  std::string_view rest = po::validators::get_single_string(values);
  peer_list peers;
  while (!rest.empty()) {
    const auto item = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), item.size() + 1));
    const auto equals = item.find('=');
    if (equals == std::string_view::npos)
      refuse_value(std::string(item), "not ID=RAFT-HOST:PORT[/CLIENT-HOST:PORT]");
    const auto id = parse_number(item.substr(0, equals));
    if (id == 0 || id > UINT32_MAX) refuse_value(std::string(item), "not a member id from 1 to 2^32-1");
    const auto addresses = item.substr(equals + 1);
    const auto slash = addresses.find('/');
    peers.raft[static_cast<coraft::raft::node_id>(id)] = parse_address(addresses.substr(0, slash));
    if (slash != std::string_view::npos)
      peers.clients[static_cast<coraft::raft::node_id>(id)] =
          parse_address(addresses.substr(slash + 1)).to_string();
  }
  if (peers.raft.empty()) refuse_value("", "empty: list the first members");
  out = peers;
}

inline void validate(boost::any& out, const std::vector<std::string>& values, read_mode*, int) {
  const std::string& text = po::validators::get_single_string(values);
  if (text == "index") out = read_mode::index;
  else if (text == "lease") out = read_mode::lease;
  else if (text == "log") out = read_mode::log;
  else refuse_value(text, "not one of index, lease, log");
}

// Letters, digits, '.', '_' and '-', at most 64: it is written into the data directory.
inline void validate(boost::any& out, const std::vector<std::string>& values, cluster_name*, int) {
  const std::string& text = po::validators::get_single_string(values);
  const bool plain = !text.empty() && text.size() <= 64 &&
                     text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789._-") == std::string::npos;
  if (!plain) refuse_value(text, "not a name of 1 to 64 letters, digits, '.', '_' or '-'");
  out = cluster_name{text};
}

// A new cluster's Raft cluster id: its name and its first members' ids, hashed (FNV-1a), so that
// the members of clusters of other names drop each other's requests; never 0 ("no cluster yet").
inline coraft::raft::cluster_id cluster_id_of(const std::string& name,
                                              const std::map<coraft::raft::node_id, coraft::io::endpoint>& members) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) hash = (hash ^ c) * 0x100000001b3ULL;
  for (const auto& [id, address] : members) hash = (hash ^ id) * 0x100000001b3ULL;
  return hash | 1;
}

// Every flag, with its default and what it does: what --help prints.
inline po::options_description flags() {
  po::options_description d("Flags (--flag VALUE or --flag=VALUE)", 100, 50);
  d.add_options()
      ("id", po::value<whole_number>()->value_name("N"),
       "this member's id, from 1 (required)")
      ("peers", po::value<peer_list>()->value_name("LIST"),
       "a new cluster's first members, this one included: "
       "ID=RAFT-HOST:PORT[/CLIENT-HOST:PORT],... (read on an empty --data only)")
      ("join", po::bool_switch(),
       "start empty and wait to be added (RAFT.ADD) to a running cluster; needs --raft-listen")
      ("raft-listen", po::value<ipv4_address>()->value_name("HOST:PORT"),
       "the address the other members reach this one at (with --join; else it must match --peers)")
      ("listen", po::value<ipv4_address>()->value_name("HOST:PORT"),
       "the address clients connect to (required)")
      ("data", po::value<std::string>()->value_name("DIR"),
       "the data directory, created if missing (required)")
      ("cluster-id", po::value<cluster_name>()->value_name("NAME")->default_value({"coraft-kv"}, "coraft-kv"),
       "the cluster's name, kept in --data: a member refuses a data directory of another cluster")
      ("snapshot-entries", po::value<whole_number>()->value_name("N")->default_value({10'000}, "10000"),
       "take a snapshot every N commands applied (at least 1)")
      ("max-entry-bytes", po::value<whole_number>()->value_name("N")->default_value({1u << 20}, "1048576"),
       "the largest log entry, in bytes; give every member the same value")
      ("reads", po::value<read_mode>()->value_name("MODE")->default_value(read_mode::index, "index"),
       "how read-only commands are served: index (a read index), lease (a leader's lease: trusts "
       "clocks), log (through the log, as a write)")
      ("help", "print this help and exit")
      ("version", "print the version and exit");
  return d;
}

inline const char* examples =
    "Examples:\n"
    "  coraft-kv --id 1 --peers 1=127.0.0.1:7001/127.0.0.1:6381,2=127.0.0.1:7002/127.0.0.1:6382,"
    "3=127.0.0.1:7003/127.0.0.1:6383 \\\n"
    "            --listen 127.0.0.1:6381 --data /var/lib/coraft-kv/1\n"
    "  coraft-kv --id=4 --join --raft-listen=127.0.0.1:7004 --listen=127.0.0.1:6384 "
    "--data=/var/lib/coraft-kv/4\n";

// What the command line asks for: run with settings, or print help or the version.
struct command_line {
  enum class action { run, help, version } what = action::run;
  settings config;
};

// Reads the command line; throws bad_command_line naming the flag for anything wrong.
inline command_line parse_command_line(int argc, const char* const* argv) {
  po::variables_map given;
  try {
    const po::options_description known = flags();  // parsed refers to it
    // No guessing: a prefix of a flag (--snap) is an unknown flag, not the one it might mean.
    const auto style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    const po::parsed_options parsed =
        po::command_line_parser(argc, argv).options(known).style(style).run();
    std::map<std::string, int> occurrences;
    for (const po::option& flag : parsed.options)
      if (++occurrences[flag.string_key] == 2)
        throw bad_command_line("--" + flag.string_key + " is given more than once");
    po::store(parsed, given);
    po::notify(given);
  } catch (const po::error& e) {
    throw bad_command_line(e.what());
  }
  command_line line;
  if (given.count("help")) line.what = command_line::action::help;
  else if (given.count("version")) line.what = command_line::action::version;
  if (line.what != command_line::action::run) return line;

  auto require = [&](const char* flag, const char* what) {
    if (!given.count(flag)) throw bad_command_line(std::string("--") + flag + " is required: " + what);
  };
  require("id", "this member's id, from 1");
  require("listen", "the address clients connect to");
  require("data", "the data directory");
  settings& s = line.config;
  const std::uint64_t id = given["id"].as<whole_number>().value;
  if (id == 0 || id > UINT32_MAX)
    throw bad_command_line("--id " + std::to_string(id) + " is not a member id from 1 to 2^32-1");
  s.raft.id = static_cast<coraft::raft::node_id>(id);
  s.listen = given["listen"].as<ipv4_address>().value;
  s.raft.data_directory = given["data"].as<std::string>();
  if (s.raft.data_directory.empty()) throw bad_command_line("--data is empty: give a directory");
  s.cluster_name = given["cluster-id"].as<cluster_name>().value;
  s.snapshot_entries = given["snapshot-entries"].as<whole_number>().value;
  if (s.snapshot_entries == 0) throw bad_command_line("--snapshot-entries must be at least 1");
  s.reads = given["reads"].as<read_mode>();
  s.raft.node.lease_reads = s.reads == read_mode::lease;
  if (given.count("raft-listen")) s.raft_listen = given["raft-listen"].as<ipv4_address>().value;

  // The requests that carry entries grow with --max-entry-bytes; the node checks that the
  // transport's frames still carry them.
  auto& node = s.raft.node;
  node.max_entry_bytes = given["max-entry-bytes"].as<whole_number>().value;
  if (node.max_entry_bytes == 0) throw bad_command_line("--max-entry-bytes must be at least 1");
  node.max_bytes_per_append =
      std::max(node.max_bytes_per_append, coraft::raft::single_entry_append_size(node.max_entry_bytes));

  s.raft.join = given["join"].as<bool>();
  if (s.raft.join) {
    if (given.count("peers")) throw bad_command_line("--join and --peers exclude each other");
    if (!s.raft_listen)
      throw bad_command_line("--join needs --raft-listen, the address the others reach it at");
    s.raft.members[s.raft.id] = *s.raft_listen;
  } else {
    if (!given.count("peers"))
      throw bad_command_line("--peers is required (or --join): the new cluster's first members");
    const auto& peers = given["peers"].as<peer_list>();
    s.raft.members = peers.raft;
    if (!s.raft.members.contains(s.raft.id))
      throw bad_command_line("--peers must list this member's --id " + std::to_string(s.raft.id));
    if (s.raft_listen && *s.raft_listen != s.raft.members[s.raft.id])
      throw bad_command_line("--raft-listen " + s.raft_listen->to_string() +
                             " differs from this member's address in --peers, " +
                             s.raft.members[s.raft.id].to_string());
    // Every first member must start from the same configuration: the client addresses are the
    // ones --peers gives (a leader missing its own publishes it).
    for (auto& [member, address] : peers.clients) s.raft.info[member] = coraft::raft::to_bytes(address);
    s.raft.cluster = cluster_id_of(s.cluster_name, s.raft.members);
  }
  s.raft.transport.log = [](const std::string&) {};  // peers come and go; nothing to report
  return line;
}

}  // namespace kv
