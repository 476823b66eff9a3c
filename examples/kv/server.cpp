// coraft-kv — a replicated key-value store that speaks Redis's protocol.
//
//   coraft-kv --id 1 --peers 1=127.0.0.1:7001/127.0.0.1:6381,2=127.0.0.1:7002/127.0.0.1:6382,...
//             --listen 127.0.0.1:6381 --data /var/lib/coraft-kv/1 [--snapshot-entries 10000]
//             [--max-entry-bytes 1048576] [--reads index|lease|log] [--cluster-id coraft-kv]
//   coraft-kv --id 4 --join --raft-listen 127.0.0.1:7004 --listen 127.0.0.1:6384 --data DIR
//   coraft-kv --help | --version
//
// command_line.hpp reads the flags; identity.hpp keeps the data directory to one cluster and one
// member id.
//
// --peers names a new cluster's first members, each with its Raft address and, after a slash, its
// client address (optional: a leader puts its own into the configuration itself). It is read on an
// empty data directory only: a member that restarts uses the configuration its data holds, and
// says so when the flags differ. A member started with --join instead waits, empty, until a member
// of a running cluster adds it:
//
//   RAFT.ADD <id> <raft-host:port> <client-host:port>  adds a member, first as a learner, and
//                                                      answers +OK once it is a voter
//   RAFT.REMOVE <id>                                   removes a member
//   RAFT.MEMBERS                                       one entry per member: id, Raft address,
//                                                      client address, voter or learner, match index
//   RAFT.TRANSFER <id>                                 hands the leadership to member <id>, +OK once
//                                                      it leads
// Any member takes them (a follower forwards them to the leader); errors say why (TRYAGAIN when a
// retry may succeed, ERR when the request itself is wrong).
//
// Every reply is linearizable. Commands that write go through the Raft log: any member takes
// them, and a follower forwards them to the leader's client port and relays the replies (the
// writes a connection has received go to the leader together, on one connection of its own, and
// their replies come back in order; a command the leader did not answer gets a TRYAGAIN error
// that says whether it may have been applied, and is never sent again). Commands
// that only read (GET, MGET, EXISTS, STRLEN, DBSIZE) are served by the member the client is
// connected to, as --reads says:
//   index  (the default) from a read index (node::read_index): the leader's commit index, confirmed
//          by one heartbeat round that every read waiting meanwhile shares; a follower asks the
//          leader for it. The member answers once it has applied the log through it. No log entry,
//          no fsync.
//   lease  the same, but a leader whose lease holds confirms nothing (raft::options::lease_reads:
//          it rests on clocks; read what the option says before choosing it).
//   log    through the log, as a write: every read costs a commit.
// A client that names itself (SESSION id seq COMMAND ...) gets each sequence number applied at most
// once, however often it retries: the session table is part of the replicated state, and a
// SESSION-wrapped read goes through the log.
//
// The writes a connection has received together (a pipeline) share a log entry, a batch, applied
// at one index in the order sent (kv::entry_of in store.hpp gives the format); an entry takes at
// most --max-entry-bytes (every member should be given the same value), so a long pipeline takes
// several. A command that does not fit in an entry alone is answered with an error and not
// applied, and the connection goes on serving the commands after it. INFO counts the entries this
// member proposed (entries_proposed) and the commands they held (commands_logged).
//
// Coroutines (one executor, one thread):
//   serve_clients      accepts client connections; one serve_client per connection;
//   serve_client       one per connection: serve_requests reads pipelined commands and starts
//                      them in order (consecutive writes as one log_commands, each read as an
//                      answer_into, overlapping as their kinds allow; collect_replies starts a
//                      batch of writes and awaits the replies in order), then sends the replies
//                      with one write;
//   log_commands       appends a pipeline's writes as few entries as the limit allows and awaits
//                      their application; on a follower, forwards them to the leader together
//                      (a large pipeline is written by send_upstream while receive_replies reads
//                      the replies, a small one before);
//   read               awaits a read index, then this member's application of the log through it;
//   apply_committed    applies committed entries to the store and hands each reply to the client
//                      connection waiting for that log index; snapshots every so often;
//   publish_address    when this member starts leading, puts its client address into the Raft
//                      configuration if it is not there yet, so that followers know where to
//                      forward.
#include <coraft/co/deadline.hpp>
#include <coraft/co/scope.hpp>
#include <coraft/io/listen.hpp>
#include <coraft/io/stream_ops.hpp>
#include <coraft/io/uring_executor.hpp>
#include <coraft/raft/message_sizes.hpp>
#include <coraft/raft/server/server.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "command_line.hpp"
#include "identity.hpp"
#include "raft_metrics.hpp"
#include "resp.hpp"
#include "store.hpp"

namespace {

using namespace std::chrono_literals;
using executor = coraft::io::uring_executor;
using raft_server = coraft::raft::server<executor>;
using coraft::co::task;
using coraft::raft::index_t;
using coraft::raft::term_t;

constexpr auto commit_wait = 5s;  // a command not applied by then is answered with TRYAGAIN
constexpr auto leader_wait = 2s;  // how long a follower waits to learn where the leader is

using kv::read_mode;
using kv::settings;

// A client connection waiting for the entry it appended at some index.
struct waiter {
  term_t term = 0;        // the term it was appended in: another term there means it was replaced
  std::vector<std::string> replies;  // the store's, one per command of the entry, in order
  bool replaced = false;
  coraft::co::event applied;
};

class kv_server {
 public:
  kv_server(executor& ex, raft_server& raft, settings config)
      : ex_(ex), raft_(raft), config_(std::move(config)) {}

