// The log record format, pure encode/decode with no I/O so fuzzers and the
// simulator can use it on plain buffers.
//
//   record  = length:u32 LE | crc:u32 LE | payload[length]
//   payload = term:u64 LE | index:u64 LE | type:u8 | data[length - 17]
//
// crc is CRC32C over the payload only; the length is validated by range and by
// the fact that a wrong length makes the CRC cover the wrong bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/raft/types.hpp"

namespace troupe::storage {

inline constexpr std::size_t record_header_bytes = 8;   // length + crc
inline constexpr std::size_t payload_fixed_bytes = 17;  // term + index + type
// Upper bound on one payload; anything larger in a length field is garbage.
inline constexpr std::uint32_t max_payload_bytes = 1u << 30;
inline constexpr std::size_t min_record_bytes = record_header_bytes + payload_fixed_bytes;

enum class record_status {
  ok,
  truncated_header,   // fewer than 8 bytes left
  bad_length,         // length field below 17 or above max_payload_bytes
  truncated_payload,  // length field points past the end of the buffer
  bad_crc,            // stored CRC does not match the payload
  bad_type,           // CRC matches but the entry type byte is unknown
};

const char* describe(record_status s);

// A decoded record that still points into the buffer it was decoded from.
struct record_view {
  raft::term_t term = 0;
  raft::index_t index = 0;
  raft::entry_type type = raft::entry_type::normal;
  std::string_view data;
  std::size_t record_bytes = 0;  // header + payload: where the next record starts
  std::uint32_t stored_crc = 0;
  std::uint32_t computed_crc = 0;  // meaningful when status is ok, bad_crc or bad_type

  raft::entry to_entry() const { return raft::entry{term, index, type, std::string(data)}; }
};

struct decode_result {
  record_status status = record_status::ok;
  record_view record;
};

std::size_t encoded_record_bytes(const raft::entry& e);
// Appends the encoded record to out. Throws std::length_error if the data is
// larger than max_payload_bytes allows.
void encode_record(const raft::entry& e, std::string& out);
// Decodes the record starting at buf[0].
decode_result decode_record(std::string_view buf);

}  // namespace troupe::storage
