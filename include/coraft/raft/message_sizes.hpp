// coraft/raft/message_sizes.hpp — how large the requests a node sends can grow, and the check that
// they always fit the transport.
//
// Every bound here is measured with the wire codec itself (wire::encoded_size) on a message whose
// numbers are all at their largest, so it holds whatever the term, the indexes or the node ids,
// and follows the messages if a field is added to them. A node keeps three promises with them:
//   * an entry of max_entry_bytes, alone in an AppendEntries, fits in max_bytes_per_append, so
//     the first entry of every request fits, and replication never stalls on one entry;
//   * no AppendEntries exceeds max_bytes_per_append (next_append counts encoded bytes);
//   * max_bytes_per_append, and a snapshot chunk with its request's fields, fit in one message of
//     the transport (transport::max_message_bytes()).
#pragma once

#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

#include "coraft/raft/messages.hpp"
#include "coraft/raft/options.hpp"
#include "coraft/wire/size.hpp"
#include "coraft/wire/varint.hpp"

namespace coraft::raft {

// What an entry's encoding adds to a payload of `payload_size` bytes, at the most.
inline std::size_t entry_overhead(std::size_t payload_size) {
  const log_entry widest{std::numeric_limits<term_t>::max(), entry_kind::no_op, {}};
  return wire::encoded_size(widest) - wire::varint_size(0) + wire::varint_size(payload_size);
}

// What an AppendEntries of `entry_count` entries takes beside its entries' encodings, at the most.
inline std::size_t append_entries_overhead(std::size_t entry_count) {
  constexpr auto most = std::numeric_limits<index_t>::max();
  const append_entries_args widest{most, std::numeric_limits<node_id>::max(), most, most, {}, most};
  return wire::encoded_size(widest) - wire::varint_size(0) + wire::varint_size(entry_count);
}

// What an InstallSnapshot takes beside a chunk of `chunk_size` bytes, at the most: its
// configuration counts at its largest (max_configuration_bytes).
inline std::size_t install_snapshot_overhead(std::size_t chunk_size) {
  constexpr auto most = std::numeric_limits<std::uint64_t>::max();
  const install_snapshot_args widest{most, std::numeric_limits<node_id>::max(), most, most, most,
                                     {},   true,  configuration{}, most};
  return wire::encoded_size(widest) - wire::varint_size(0) + wire::varint_size(chunk_size) +
         max_configuration_bytes;
}

// The encoded size of an AppendEntries carrying one entry of `payload_size` bytes, at the most.
inline std::size_t single_entry_append_size(std::size_t payload_size) {
  return append_entries_overhead(1) + entry_overhead(payload_size) + payload_size;
}

// The largest max_entry_bytes for which one entry fits in `max_bytes_per_append` (0 if none does).
inline std::size_t largest_entry_fitting(std::size_t max_bytes_per_append) {
  const std::size_t fixed = append_entries_overhead(1) + entry_overhead(max_bytes_per_append);
  if (fixed >= max_bytes_per_append) return 0;
  std::size_t payload = max_bytes_per_append - fixed;
  // A shorter payload may have a shorter length varint: take back the bytes that frees.
  while (single_entry_append_size(payload + 1) <= max_bytes_per_append) ++payload;
  return payload;
}

// The largest snapshot_chunk_bytes whose requests fit in `max_message_bytes` (0 if none does).
inline std::size_t largest_chunk_fitting(std::size_t max_message_bytes) {
  const std::size_t fixed = install_snapshot_overhead(max_message_bytes);
  if (fixed >= max_message_bytes) return 0;
  std::size_t chunk = max_message_bytes - fixed;
  while (install_snapshot_overhead(chunk + 1) + chunk + 1 <= max_message_bytes) ++chunk;
  return chunk;
}

// Throws std::invalid_argument, naming the option to change, unless a node with options `o` keeps
// every request it sends within `max_message_bytes` (its transport's largest message) and can
// always send its largest entry. Assumes validate(o) passed.
inline void check_message_sizes(const options& o, std::size_t max_message_bytes) {
  auto refuse = [](const std::string& why) {
    throw std::invalid_argument("coraft::raft::node: " + why);
  };
  using std::to_string;
  if (o.max_bytes_per_append > max_message_bytes)
    refuse("max_bytes_per_append (" + to_string(o.max_bytes_per_append) +
           ") exceeds the largest message the transport carries (" + to_string(max_message_bytes) +
           " bytes): lower max_bytes_per_append, or raise the transport's frame limit");
  if (single_entry_append_size(o.max_entry_bytes) > o.max_bytes_per_append)
    refuse("an entry of max_entry_bytes (" + to_string(o.max_entry_bytes) +
           ") does not fit in an AppendEntries of max_bytes_per_append (" +
           to_string(o.max_bytes_per_append) + "): lower max_entry_bytes to at most " +
           to_string(largest_entry_fitting(o.max_bytes_per_append)) +
           ", or raise max_bytes_per_append to at least " +
           to_string(single_entry_append_size(o.max_entry_bytes)));
  if (install_snapshot_overhead(o.snapshot_chunk_bytes) + o.snapshot_chunk_bytes > max_message_bytes)
    refuse("snapshot_chunk_bytes (" + to_string(o.snapshot_chunk_bytes) +
           ") makes InstallSnapshot requests larger than the transport carries (" +
           to_string(max_message_bytes) + " bytes): lower snapshot_chunk_bytes to at most " +
           to_string(largest_chunk_fitting(max_message_bytes)));
}

}  // namespace coraft::raft