  // Applies committed entries in order (all the commands of a batch entry at its index, one after
  // the other); answers waiters; snapshots every snapshot_entries commands (an entry holding
  // none, a no-op or a configuration, counts one).
  // Awaits the apply channel; ends when the node stops.
  task<void> apply_committed() {
    std::uint64_t since_snapshot = 0;
    while (auto entry = co_await raft_.node().applied().recv()) {
      if (entry->is_snapshot) {
        if (!store_.restore(entry->payload)) {
          std::fprintf(stderr, "coraft-kv: a snapshot that does not decode; stopping\n");
          std::exit(1);
        }
        applied_through(entry->index);
        continue;
      }
      std::vector<std::string> replies;
      if (entry->kind == coraft::raft::entry_kind::command) {
        auto commands = kv::commands_of(entry->payload);  // one command, or a batch
        if (!commands) {
          std::fprintf(stderr, "coraft-kv: entry %llu does not decode; stopping\n",
                       static_cast<unsigned long long>(entry->index));
          std::exit(1);
        }
        for (const auto& command : *commands) replies.push_back(store_.apply(command));
      }
      if (auto it = waiters_.find(entry->index); it != waiters_.end()) {
        it->second->replaced = it->second->term != entry->term;
        it->second->replies = std::move(replies);
        it->second->applied.set();
        waiters_.erase(it);
      }
      applied_through(entry->index);
      // Counted in commands, so that batches do not let the log grow longer between snapshots.
      since_snapshot += std::max<std::size_t>(replies.size(), 1);
      if (since_snapshot >= config_.snapshot_entries) {
        raft_.node().snapshot(entry->index, store_.snapshot());
        since_snapshot = 0;
      }
    }
  }

  // Puts this member's client address into the configuration whenever it leads and the
  // configuration lacks it (a change of addresses alone: no joint step); on the first news from
  // the node, says whether the stored configuration overrode --peers. Awaits each change of the
  // node's term, role or leader, and the change it makes; ends when the node stops, or when
  // cancelled.
  task<void> publish_address() {
    auto status = raft_.node().status();
    bool told = false;
    for (;;) {
      if (!told && status.bootstrap_ignored) {  // known once the node has loaded its data
        told = true;
        std::fprintf(stderr, "coraft-kv: the data directory holds its own configuration; --peers "
                               "is ignored (change members with RAFT.ADD and RAFT.REMOVE)\n");
      }
      if (status.role == coraft::raft::role::leader) {
        std::vector<coraft::raft::member> members = status.config.members;
        const std::string mine = config_.listen.to_string();
        bool missing = false;
        for (auto& m : members) {
          if (m.id != status.id || coraft::raft::to_string(m.info) == mine) continue;
          m.info = coraft::raft::to_bytes(mine);
          missing = true;
        }
        if (missing && status.config_committed && !coraft::raft::is_joint(status.config)) {
          auto published = co_await raft_.node().change_membership(std::move(members));
          status = raft_.node().status();
          if (published) continue;
        }
        if (missing) {  // a change is under way, or failed: look again once it has had time
          if (!co_await ex_.sleep_for(50ms)) co_return;
          status = raft_.node().status();
          continue;
        }
      }
      auto changed = co_await raft_.node().role_change(status);
      if (!changed) co_return;
      status = *changed;
    }
  }

  // Looks once a second whether the cluster addresses an earlier life of this member (its data
  // directory was lost, and it was started again with its old flags), and says once what to do.
  // Ends when cancelled.
  task<void> warn_if_lost() {
    for (;;) {
      if (!co_await ex_.sleep_for(1s)) co_return;
      const auto status = raft_.node().status();
      if (status.requests_for_lost_incarnation == 0) continue;
      std::fprintf(stderr,
                   "coraft-kv: the cluster knows member %u by a data directory this one is not (it "
                   "was lost or replaced); this member takes no part: remove it (RAFT.REMOVE %u on "
                   "another member), then start it again with --join on an empty --data\n",
                   static_cast<unsigned>(status.id), static_cast<unsigned>(status.id));
      co_return;
    }
  }

  // Accepts clients until cancelled; each is served in its own coroutine.
  task<void> serve_clients(executor::listener& listener) {
    coraft::co::scope clients(co_await coraft::co::current_context());
    while (true) {
      auto accepted = co_await ex_.accept(listener);
      if (!accepted) {
        if (coraft::co::is_cancelled(accepted.error())) break;
        if (!co_await ex_.sleep_for(10ms)) break;
        continue;
      }
      clients.spawn(serve_client(std::move(*accepted)));
    }
    co_await clients.join();
  }

 private:
  // A command's reply, once ready, in a connection's queue of replies.
  struct pending_reply {
    std::string text;
    coraft::co::event ready;
  };

  // How a command of a pipeline may overlap the commands beside it (serve_client).
  enum class overlap {
    logged,  // through the log (a write, or any SESSION): gathered, and started together as one
             // batch (log_commands); the log orders them
    read,    // from a read index: started together with the reads next to it
    alone,   // answered here, or by the leader (RAFT.*): after everything before it
  };

  overlap overlap_of(const std::vector<std::string>& arguments) const {
    if (kv::check_command(arguments)) return overlap::alone;  // an error, answered at once
    const std::string name = kv::upper(arguments[0]);
    if (name == "SESSION") return overlap::logged;
    const kv::command_spec* spec = kv::find_command(name);
    if (!spec->replicated) return overlap::alone;
    if (spec->read_only && config_.reads != read_mode::log) return overlap::read;
    return overlap::logged;
  }

  // A command of a pipeline that goes through the log (overlap::logged), gathered by
  // serve_requests until the pipeline's run of them starts as one batch (log_commands).
  struct logged_command {
    kv::command_entry entry;
    std::shared_ptr<pending_reply> reply;
    std::vector<std::byte> encoded = {};  // encode(entry), once log_commands has made it
  };

