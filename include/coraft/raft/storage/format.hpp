// coraft/raft/storage/format.hpp — file_storage's on-disk format, with its encoders and decoders.
//
// A data directory holds:
//
//   meta                                   current term, vote and the directory's incarnation, in
//                                          two alternating slots
//   log-<first index, 20 digits>           a log segment: records, appended, never rewritten
//   snapshot-<last index, 20 digits>       the snapshot (§7) covering every entry up to that index
//   meta.tmp, snapshot.tmp                 files being prepared; removed when the storage opens
//
// All integers are unsigned little-endian; every checksum is CRC-32C (wire/crc32c.hpp).
//
// meta: two 40-byte slots, at offsets 0 and 512 (distinct disk sectors, so that one torn write
// cannot damage both). Each write goes to the slot *not* holding the newest durable state, with the
// next sequence number; the valid slot with the higher sequence wins.
//
//    0  4  magic "CRMT"          16  8  current_term
//    4  4  format version (2)    24  8  incarnation (configuration.hpp; 0: none yet)
//    8  8  sequence (>= 1)       32  4  voted_for
//                                36  4  CRC-32C of bytes 0..35
//
// log segment: records back to back, from offset 0, of consecutive indexes starting at the index
// in the file's name. A segment is closed (a new one started) once it reaches the configured size.
//
//    0  4  payload length n      16  8  index
//    4  4  CRC-32C of bytes 0..3 24  1  entry_kind
//          and 8..25+n           25  n  payload
//    8  8  term
//
// snapshot: a 48-byte header, the configuration in force at its index (configuration.hpp, in the
// wire codec's encoding), then the application's data.
//
//    0  4  magic "CRSN"          32  4  CRC-32C of the data
//    4  4  format version (2)    36  4  configuration length c
//    8  8  last included index   40  4  CRC-32C of the configuration
//   16  8  last included term    44  4  CRC-32C of bytes 0..43
//   24  8  data length n         48  c  configuration, then n bytes of data
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "coraft/raft/storage.hpp"
#include "coraft/raft/types.hpp"
#include "coraft/wire/crc32c.hpp"
#include "coraft/wire/decode.hpp"
#include "coraft/wire/encode.hpp"

namespace coraft::raft::format {

inline constexpr std::uint32_t version = 2;

// ---- little-endian fields -----------------------------------------------------------------------

template <class Unsigned>
void store(std::byte* at, Unsigned value) noexcept {
  for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
    at[i] = static_cast<std::byte>(value >> (8 * i));
}

template <class Unsigned>
Unsigned load(const std::byte* at) noexcept {
  Unsigned value = 0;
  for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
    value |= static_cast<Unsigned>(at[i]) << (8 * i);
  return value;
}

inline constexpr std::uint32_t magic(const char (&text)[5]) noexcept {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i)
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(text[i])) << (8 * i);
  return value;
}

// ---- file names ---------------------------------------------------------------------------------

inline constexpr std::string_view meta_name = "meta";
inline constexpr std::string_view meta_temporary_name = "meta.tmp";
inline constexpr std::string_view snapshot_temporary_name = "snapshot.tmp";
inline constexpr std::string_view segment_prefix = "log-";
inline constexpr std::string_view snapshot_prefix = "snapshot-";

// Twenty digits hold any 64-bit index, and make the names sort in index order.
inline std::string numbered_name(std::string_view prefix, index_t index) {
  std::array<char, 21> digits{};
  std::snprintf(digits.data(), digits.size(), "%020llu", static_cast<unsigned long long>(index));
  return std::string(prefix) + digits.data();
}
inline std::string segment_name(index_t first_index) {
  return numbered_name(segment_prefix, first_index);
}
inline std::string snapshot_name(index_t last_index) {
  return numbered_name(snapshot_prefix, last_index);
}

