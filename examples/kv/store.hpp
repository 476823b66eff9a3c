// store.hpp — the replicated state machine of coraft-kv: strings by key, and a session table for
// exactly-once commands. (The members' client addresses are in the Raft configuration.)
//
// Every member applies the same log entries in the same order, so apply() must be a pure function
// of the state and the entry: no clock, no randomness, no I/O. Its result is the RESP reply the
// client gets. Snapshots hold the whole state, the session table included, so that a command
// retried after a restart is still recognised.
#pragma once

#include <boost/describe/class.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <coraft/wire/codec.hpp>
#include <coraft/wire/varint.hpp>

#include "resp.hpp"

namespace kv {

// One command of the log, and the session it belongs to (client 0: none).
struct command_entry {
  std::uint64_t client = 0;
  std::uint64_t sequence = 0;
  std::vector<std::string> arguments;  // the command name first, in upper case
};
BOOST_DESCRIBE_STRUCT(command_entry, (), (client, sequence, arguments))

// A log entry's payload holds one command or a batch of them, told apart by how it begins:
//
//   one command  encode(command_entry): client, sequence, then the arguments (never none). Every
//                entry had this form before batches existed, and a batch of one still has it.
//   a batch      the three bytes 00 00 00 (what a command_entry with client 0, sequence 0 and no
//                arguments would encode to, which no command is), then encode(vector<command_entry>):
//                the command count, then each command as above. Applied in order, all at the
//                entry's index.
inline constexpr std::array<std::byte, 3> batch_tag{};

// The payload of a log entry holding `commands`, each already encoded alone (encode(command_entry)).
// The encodings are consumed: a single command's becomes the payload as it is, without a copy.
inline std::vector<std::byte> entry_of(std::span<std::vector<std::byte>* const> commands) {
  if (commands.size() == 1) return std::move(*commands.front());
  std::vector<std::byte> out(batch_tag.begin(), batch_tag.end());
  out.resize(out.size() + coraft::wire::varint_size(commands.size()));
  coraft::wire::put_varint(out.data() + batch_tag.size(), commands.size());
  for (const auto* command : commands) out.insert(out.end(), command->begin(), command->end());
  return out;
}

// The size entry_of() gives to `count` commands whose encodings take `command_bytes` together.
constexpr std::size_t entry_size(std::size_t count, std::size_t command_bytes) noexcept {
  return count == 1 ? command_bytes
                    : batch_tag.size() + coraft::wire::varint_size(count) + command_bytes;
}

// The commands a log entry's payload holds (one or a batch), in order; nullopt if it is neither.
inline std::optional<std::vector<command_entry>> commands_of(std::span<const std::byte> payload) {
  if (payload.size() >= batch_tag.size() &&
      std::equal(batch_tag.begin(), batch_tag.end(), payload.begin())) {
    auto batch = coraft::wire::decode<std::vector<command_entry>>(payload.subspan(batch_tag.size()));
    if (!batch || batch->empty()) return std::nullopt;
    return std::move(*batch);
  }
  auto one = coraft::wire::decode<command_entry>(payload);
  if (!one || one->arguments.empty()) return std::nullopt;
  return std::vector<command_entry>{std::move(*one)};
}

struct stored_pair {
  std::string key, value;
};
BOOST_DESCRIBE_STRUCT(stored_pair, (), (key, value))

struct stored_session {
  std::uint64_t client = 0, sequence = 0;
  std::string reply;
};
BOOST_DESCRIBE_STRUCT(stored_session, (), (client, sequence, reply))

struct snapshot_image {
  std::vector<stored_pair> data;
  std::vector<stored_session> sessions;
};
BOOST_DESCRIBE_STRUCT(snapshot_image, (), (data, sessions))

// The commands coraft-kv knows: Redis's arity convention (n: exactly n words with the name;
// -n: at least n), whether the command goes through the log (a write, or a read under --reads
// log), whether it only reads (and may be answered from a read index instead, --reads index or
// lease), and whether a SESSION may wrap it.
struct command_spec {
  std::string_view name;
  int arity;
  bool replicated;
  bool read_only = false;
  bool in_session = true;
};

inline const command_spec* find_command(std::string_view upper_name) {
  static constexpr command_spec commands[] = {
      {"GET", 2, true, true},      {"MGET", -2, true, true},   {"EXISTS", -2, true, true},
      {"STRLEN", 2, true, true},   {"DBSIZE", 1, true, true},  {"SET", -3, true},
      {"DEL", -2, true},           {"INCR", 2, true},          {"INCRBY", 3, true},
      {"DECR", 2, true},           {"DECRBY", 3, true},        {"APPEND", 3, true},
      {"MSET", -3, true},          {"PING", -1, false},        {"ECHO", 2, false},
      {"INFO", -1, false},         {"COMMAND", -1, false},     {"QUIT", -1, false},
      {"SESSION", -4, false, false, false},
      // Membership and leadership, answered by the leader (a follower forwards them):
      {"RAFT.TRANSFER", 2, false, false, false},  // hand the leadership to a member
      {"RAFT.ADD", 4, false, false, false},       // add a member: id, Raft address, client address
      {"RAFT.REMOVE", 2, false, false, false},    // remove a member
      {"RAFT.MEMBERS", 1, false, false, false},   // the configuration, with each member's match index
  };
  for (const auto& c : commands)
    if (c.name == upper_name) return &c;
  return nullptr;
}

inline std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

inline std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Redis's reply for a command it does not know, or with the wrong number of arguments; nullopt if
// the command and its arity are fine.
inline std::optional<std::string> check_command(const std::vector<std::string>& arguments) {
  std::string reply;
  if (arguments.empty()) return std::nullopt;
  const command_spec* spec = find_command(upper(arguments[0]));
  if (!spec) {
    std::string message = "ERR unknown command '" + arguments[0] + "', with args beginning with: ";
    for (std::size_t i = 1; i < arguments.size(); ++i) message += "'" + arguments[i] + "' ";
    resp::error(reply, message);
    return reply;
  }
  const auto count = static_cast<int>(arguments.size());
  if ((spec->arity > 0 && count != spec->arity) || (spec->arity < 0 && count < -spec->arity)) {
    resp::error(reply, "ERR wrong number of arguments for '" + lower(arguments[0]) + "' command");
    return reply;
  }
  return std::nullopt;
}

class store {
 public:
  // Applies one committed command and returns its reply.
  std::string apply(const command_entry& entry) {
    if (entry.client != 0) {
      auto& session = sessions_[entry.client];
      if (entry.sequence == session.sequence && session.sequence != 0) return session.reply;
      if (entry.sequence < session.sequence) {
        std::string stale;
        resp::error(stale, "ERR request older than the session's latest");
        return stale;
      }
      session.sequence = entry.sequence;
      session.reply = execute(entry.arguments);
      return session.reply;
    }
    return execute(entry.arguments);
  }