  // The state of one client connection: its link to the leader (for forwarded commands), and its
  // queue of replies not sent yet.
  struct connection {
    std::optional<executor::stream> upstream;
    coraft::raft::node_id upstream_member = coraft::raft::nobody;
    std::string upstream_buffer;
    std::deque<std::shared_ptr<pending_reply>> replies;  // shared with the command filling each
    // A forwarded command's outcome is unknown (the link to the leader failed before its reply):
    // the leader may still apply it later, so the commands sent after it are not run (they could
    // take effect before it); each gets an error, and the connection closes.
    bool outcome_unknown = false;
  };

  // One client connection, until the client leaves, sends QUIT or a malformed request, or the
  // server stops: serve_requests() in a scope of the commands it starts, which are all ended
  // before the connection (that they reference) is.
  task<void> serve_client(executor::stream client) {
    connection link;
    coraft::co::scope commands(co_await coraft::co::current_context());
    co_await serve_requests(client, link, commands);
    commands.request_stop();
    co_await commands.join();
  }

  // Reads whatever commands have arrived (a pipeline) and starts them in order, then sends their
  // replies in order with one write. Consecutive commands that go through the log are gathered and
  // start as one batch (log_commands), so a pipeline of writes shares few log entries and is
  // appended (or forwarded together) before the first reply is awaited; consecutive reads start
  // together and share their read index's round. Between a write and a read, and around a command
  // answered alone, a command waits for the ones before it: a pipeline's commands take effect in
  // the order sent, as they would one at a time. So at most one batch of a connection runs at a
  // time, and it alone uses the connection's link to the leader. Ends when the client leaves,
  // sends QUIT or a malformed request, after a forwarded command's outcome became unknown
  // (connection::outcome_unknown), or when cancelled.
  task<void> serve_requests(executor::stream& client, connection& link, coraft::co::scope& commands) {
    std::string in, out;
    std::array<char, 16384> chunk;
    bool closing = false;
    while (!closing) {
      const std::span<std::byte> into = std::as_writable_bytes(std::span(chunk));
      auto got = co_await ex_.recv(client, into);
      if (!got || *got == 0) co_return;
      in.append(chunk.data(), *got);
      out.clear();
      std::size_t used = 0;
      std::optional<overlap> running;  // the kind of the commands started and not yet answered
      std::vector<logged_command> gathered;  // logged commands not started yet
      while (!closing) {
        auto request = kv::resp::parse_request(std::string_view(in).substr(used));
        if (request.result == kv::resp::parsed::outcome::incomplete) break;
        if (request.result == kv::resp::parsed::outcome::error) {
          if (!co_await collect_replies(link, gathered, commands, out)) co_return;
          kv::resp::error(out, "ERR Protocol error: " + request.error);
          closing = true;
          break;
        }
        used += request.consumed;
        if (request.arguments.empty()) continue;
        if (link.outcome_unknown) {  // not run: see connection::outcome_unknown
          link.replies.push_back(std::make_shared<pending_reply>());
          set_reply(*link.replies.back(),
                    error_reply("TRYAGAIN not run: the outcome of a command sent before it is "
                                "unknown; the connection closes"));
          continue;
        }
        const overlap kind = overlap_of(request.arguments);
        if (kind == overlap::alone || (running && *running != kind)) {
          if (!co_await collect_replies(link, gathered, commands, out)) co_return;
          running.reset();
        }
        if (kind == overlap::alone) {
          closing = kv::upper(request.arguments[0]) == "QUIT";
          out += co_await answer(std::move(request.arguments), link);
          continue;
        }
        running = kind;
        link.replies.push_back(std::make_shared<pending_reply>());
        if (kind == overlap::logged) {
          gather(std::move(request.arguments), link.replies.back(), gathered);
        } else {
          commands.spawn(answer_into(std::move(request.arguments), link, link.replies.back()));
        }
      }
      in.erase(0, used);
      if (!co_await collect_replies(link, gathered, commands, out)) co_return;
      closing = closing || link.outcome_unknown;
      const std::span<const std::byte> bytes = std::as_bytes(std::span(out));
      if (!co_await coraft::io::write_all(ex_, client, bytes)) co_return;
    }
  }

  // Starts the logged commands gathered (as one batch, log_commands, in `commands`), then awaits
  // the connection's pending replies in order and appends them to `out`. Ends true once none is
  // left; false when cancelled.
  task<bool> collect_replies(connection& link, std::vector<logged_command>& gathered,
                             coraft::co::scope& commands, std::string& out) {
    if (!gathered.empty()) commands.spawn(log_commands(std::exchange(gathered, {}), link));
    while (!link.replies.empty()) {
      pending_reply& first = *link.replies.front();
      if (!first.ready.is_set() && !co_await first.ready.wait()) co_return false;
      out += first.text;
      link.replies.pop_front();
    }
    co_return true;
  }

  static void set_reply(pending_reply& reply, std::string text) {
    reply.text = std::move(text);
    reply.ready.set();
  }

  static std::string error_reply(std::string_view message) {
    std::string reply;
    kv::resp::error(reply, message);
    return reply;
  }

  // A command that goes through the log, added to `gathered`; or, if it is answered without the
  // log (a malformed SESSION, or one wrapping a command answered here), its reply, set at once.
  void gather(std::vector<std::string> arguments, std::shared_ptr<pending_reply> reply,
              std::vector<logged_command>& gathered) {
    auto entry = to_entry(std::move(arguments));
    if (auto* answered = std::get_if<std::string>(&entry)) {
      set_reply(*reply, std::move(*answered));
      return;
    }
    gathered.push_back({std::move(std::get<kv::command_entry>(entry)), std::move(reply)});
  }

