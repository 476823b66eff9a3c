// examples/kv/raft_metrics.hpp — the node's metrics as lines of INFO's `# Raft` section
// (`name:value`; a peer's on one line as `peer_ID:field=value,…`; latencies in microseconds).
#pragma once

#include <coraft/raft/metrics/node_metrics.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace kv {

inline void info_field(std::string& text, const std::string& name, std::uint64_t value) {
  text += name + ":" + std::to_string(value) + "\r\n";
}

// A histogram as its count, its sum and three quantiles.
inline void info_latency(std::string& text, const std::string& name,
                         const coraft::raft::latency_histogram& h) {
  auto us = [](std::chrono::microseconds d) { return static_cast<std::uint64_t>(d.count()); };
  info_field(text, name + "_count", h.count());
  info_field(text, name + "_sum_us", us(h.sum()));
  info_field(text, name + "_p50_us", us(h.quantile(0.5)));
  info_field(text, name + "_p99_us", us(h.quantile(0.99)));
  info_field(text, name + "_max_us", us(h.max()));
}

// The metrics INFO did not show before (the fields it always had are written by the server).
inline std::string raft_metrics_info(const coraft::raft::node_metrics& m) {
  const std::pair<const char*, std::uint64_t> counts[] = {
      {"apply_lag", m.apply_lag},
      {"log_first_index", m.first_index},
      {"log_last_index", m.last_index},
      {"log_entries", m.log_entries},
      {"log_bytes", m.log_bytes},
      {"disk_log_entries", m.disk_log_entries},
      {"disk_log_bytes", m.disk_log_bytes},
      {"snapshot_bytes", m.snapshot_bytes},
      {"leader_changes", m.leader_changes},
      {"append_entries_sent", m.append_entries_sent},
      {"append_entries_received", m.append_entries_received},
      {"append_entries_rejected", m.append_entries_rejected}};
  const std::pair<const char*, const coraft::raft::latency_histogram*> latencies[] = {
      {"sync_latency", &m.sync_latency},
      {"commit_latency", &m.commit_latency},
      {"read_index_latency", &m.read_index_latency}};
  std::string text;
  for (const auto& [name, value] : counts) info_field(text, name, value);
  for (const auto& [name, histogram] : latencies) info_latency(text, name, *histogram);
  for (const auto& [id, sent] : m.traffic) {
    text += "peer_" + std::to_string(id) + ":";
    if (const coraft::raft::peer_metrics* p = m.peer(id)) {
      text += "match_index=" + std::to_string(p->match_index) + ",match_lag=" +
              std::to_string(p->match_lag) + ",in_flight=" + std::to_string(p->requests_in_flight) + ",";
    }
    text += "append_entries_sent=" + std::to_string(sent.append_entries_sent) +
            ",append_entries_rejected=" + std::to_string(sent.append_entries_rejected) +
            ",entries_sent=" + std::to_string(sent.entries_sent) +
            ",entry_bytes_sent=" + std::to_string(sent.entry_bytes_sent) + "\r\n";
  }
  return text;
}

}  // namespace kv