// The index in a name made by numbered_name(prefix, ...); nothing for any other name.
inline std::optional<index_t> parse_numbered_name(std::string_view name, std::string_view prefix) {
  if (name.size() != prefix.size() + 20 || !name.starts_with(prefix)) return std::nullopt;
  const std::string_view digits = name.substr(prefix.size());
  index_t value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// ---- meta slots ---------------------------------------------------------------------------------

inline constexpr std::uint32_t meta_magic = magic("CRMT");
inline constexpr std::size_t meta_slot_size = 40;
inline constexpr std::uint64_t meta_slot_stride = 512;

struct meta_slot {
  std::uint64_t sequence = 0;
  term_t current_term = 0;
  node_id voted_for = nobody;
  incarnation_t incarnation = 0;  // the data directory's (configuration.hpp); 0 before it has one
};

// Sequence s is written to slot s % 2: consecutive writes alternate.
inline std::uint64_t meta_slot_offset(std::uint64_t sequence) noexcept {
  return (sequence % 2) * meta_slot_stride;
}

inline std::array<std::byte, meta_slot_size> encode_meta_slot(const meta_slot& slot) noexcept {
  std::array<std::byte, meta_slot_size> out{};
  store<std::uint32_t>(&out[0], meta_magic);
  store<std::uint32_t>(&out[4], version);
  store<std::uint64_t>(&out[8], slot.sequence);
  store<std::uint64_t>(&out[16], slot.current_term);
  store<std::uint64_t>(&out[24], slot.incarnation);
  store<std::uint32_t>(&out[32], slot.voted_for);
  store<std::uint32_t>(&out[36], wire::crc32c(std::span(out).first(36)));
  return out;
}

// The slot in `bytes` (which may be short: a slot never written), if it is intact.
inline std::optional<meta_slot> decode_meta_slot(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < meta_slot_size) return std::nullopt;
  if (load<std::uint32_t>(&bytes[0]) != meta_magic || load<std::uint32_t>(&bytes[4]) != version)
    return std::nullopt;
  if (load<std::uint32_t>(&bytes[36]) != wire::crc32c(bytes.first(36))) return std::nullopt;
  meta_slot slot{load<std::uint64_t>(&bytes[8]), load<std::uint64_t>(&bytes[16]),
                 load<std::uint32_t>(&bytes[32]), load<std::uint64_t>(&bytes[24])};
  if (slot.sequence == 0) return std::nullopt;
  return slot;
}

// ---- log records --------------------------------------------------------------------------------

inline constexpr std::size_t record_header_size = 25;

// Append the header of entry `e`'s record at `index` to `out`: its payload's bytes, which the
// checksum covers, follow it on disk (from `out` or from wherever they live, in a gathered write).
inline void encode_record_header(bytes& out, index_t index, const log_entry& e) {
  if (e.payload.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("coraft::raft::format: an entry's payload must be under 4 GiB");
  }
  const std::size_t at = out.size();
  out.resize(at + record_header_size);
  std::byte* header = out.data() + at;
  store<std::uint32_t>(header, static_cast<std::uint32_t>(e.payload.size()));
  store<std::uint64_t>(header + 8, e.term);
  store<std::uint64_t>(header + 16, index);
  header[24] = static_cast<std::byte>(e.kind);
  const std::span<const std::byte> fields(header + 8, record_header_size - 8);
  const std::uint32_t crc = wire::crc32c(std::span<const std::byte>(header, 4));
  store<std::uint32_t>(header + 4, wire::crc32c(e.payload.span(), wire::crc32c(fields, crc)));
}

// Append the record of entry `e` at `index` to `out`: its header, then its payload.
inline void encode_record(bytes& out, index_t index, const log_entry& e) {
  encode_record_header(out, index, e);
  out.insert(out.end(), e.payload.begin(), e.payload.end());
}

inline std::size_t record_size(const log_entry& e) noexcept {
  return record_header_size + e.payload.size();
}

// What is found where a record should start.
enum class record_status {
  intact,     // a whole record whose checksum matches
  cut_short,  // the bytes end before the record does: a write that never finished
  damaged,    // the checksum does not match, or the entry kind is unknown
};

struct decoded_record {
  record_status status = record_status::damaged;
  std::size_t size = 0;  // bytes the record occupies, when intact
  index_t index = 0;
  log_entry entry;
};

// The fields of the header at the front of `bytes` (at least record_header_size of them), as they
// read, checked for nothing.
struct record_header {
  std::uint32_t payload_size = 0;
  std::uint32_t checksum = 0;
  term_t term = 0;
  index_t index = 0;
  std::uint8_t kind = 0;
};

inline record_header read_record_header(std::span<const std::byte> bytes) noexcept {
  return record_header{load<std::uint32_t>(&bytes[0]), load<std::uint32_t>(&bytes[4]),
                       load<std::uint64_t>(&bytes[8]), load<std::uint64_t>(&bytes[16]),
                       static_cast<std::uint8_t>(bytes[24])};
}

// What starts at the front of `bytes`, without copying the payload: the status, and when intact
// the record's size. A length field claiming more than `bytes` holds is cut_short before anything
// is read or allocated for it.
struct checked_record {
  record_status status = record_status::damaged;
  std::size_t size = 0;
  record_header header;
};