  // The log's form of a command that goes through it (overlap::logged), or the reply it gets
  // without the log: an error, or the answer to a SESSION-wrapped command served here.
  std::variant<std::string, kv::command_entry> to_entry(std::vector<std::string> arguments) const {
    kv::command_entry entry;
    if (kv::upper(arguments[0]) == "SESSION") {
      std::uint64_t client = 0, sequence = 0;
      std::vector<std::string> inner(arguments.begin() + 3, arguments.end());
      if (!whole_number(arguments[1], client) || !whole_number(arguments[2], sequence) ||
          client == 0 || sequence == 0)
        return error_reply("ERR SESSION needs a client id and a sequence number above 0");
      if (auto wrong = kv::check_command(inner)) return *wrong;
      const std::string inner_name = kv::upper(inner[0]);
      const kv::command_spec* wrapped = kv::find_command(inner_name);
      if (!wrapped->in_session)
        return error_reply("ERR SESSION cannot wrap " + inner_name + ": it wraps data commands");
      if (!wrapped->replicated) return answer_locally(inner);
      entry = {client, sequence, std::move(inner)};
    } else {
      entry = {0, 0, std::move(arguments)};
    }
    entry.arguments[0] = kv::upper(entry.arguments[0]);
    return entry;
  }

  // One read of a pipeline: its reply, into `reply`. Ends with the reply set ready (or when
  // cancelled, with the connection).
  task<void> answer_into(std::vector<std::string> arguments, connection& link,
                         std::shared_ptr<pending_reply> reply) {
    set_reply(*reply, co_await answer(std::move(arguments), link));
  }

  // The reply to a command that does not go through the log (overlap::alone or read): answered
  // here, from a read index, or by the leader (RAFT.* on a follower).
  task<std::string> answer(std::vector<std::string> arguments, connection& link) {
    if (auto wrong = kv::check_command(arguments)) co_return *wrong;
    const std::string name = kv::upper(arguments[0]);
    if (name.starts_with("RAFT.")) {
      if (raft_.node().status().role != coraft::raft::role::leader) {
        std::vector<std::vector<std::string>> one{std::move(arguments)};
        auto replies = co_await forward(std::move(one), link, forward_patience::unbounded);
        co_return std::move(replies.front());
      }
      if (name == "RAFT.TRANSFER") co_return co_await transfer(arguments[1]);
      if (name == "RAFT.ADD") co_return co_await add_member(arguments[1], arguments[2], arguments[3]);
      if (name == "RAFT.REMOVE") co_return co_await remove_member(arguments[1]);
      co_return members();
    }
    const kv::command_spec* spec = kv::find_command(name);
    if (!spec->replicated) co_return answer_locally(arguments);
    if (!spec->read_only || config_.reads == read_mode::log)
      throw std::logic_error("coraft-kv: " + name + " goes through the log (log_commands)");
    co_return co_await read(arguments);
  }

  // A pipeline's run of commands that go through the log, in the order sent. A command larger than
  // --max-entry-bytes alone is refused; on the leader the others are appended as few entries as
  // the limit allows (a batch entry, kv::entry_of), and each gets the store's reply once its entry
  // is applied; on a follower they are forwarded to the leader together. Awaits the entries'
  // application or the leader's replies; ends with every reply set, or when cancelled (with the
  // connection, which then sends nothing more).
  task<void> log_commands(std::vector<logged_command> gathered, connection& link) {
    std::vector<logged_command> fitting = refuse_oversized(std::move(gathered));
    std::deque<appended_entry> appended;
    const std::size_t taken = append_entries(fitting, appended);
    co_await await_applied(appended);
    if (taken == fitting.size()) co_return;
    const std::span<logged_command> rest = std::span(fitting).subspan(taken);
    std::vector<std::vector<std::string>> requests;
    for (const auto& command : rest) requests.push_back(arguments_of(command.entry));
    auto replies = co_await forward(std::move(requests), link, forward_patience::bounded);
    for (std::size_t i = 0; i < rest.size(); ++i) set_reply(*rest[i].reply, std::move(replies[i]));
  }

  // Encodes each command; answers those too large for an entry of their own with an error (not
  // applied; a follower does not forward them either) and returns the others, in order.
  std::vector<logged_command> refuse_oversized(std::vector<logged_command> commands) const {
    std::vector<logged_command> fitting;
    const std::size_t limit = config_.raft.node.max_entry_bytes;
    for (auto& command : commands) {
      command.encoded = coraft::wire::encode(command.entry);
      if (command.encoded.size() <= limit) {
        fitting.push_back(std::move(command));
        continue;
      }
      set_reply(*command.reply,
                error_reply("ERR command too large: its log entry would take " +
                            std::to_string(command.encoded.size()) + " bytes, over the limit of " +
                            std::to_string(limit) + " (--max-entry-bytes); it was not applied"));
    }
    return fitting;
  }

  // An entry this member appended for some of a connection's commands: the waiter that
  // apply_committed() answers, in waiters_ from construction to destruction, and the replies of
  // the entry's commands, in order.
  struct appended_entry {
    appended_entry(kv_server& server, index_t index, term_t term,
                   std::vector<std::shared_ptr<pending_reply>> replies)
        : server(server), index(index), replies(std::move(replies)) {
      applied.term = term;
      server.waiters_[index] = &applied;
    }
    appended_entry(const appended_entry&) = delete;
    appended_entry& operator=(const appended_entry&) = delete;
    ~appended_entry() {
      auto it = server.waiters_.find(index);
      if (it != server.waiters_.end() && it->second == &applied) server.waiters_.erase(it);
    }

    kv_server& server;
    index_t index;
    waiter applied;
    std::vector<std::shared_ptr<pending_reply>> replies;
  };

  // How many of `commands`, from the first, one entry takes: as many as fit in --max-entry-bytes
  // together (at least one: each fits alone).
  std::size_t fitting_in_one_entry(std::span<const logged_command> commands) const {
    const std::size_t limit = config_.raft.node.max_entry_bytes;
    std::size_t count = 1, bytes = commands.front().encoded.size();
    while (count < commands.size() &&
           kv::entry_size(count + 1, bytes + commands[count].encoded.size()) <= limit) {
      bytes += commands[count].encoded.size();
      ++count;
    }
    return count;
  }

