// Validation of one segment's bytes during recovery, with no I/O: decides
// whether a bad record is a torn tail (safe to cut) or corruption (refuse to
// start). Used by segmented_log::open and usable directly by fuzzers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/raft/types.hpp"
#include "runtime/storage/record_codec.hpp"

namespace troupe::storage {

struct scanned_record {
  raft::term_t term = 0;
  raft::index_t index = 0;
  std::uint64_t offset = 0;  // of the record header within the segment
  std::uint32_t bytes = 0;   // header + payload
};

struct segment_scan {
  std::vector<scanned_record> records;
  std::uint64_t valid_bytes = 0;  // records end here; < input size means a torn tail
  record_status tail_status = record_status::ok;  // why the tail was rejected
  std::string tail_error;  // with a torn tail: what was wrong, naming the file and offset
};

// Scans `bytes` (the whole content of segment `file`) whose first record must
// carry `first_index`. A record that fails to decode is accepted as a torn
// tail only when `is_last_segment` (the caller may pass true for a segment
// that a crash can have left torn, and decide from the later ones) and no
// decodable record follows it at any byte offset; otherwise throws
// storage_error naming `file` and the offset. A well-formed record with an
// unexpected index (a gap) or with a term below its predecessor's (the
// previous record's, or `prev_term` for the first) always throws: terms never
// decrease along a Raft log.
segment_scan scan_segment(std::string_view bytes, const std::string& file, raft::index_t first_index,
                          bool is_last_segment, raft::term_t prev_term = 0);

// The first offset > `after` at which a record with a correct CRC and an index
// in [min_index, min_index + bytes.size()] starts, if any. The index window
// keeps the scan linear: random bytes almost never pass it, so the CRC is
// computed only for real candidates.
std::optional<std::uint64_t> find_valid_record_after(std::string_view bytes, std::uint64_t after,
                                                     raft::index_t min_index);

}  // namespace troupe::storage