  std::size_t size() const noexcept { return data_.size(); }

  // The reply to a read-only command (command_spec::read_only) from the current state, which it
  // leaves as it is: what a read served from a read index answers, and what applying one answers.
  std::string read(const std::vector<std::string>& a) const {
    std::string out;
    const std::string name = upper(a[0]);
    if (name == "GET") {
      auto it = data_.find(a[1]);
      it == data_.end() ? resp::null_bulk(out) : resp::bulk(out, it->second);
    } else if (name == "MGET") {
      resp::array_header(out, a.size() - 1);
      for (std::size_t i = 1; i < a.size(); ++i) {
        auto it = data_.find(a[i]);
        it == data_.end() ? resp::null_bulk(out) : resp::bulk(out, it->second);
      }
    } else if (name == "EXISTS") {
      long long count = 0;
      for (std::size_t i = 1; i < a.size(); ++i) count += data_.contains(a[i]) ? 1 : 0;
      resp::integer(out, count);
    } else if (name == "STRLEN") {
      auto it = data_.find(a[1]);
      resp::integer(out, it == data_.end() ? 0 : static_cast<long long>(it->second.size()));
    } else if (name == "DBSIZE") {
      resp::integer(out, static_cast<long long>(data_.size()));
    } else {
      throw std::logic_error("coraft-kv: " + name + " is not a read");
    }
    return out;
  }

  std::vector<std::byte> snapshot() const {
    snapshot_image image;
    for (const auto& [key, value] : data_) image.data.push_back({key, value});
    for (const auto& [client, s] : sessions_) image.sessions.push_back({client, s.sequence, s.reply});
    return coraft::wire::encode(image);
  }