  // Appends the commands, in order, while this member leads, as entries of at most
  // --max-entry-bytes each (fitting_in_one_entry), and registers a waiter for each entry in
  // `appended`. A leader handing over its leadership appends nothing and answers TRYAGAIN. Returns
  // how many commands it took: all of them on the leader, none on a follower (they are forwarded).
  std::size_t append_entries(std::span<logged_command> commands, std::deque<appended_entry>& appended) {
    std::size_t taken = 0;
    while (taken < commands.size()) {
      const auto group = commands.subspan(taken, fitting_in_one_entry(commands.subspan(taken)));
      std::vector<std::vector<std::byte>*> parts;
      for (auto& command : group) parts.push_back(&command.encoded);
      auto started = raft_.node().start(kv::entry_of(parts));
      if (!started.is_leader) break;
      taken += group.size();
      if (started.error) {
        const std::string why =
            started.error == coraft::raft::errc::transferring_leadership
                ? "TRYAGAIN the leader is handing over its leadership; the command was not applied"
                : "TRYAGAIN the command was not appended (" + started.error.message() +
                      "); it was not applied";
        for (const auto& command : group) set_reply(*command.reply, error_reply(why));
        continue;
      }
      ++entries_proposed_;
      commands_logged_ += group.size();
      std::vector<std::shared_ptr<pending_reply>> replies;
      for (const auto& command : group) replies.push_back(command.reply);
      appended.emplace_back(*this, started.index, started.term, std::move(replies));
    }
    return taken;
  }

  // A read-only command served without the log (--reads index or lease): awaits this node's read
  // index R (node::read_index; while no leader is known, for up to leader_wait), then this
  // member's application of the log through R (up to commit_wait), and answers from its state,
  // which then reflects every write completed before the read began. Ends with the reply, or a
  // TRYAGAIN error saying why the read was not served.
  task<std::string> read(const std::vector<std::string>& arguments) {
    std::string reply;
    const auto give_up = ex_.now() + leader_wait;
    auto index = co_await raft_.node().read_index();
    while (!index && index.error() == coraft::raft::errc::not_leader &&
           raft_.node().status().leader == coraft::raft::nobody && ex_.now() < give_up) {
      if (!co_await ex_.sleep_for(10ms)) break;  // an election: wait for its outcome
      index = co_await raft_.node().read_index();
    }
    if (!index) {
      ++reads_refused_;
      kv::resp::error(reply, "TRYAGAIN the read was not served: no read index (" +
                                 index.error().message() + ")");
      co_return reply;
    }
    if (!co_await applied_up_to(*index)) {
      ++reads_refused_;
      kv::resp::error(reply, "TRYAGAIN the read was not served: this member did not apply the log "
                             "up to the read index in time");
      co_return reply;
    }
    ++reads_served_;
    co_return store_.read(arguments);
  }

  // Awaits apply_committed() reaching `index`, for up to commit_wait; ends true once it has, false
  // when the time ran out or the wait was cancelled.
  task<bool> applied_up_to(index_t index) {
    if (applied_ >= index) co_return true;
    coraft::co::event reached;
    auto waiting = read_waiters_.emplace(index, &reached);
    (void)co_await coraft::co::with_timeout(ex_, commit_wait, reached.wait());
    if (reached.is_set()) co_return true;
    read_waiters_.erase(waiting);
    co_return false;
  }

  // The store reflects the log through `index`: wakes the reads waiting for it.
  void applied_through(index_t index) {
    applied_ = index;
    auto end = read_waiters_.upper_bound(index);
    for (auto it = read_waiters_.begin(); it != end; ++it) it->second->set();
    read_waiters_.erase(read_waiters_.begin(), end);
  }

  // RAFT.TRANSFER on the leader: hands the leadership to member `target` and answers +OK once it
  // leads, or an error saying why not. Ends with the reply.
  task<std::string> transfer(const std::string& target) {
    std::string reply;
    coraft::raft::node_id id = 0;
    if (!whole_number(target, id) || id == 0) {
      kv::resp::error(reply, "ERR RAFT.TRANSFER needs a member id, a number above 0");
      co_return reply;
    }
    auto transferred = co_await raft_.node().transfer_leadership(id);
    if (transferred) {
      kv::resp::simple(reply, "OK");
    } else if (transferred.error() == coraft::raft::errc::transfer_timed_out ||
               transferred.error() == coraft::raft::errc::transfer_in_progress ||
               transferred.error() == coraft::raft::errc::not_leader) {
      kv::resp::error(reply, "TRYAGAIN leadership not transferred to member " + target + ": " +
                                 transferred.error().message());
    } else {
      kv::resp::error(reply, "ERR leadership not transferred to member " + target + ": " +
                                 transferred.error().message());
    }
    co_return reply;
  }

  // A membership change's failure, as a Redis error: TRYAGAIN when the same request may succeed
  // later (another change under way, a leader change, a learner still catching up), ERR when the
  // request itself is wrong.
  static std::string membership_error(const std::error_code& why, const std::string& what) {
    using coraft::raft::errc;
    std::string reply;
    const bool retry = why == errc::change_in_progress || why == errc::not_leader ||
                       why == errc::leadership_lost || why == errc::learner_behind ||
                       why == errc::transferring_leadership || why == errc::shut_down ||
                       why == errc::entry_overwritten || why == std::errc::operation_canceled;
    kv::resp::error(reply, std::string(retry ? "TRYAGAIN " : "ERR ") + what + ": " + why.message());
    return reply;
  }