inline checked_record check_record(std::span<const std::byte> bytes) noexcept {
  checked_record out;
  if (bytes.size() < record_header_size) {
    out.status = record_status::cut_short;
    return out;
  }
  out.header = read_record_header(bytes);
  if (out.header.payload_size > bytes.size() - record_header_size) {
    out.status = record_status::cut_short;
    return out;
  }
  const auto whole = bytes.first(record_header_size + out.header.payload_size);
  const std::uint32_t expected = wire::crc32c(whole.subspan(8), wire::crc32c(whole.first(4)));
  if (out.header.checksum != expected ||
      out.header.kind > static_cast<std::uint8_t>(entry_kind::configuration)) {
    out.status = record_status::damaged;
    return out;
  }
  out.status = record_status::intact;
  out.size = whole.size();
  return out;
}

inline decoded_record decode_record(std::span<const std::byte> bytes) {
  const checked_record checked = check_record(bytes);
  decoded_record out;
  out.status = checked.status;
  if (checked.status != record_status::intact) return out;
  out.size = checked.size;
  out.index = checked.header.index;
  out.entry.term = checked.header.term;
  out.entry.kind = static_cast<entry_kind>(checked.header.kind);
  const auto payload = bytes.subspan(record_header_size, checked.header.payload_size);
  out.entry.payload = shared_bytes::copy_of(payload);
  return out;
}

// ---- snapshots ----------------------------------------------------------------------------------

inline constexpr std::uint32_t snapshot_magic = magic("CRSN");
inline constexpr std::size_t snapshot_header_size = 48;

// The header of a snapshot whose configuration encodes as `config` (encode_configuration).
inline std::array<std::byte, snapshot_header_size> encode_snapshot_header(
    const snapshot_meta& meta, std::span<const std::byte> config,
    std::span<const std::byte> data) noexcept {
  std::array<std::byte, snapshot_header_size> out{};
  store<std::uint32_t>(&out[0], snapshot_magic);
  store<std::uint32_t>(&out[4], version);
  store<std::uint64_t>(&out[8], meta.last_index);
  store<std::uint64_t>(&out[16], meta.last_term);
  store<std::uint64_t>(&out[24], data.size());
  store<std::uint32_t>(&out[32], wire::crc32c(data));
  store<std::uint32_t>(&out[36], static_cast<std::uint32_t>(config.size()));
  store<std::uint32_t>(&out[40], wire::crc32c(config));
  store<std::uint32_t>(&out[44], wire::crc32c(std::span(out).first(44)));
  return out;
}

inline bytes encode_configuration(const configuration& config) { return wire::encode(config); }

struct decoded_snapshot {
  snapshot_meta meta;
  bytes data;
};

// The snapshot in a whole snapshot file, or a sentence saying what is wrong with it.
inline std::optional<decoded_snapshot> decode_snapshot(std::span<const std::byte> file,
                                                       std::string& why) {
  if (file.size() < snapshot_header_size) {
    why =
        "the file is shorter than the snapshot header (" + std::to_string(file.size()) + " bytes)";
    return std::nullopt;
  }
  if (load<std::uint32_t>(&file[0]) != snapshot_magic || load<std::uint32_t>(&file[4]) != version ||
      load<std::uint32_t>(&file[44]) != wire::crc32c(file.first(44))) {
    why = "the header at offset 0 fails its checksum";
    return std::nullopt;
  }
  const std::uint64_t size = load<std::uint64_t>(&file[24]);
  const std::uint32_t config_size = load<std::uint32_t>(&file[36]);
  const auto body = file.subspan(snapshot_header_size);
  if (body.size() < config_size || body.size() - config_size != size) {
    why = "the header promises " + std::to_string(config_size) + " bytes of configuration and " +
          std::to_string(size) + " bytes of data, the file holds " + std::to_string(body.size());
    return std::nullopt;
  }
  const auto config_bytes = body.first(config_size);
  const auto data = body.subspan(config_size);
  if (load<std::uint32_t>(&file[40]) != wire::crc32c(config_bytes)) {
    why = "the configuration at offset " + std::to_string(snapshot_header_size) +
          " fails its checksum";
    return std::nullopt;
  }
  if (load<std::uint32_t>(&file[32]) != wire::crc32c(data)) {
    why = "the data at offset " + std::to_string(snapshot_header_size + config_size) +
          " fails its checksum";
    return std::nullopt;
  }
  auto config = wire::decode<configuration>(config_bytes);
  if (!config) {
    why = "the configuration does not decode: " + config.error().message();
    return std::nullopt;
  }
  return decoded_snapshot{{load<std::uint64_t>(&file[8]), load<std::uint64_t>(&file[16]),
                           std::move(*config)},
                          bytes(data.begin(), data.end())};
}

}  // namespace coraft::raft::format