  // Replaces the state with a snapshot's; false if the bytes are not a snapshot.
  bool restore(std::span<const std::byte> bytes) {
    auto image = coraft::wire::decode<snapshot_image>(bytes);
    if (!image) return false;
    data_.clear();
    sessions_.clear();
    for (auto& p : image->data) data_.emplace(std::move(p.key), std::move(p.value));
    for (auto& s : image->sessions) sessions_[s.client] = {s.sequence, std::move(s.reply)};
    return true;
  }

 private:
  struct session {
    std::uint64_t sequence = 0;
    std::string reply;
  };

  static std::optional<long long> to_integer(std::string_view text) {
    long long value = 0;
    if (text.empty() || text.size() > 20) return std::nullopt;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || p != text.data() + text.size()) return std::nullopt;
    if (text[0] == '+' || (text.size() > 1 && text[0] == '0')) return std::nullopt;
    return value;
  }

  std::string add(const std::string& key, std::string_view by_text, bool negate) {
    std::string out;
    auto by = to_integer(by_text);
    if (!by || (negate && *by == std::numeric_limits<long long>::min())) {
      resp::error(out, "ERR value is not an integer or out of range");
      return out;
    }
    long long delta = negate ? -*by : *by;
    long long current = 0;
    if (auto it = data_.find(key); it != data_.end()) {
      auto parsed = to_integer(it->second);
      if (!parsed) {
        resp::error(out, "ERR value is not an integer or out of range");
        return out;
      }
      current = *parsed;
    }
    long long result = 0;
    if (__builtin_add_overflow(current, delta, &result)) {
      resp::error(out, "ERR increment or decrement would overflow");
      return out;
    }
    data_[key] = std::to_string(result);
    resp::integer(out, result);
    return out;
  }

  std::string execute(const std::vector<std::string>& a) {
    std::string out;
    const std::string name = a.empty() ? std::string() : upper(a[0]);
    if (const command_spec* spec = find_command(name); spec && spec->read_only) {
      return read(a);
    } else if (name == "SET") {
      bool nx = false, xx = false, get = false;
      for (std::size_t i = 3; i < a.size(); ++i) {
        const std::string option = upper(a[i]);
        if (option == "NX") nx = true;
        else if (option == "XX") xx = true;
        else if (option == "GET") get = true;
        else {
          resp::error(out, "ERR syntax error");
          return out;
        }
      }
      if (nx && xx) {
        resp::error(out, "ERR syntax error");
        return out;
      }
      auto it = data_.find(a[1]);
      const bool exists = it != data_.end();
      std::optional<std::string> old;
      if (exists) old = it->second;
      const bool perform = !(nx && exists) && !(xx && !exists);
      if (perform) data_[a[1]] = a[2];
      if (get) {
        old ? resp::bulk(out, *old) : resp::null_bulk(out);
      } else {
        perform ? resp::simple(out, "OK") : resp::null_bulk(out);
      }
    } else if (name == "DEL") {
      long long count = 0;
      for (std::size_t i = 1; i < a.size(); ++i) count += static_cast<long long>(data_.erase(a[i]));
      resp::integer(out, count);
    } else if (name == "INCR" || name == "DECR") {
      return add(a[1], "1", name == "DECR");
    } else if (name == "INCRBY" || name == "DECRBY") {
      return add(a[1], a[2], name == "DECRBY");
    } else if (name == "APPEND") {
      auto& value = data_[a[1]];
      value += a[2];
      resp::integer(out, static_cast<long long>(value.size()));
    } else if (name == "MSET") {
      if (a.size() % 2 == 0) {
        resp::error(out, "ERR wrong number of arguments for 'mset' command");
        return out;
      }
      for (std::size_t i = 1; i + 1 < a.size(); i += 2) data_[a[i]] = a[i + 1];
      resp::simple(out, "OK");
    } else {
      resp::error(out, "ERR unknown command '" + (a.empty() ? std::string() : a[0]) + "'");
    }
    return out;
  }

  std::map<std::string, std::string> data_;
  std::map<std::uint64_t, session> sessions_;
};

}  // namespace kv