  // RAFT.ADD on the leader: the new member joins as a learner and becomes a voter once caught up;
  // +OK then. Ends with the reply.
  task<std::string> add_member(const std::string& id_text, const std::string& raft_address,
                               const std::string& client_address) {
    std::string reply;
    coraft::raft::node_id id = 0;
    if (!whole_number(id_text, id) || id == 0) {
      kv::resp::error(reply, "ERR RAFT.ADD needs a member id, a number above 0");
      co_return reply;
    }
    if (!coraft::io::endpoint::parse(raft_address) || !coraft::io::endpoint::parse(client_address)) {
      kv::resp::error(reply, "ERR RAFT.ADD needs addresses as host:port");
      co_return reply;
    }
    if (id == raft_.node().id()) {
      kv::resp::error(reply, "ERR member " + id_text + " is this member, the leader");
      co_return reply;
    }
    coraft::raft::member m{id, coraft::raft::member_role::voter, coraft::raft::to_bytes(raft_address),
                           coraft::raft::to_bytes(client_address)};
    auto added = co_await raft_.node().add_member(std::move(m));
    if (added) {
      kv::resp::simple(reply, "OK");
      co_return reply;
    }
    if (added.error() == coraft::raft::errc::learner_behind) {
      kv::resp::error(reply, "TRYAGAIN member " + id_text +
                                 " is a learner that has not caught up with the leader; send "
                                 "RAFT.ADD again to make it a voter");
      co_return reply;
    }
    if (added.error() == coraft::raft::errc::bad_member)
      co_return membership_error(added.error(), "member " + id_text +
                                                    " is a voter at other addresses; remove it first");
    co_return membership_error(added.error(), "member " + id_text + " not added");
  }

  // RAFT.REMOVE on the leader: +OK once the configuration without the member has committed.
  task<std::string> remove_member(const std::string& id_text) {
    std::string reply;
    coraft::raft::node_id id = 0;
    if (!whole_number(id_text, id) || id == 0) {
      kv::resp::error(reply, "ERR RAFT.REMOVE needs a member id, a number above 0");
      co_return reply;
    }
    auto removed = co_await raft_.node().remove_member(id);
    if (removed) {
      kv::resp::simple(reply, "OK");
      co_return reply;
    }
    if (removed.error() == coraft::raft::errc::unknown_member) {
      kv::resp::error(reply, "ERR no member " + id_text + " in the configuration");
      co_return reply;
    }
    co_return membership_error(removed.error(), "member " + id_text + " not removed");
  }

  // RAFT.MEMBERS on the leader: the latest configuration, one array per member (C_new's, while a
  // change is joint): id, Raft address, client address, role, match index.
  std::string members() const {
    const auto status = raft_.node().status();
    std::string out;
    kv::resp::array_header(out, status.config.members.size());
    for (const auto& m : status.config.members) {
      kv::resp::array_header(out, 5);
      kv::resp::integer(out, m.id);
      kv::resp::bulk(out, coraft::raft::to_string(m.address));
      kv::resp::bulk(out, coraft::raft::to_string(m.info));
      kv::resp::bulk(out, coraft::raft::to_string(m.role));
      kv::resp::integer(out, static_cast<long long>(raft_.node().match_index(m.id)));
    }
    return out;
  }

  // The client address the configuration gives member `id`, or empty.
  std::string client_address(coraft::raft::node_id id) const {
    const auto* m = coraft::raft::find_member(raft_.node().configurations().latest(), id);
    return m ? coraft::raft::to_string(m->info) : std::string();
  }

  // Whether `text` is a decimal number, all of it, that fits in `value` (then stored there).
  template <class Number>
  static bool whole_number(const std::string& text, Number& value) {
    auto [end, parsed] = std::from_chars(text.data(), text.data() + text.size(), value);
    return parsed == std::errc{} && end == text.data() + text.size();
  }

  static std::vector<std::string> arguments_of(const kv::command_entry& entry) {
    if (entry.client == 0) return entry.arguments;
    std::vector<std::string> wrapped{"SESSION", std::to_string(entry.client),
                                     std::to_string(entry.sequence)};
    wrapped.insert(wrapped.end(), entry.arguments.begin(), entry.arguments.end());
    return wrapped;
  }

  // Hands the commands of each appended entry their replies: the store's once apply_committed()
  // has applied the entry, or a TRYAGAIN error once another entry took its index or commit_wait
  // has passed. Awaits the entries in order (they are applied in order); ends when all are
  // answered, or when cancelled.
  task<void> await_applied(std::deque<appended_entry>& appended) {
    const auto give_up = ex_.now() + commit_wait;
    for (auto& entry : appended) {
      waiter& w = entry.applied;
      (void)co_await coraft::co::with_deadline(ex_, give_up, w.applied.wait());
      if (w.applied.is_set() && !w.replaced && w.replies.size() == entry.replies.size()) {
        for (std::size_t i = 0; i < entry.replies.size(); ++i)
          set_reply(*entry.replies[i], std::move(w.replies[i]));
        continue;
      }
      const std::string why =
          w.applied.is_set()
              ? "TRYAGAIN leadership changed before the command committed; it was not applied"
              : "TRYAGAIN the command did not commit in time; it may or may not be applied";
      for (const auto& reply : entry.replies) set_reply(*reply, error_reply(why));
    }
  }

  // How long forward() waits for the leader to send something before giving its link up: data
  // commands are answered within commit_wait of reaching the leader; RAFT.* commands may take as
  // long as a learner takes to catch up.
  enum class forward_patience { bounded, unbounded };
  static constexpr auto forward_silence = commit_wait + leader_wait;
  // A pipeline this small fits in the sockets' buffers: forward() writes it before reading the
  // replies (a larger one is written while they are read, so that neither side waits on the other).
  static constexpr std::size_t sent_before_replies = 16 << 10;

  // Sends the commands to the leader's client port together, on the connection's link to it, and
  // relays the replies in order. Awaits the leader's address (up to leader_wait while an election
  // runs), the connection, and the replies; ends with one reply per command: the leader's, or a
  // TRYAGAIN error for each command the leader did not answer, saying whether it may have been
  // applied. Nothing is sent twice.
  task<std::vector<std::string>> forward(std::vector<std::vector<std::string>> requests,
                                         connection& link, forward_patience patience) {
    std::vector<std::string> replies;
    auto refuse_rest = [&](std::string_view why) {
      while (replies.size() < requests.size()) replies.push_back(error_reply(why));
    };
    if (auto unlinked = co_await link_to_leader(link)) {
      refuse_rest(*unlinked);
      co_return replies;
    }
    std::string request;
    for (const auto& arguments : requests) kv::resp::command(request, arguments);
    if (request.size() <= sent_before_replies) {
      (void)co_await coraft::io::write_all(ex_, *link.upstream, std::as_bytes(std::span(request)));
      co_await receive_replies(link, requests.size(), patience, replies);
    } else {
      // Sent while the replies are read: the leader answers the first commands while the last
      // ones are still on the way, and neither side waits for the other to read.
      coraft::co::scope sending(co_await coraft::co::current_context());
      sending.spawn(send_upstream(*link.upstream, request));
      co_await receive_replies(link, requests.size(), patience, replies);
      if (replies.size() < requests.size()) sending.request_stop();
      co_await sending.join();
    }
    if (replies.size() < requests.size()) {
      link.upstream.reset();
      link.outcome_unknown = true;
      refuse_rest("TRYAGAIN lost the leader's reply; the command may or may not be applied");
    }
    co_return replies;
  }

  struct leader_address {
    coraft::raft::node_id id;
    std::string address;  // its client address
  };

  // Makes the connection's link lead to the leader (kept while it does). During an election, or
  // just after, the leader may not be known, its address neither, or the leader this member knows
  // may be gone: rather than turn the client away at once, looks again every 10 ms for up to
  // leader_wait. Awaits those pauses and the connection; ends with nullopt once linked, or with the
  // message of the TRYAGAIN error each command gets (then nothing was sent), or when cancelled.
  task<std::optional<std::string>> link_to_leader(connection& link) {
    const auto give_up = ex_.now() + leader_wait;
    for (;;) {
      const auto status = raft_.node().status();
      if (status.role == coraft::raft::role::leader)  // became the leader while waiting
        co_return "TRYAGAIN leadership changed; the command was not applied";
      const leader_address leader{status.leader, client_address(status.leader)};
      if (leader.id != coraft::raft::nobody && !leader.address.empty()) {
        const bool linked = co_await connect_upstream(link, leader);
        if (linked) co_return std::nullopt;
      }
      if (ex_.now() >= give_up || !co_await ex_.sleep_for(10ms))
        co_return status.leader == coraft::raft::nobody
            ? "TRYAGAIN no leader known; retry shortly"
            : "TRYAGAIN the leader is unreachable; the command was not applied";
    }
  }

  // Makes the connection's link lead to `leader`, keeping it if it already does. Awaits the
  // connection; ends true once the link is up, false if the leader could not be reached.
  task<bool> connect_upstream(connection& link, const leader_address& leader) {
    if (link.upstream && link.upstream_member == leader.id) co_return true;
    link.upstream.reset();
    link.upstream_buffer.clear();
    link.upstream_member = leader.id;
    auto endpoint = coraft::io::endpoint::parse(leader.address);
    if (!endpoint) co_return false;
    auto connected = co_await ex_.connect(*endpoint);
    if (!connected) co_return false;
    link.upstream.emplace(std::move(*connected));
    co_return true;
  }

  // Writes a pipeline of requests to the leader. Awaits the writes; ends once all is sent, the
  // connection fails (receive_replies sees that too), or when cancelled.
  task<void> send_upstream(executor::stream& upstream, const std::string& request) {
    (void)co_await coraft::io::write_all(ex_, upstream, std::as_bytes(std::span(request)));
  }

  // Reads the leader's replies from the connection's link into `replies` until it holds `count`.
  // Awaits the leader's bytes (bounded patience: each time for up to forward_silence); ends early
  // when the link breaks, carries something that is not a reply, or stays silent that long, or
  // when cancelled.
  task<void> receive_replies(connection& link, std::size_t count, forward_patience patience,
                             std::vector<std::string>& replies) {
    std::string& buffer = link.upstream_buffer;
    std::array<char, 16384> chunk;
    std::size_t used = 0;
    while (replies.size() < count) {
      auto length = kv::resp::reply_length(buffer, used);
      if (!length) break;
      if (*length > 0) {
        replies.push_back(buffer.substr(used, *length));
        used += *length;
        continue;
      }
      const std::span<std::byte> into = std::as_writable_bytes(std::span(chunk));
      std::optional<coraft::co::result<std::size_t>> got;
      if (patience == forward_patience::bounded) {
        auto heard = co_await coraft::co::with_timeout(ex_, forward_silence, ex_.recv(*link.upstream, into));
        if (heard.timed_out()) break;
        got.emplace(std::move(*heard));
      } else {
        got.emplace(co_await ex_.recv(*link.upstream, into));
      }
      if (!*got || **got == 0) break;
      buffer.append(chunk.data(), **got);
    }
    buffer.erase(0, used);
  }

  std::string answer_locally(const std::vector<std::string>& a) const {
    std::string out;
    const std::string name = kv::upper(a[0]);
    if (name == "PING") {
      if (a.size() > 2) kv::resp::error(out, "ERR wrong number of arguments for 'ping' command");
      else if (a.size() == 2) kv::resp::bulk(out, a[1]);
      else kv::resp::simple(out, "PONG");
    } else if (name == "ECHO") {
      kv::resp::bulk(out, a[1]);
    } else if (name == "COMMAND") {
      kv::resp::array_header(out, 0);
    } else if (name == "QUIT") {
      kv::resp::simple(out, "OK");
    } else if (name == "INFO") {
      kv::resp::bulk(out, info());
    } else {
      throw std::logic_error("coraft-kv: no local answer for " + name);
    }
    return out;
  }

  std::string info() const {
    const auto status = raft_.node().status();
    std::string text = "# Server\r\nredis_version:7.0.0\r\ncoraft_kv:1\r\n";
    text += "tcp_port:" + std::to_string(config_.listen.port) + "\r\n\r\n";
    text += "# Raft\r\n";
    text += "id:" + std::to_string(status.id) + "\r\n";
    text += std::string("role:") + coraft::raft::to_string(status.role) + "\r\n";
    text += "term:" + std::to_string(status.term) + "\r\n";
    text += "elections_started:" + std::to_string(status.elections_started) + "\r\n";
    text += "pre_votes_started:" + std::to_string(status.pre_votes_started) + "\r\n";
    text += "transfer_target:" + std::to_string(status.transfer_target) + "\r\n";
    text += "leader_id:" + std::to_string(status.leader) + "\r\n";
    text += "leader_addr:" + client_address(status.leader) + "\r\n";
    text += "members:" + std::to_string(status.config.members.size()) + "\r\n";
    text += std::string("member_role:") +
            (coraft::raft::is_voter(status.config, status.id)
                 ? "voter"
                 : coraft::raft::find_member(status.config, status.id) ? "learner" : "none") +
            "\r\n";
    text += "commit_index:" + std::to_string(status.commit_index) + "\r\n";
    text += "last_applied:" + std::to_string(status.last_applied) + "\r\n";
    text += "snapshot_index:" + std::to_string(status.first_index - 1) + "\r\n";
    text += std::string("reads:") + to_string(config_.reads) + "\r\n";
    text += "reads_served_without_log:" + std::to_string(reads_served_) + "\r\n";
    text += "reads_refused:" + std::to_string(reads_refused_) + "\r\n";
    text += "entries_proposed:" + std::to_string(entries_proposed_) + "\r\n";
    text += "commands_logged:" + std::to_string(commands_logged_) + "\r\n";
    char incarnation[17];
    std::snprintf(incarnation, sizeof incarnation, "%016llx",
                  static_cast<unsigned long long>(status.incarnation));
    text += std::string("incarnation:") + incarnation + "\r\n";
    text += "requests_for_lost_incarnation:" + std::to_string(status.requests_for_lost_incarnation) +
            "\r\n";
    text += "requests_from_lost_incarnation:" +
            std::to_string(status.requests_from_lost_incarnation) + "\r\n";
    text += kv::raft_metrics_info(raft_.node().metrics()) + "\r\n";
    text += "# Keyspace\r\n";
    if (store_.size() > 0) text += "db0:keys=" + std::to_string(store_.size()) + ",expires=0,avg_ttl=0\r\n";
    return text;
  }

  executor& ex_;
  raft_server& raft_;
  const settings config_;
  kv::store store_;
  std::map<index_t, waiter*> waiters_;
  index_t applied_ = 0;  // the log (or a snapshot) is applied to store_ through here
  std::multimap<index_t, coraft::co::event*> read_waiters_;  // reads waiting for applied_
  std::uint64_t reads_served_ = 0;   // read-only commands served from a read index
  std::uint64_t reads_refused_ = 0;  // ... and answered TRYAGAIN
  std::uint64_t entries_proposed_ = 0;  // log entries this member appended for clients' commands
  std::uint64_t commands_logged_ = 0;   // ... and the commands they hold (several in a batch)
};

[[noreturn]] void refuse_command_line(const std::string& problem) {
  std::fprintf(stderr, "coraft-kv: %s\n(coraft-kv --help lists every flag)\n", problem.c_str());
  std::exit(2);
}

// Runs the Raft member; a failure (address taken, damaged data directory) ends the program.
task<void> run_or_exit(raft_server& raft) {
  try {
    co_await raft.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coraft-kv: %s\n", e.what());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  kv::command_line line;
  try {
    line = kv::parse_command_line(argc, argv);
  } catch (const kv::bad_command_line& e) {
    refuse_command_line(e.what());
  }
  if (line.what == kv::command_line::action::help) {
    std::cout << "coraft-kv: a replicated key-value store that speaks Redis's protocol.\n\n"
              << kv::flags() << "\n" << kv::examples;
    return 0;
  }
  if (line.what == kv::command_line::action::version) {
    std::cout << "coraft-kv " << CORAFT_VERSION << "\n";
    return 0;
  }
  settings& config = line.config;
  executor ex;
  std::optional<raft_server> member;
  try {
    member.emplace(ex, config.raft);
  } catch (const std::invalid_argument& e) {
    // The node names its own options; max_bytes_per_append follows --max-entry-bytes here.
    std::string why = e.what();
    if (why.find("max_bytes_per_append") != std::string::npos) why += " (lower --max-entry-bytes)";
    refuse_command_line(why);
  }
  try {
    kv::claim_data_directory(config.raft.data_directory, {config.cluster_name, config.raft.id});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coraft-kv: %s\n", e.what());
    return 1;
  }
  // Right after a crash the address may be held for a moment by the dead process's io_uring.
  auto listener = coraft::co::block_on(ex, coraft::io::listen_when_free(ex, config.listen));
  if (!listener) {
    std::fprintf(stderr, "coraft-kv: cannot listen on %s: %s\n", config.listen.to_string().c_str(),
                 listener.error().message().c_str());
    return 1;
  }
  raft_server& raft = *member;
  kv_server kv(ex, raft, config);
  coraft::co::scope scope(ex);
  scope.spawn(run_or_exit(raft));
  scope.spawn(kv.apply_committed());
  scope.spawn(kv.publish_address());
  scope.spawn(kv.warn_if_lost());
  scope.spawn(kv.serve_clients(*listener));
  ex.run();
}
