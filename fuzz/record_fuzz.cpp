// Log record decoder and segment recovery scan (runtime/storage). Contract:
// decode_record never reads outside its buffer and a record it accepts
// re-encodes to the same bytes; scan_segment either throws storage_error
// naming the file or returns records that tile the segment from byte 0 with
// consecutive indexes, cutting a tail only in the last segment and only when
// no valid record follows (segment_scan.hpp).
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/record_codec.hpp"
#include "runtime/storage/segment_scan.hpp"
#include "runtime/storage/storage_error.hpp"

namespace troupe::fuzz {
namespace {

constexpr const char* target = "record_fuzz";
const std::string file = "fuzz.seg";

std::string reencode(const storage::record_view& r) {
  std::string out;
  storage::encode_record(r.to_entry(), out);
  return out;
}

void check_decode(std::string_view bytes) {
  const storage::decode_result r = storage::decode_record(bytes);
  if (r.status != storage::record_status::ok) return;
  require(r.record.record_bytes <= bytes.size(), target, "an accepted record ends past the buffer");
  require(reencode(r.record) == bytes.substr(0, r.record.record_bytes), target,
          "an accepted record does not re-encode to its own bytes");
}

void check_scan(std::string_view bytes, raft::index_t first_index, bool is_last) {
  storage::segment_scan s;
  try {
    s = storage::scan_segment(bytes, file, first_index, is_last);
  } catch (const storage::storage_error& e) {
    require(std::string(e.what()).find(file) != std::string::npos, target,
            std::string("storage_error does not name the file: ") + e.what());
    return;
  }
  require(s.valid_bytes <= bytes.size(), target, "valid_bytes past the end");
  std::uint64_t off = 0;
  raft::index_t expected = first_index;
  for (const storage::scanned_record& rec : s.records) {
    require(rec.offset == off && rec.index == expected, target, "scanned records do not tile the segment in order");
    const auto r = storage::decode_record(bytes.substr(off));
    require(r.status == storage::record_status::ok && r.record.record_bytes == rec.bytes && r.record.term == rec.term,
            target, "a scanned record does not decode to what the scan reported");
    off += rec.bytes;
    ++expected;
  }
  require(off == s.valid_bytes, target, "valid_bytes is not where the last record ends");
  if (s.valid_bytes == bytes.size()) {
    require(s.tail_status == storage::record_status::ok, target, "a whole segment reports a bad tail");
    return;
  }
  // A cut tail: only in the last segment, never a record whose CRC matched,
  // and nothing the recovery would have to keep may follow it.
  require(is_last, target, "a segment that is not the last had its tail cut");
  require(s.tail_status != storage::record_status::ok && s.tail_status != storage::record_status::bad_type, target,
          std::string("tail cut for status ") + storage::describe(s.tail_status));
  require(!storage::find_valid_record_after(bytes, s.valid_bytes, expected), target,
          "a valid record follows the cut tail");
}

// The segment with the CRC of every record along its length chain
// recomputed, so that mutations of terms, indexes, types and lengths reach the
// checks behind the CRC instead of all ending as bad_crc.
std::string with_valid_crcs(std::string_view bytes) {
  std::string out(bytes);
  std::size_t off = 0;
  while (out.size() - off >= storage::record_header_bytes) {
    std::uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length |= std::uint32_t{static_cast<unsigned char>(out[off + i])} << (8 * i);
    if (length < storage::payload_fixed_bytes || length > out.size() - off - storage::record_header_bytes) break;
    const std::uint32_t crc = storage::crc32c(out.data() + off + storage::record_header_bytes, length);
    for (int i = 0; i < 4; ++i) out[off + 4 + i] = static_cast<char>(crc >> (8 * i));
    off += storage::record_header_bytes + length;
  }
  return out;
}

}  // namespace

void record_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const bool is_last = (data[0] & 1) != 0;
  const raft::index_t first_index = 1 + (data[0] >> 1);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  check_decode(bytes);
  check_scan(bytes, first_index, is_last);
  const std::string fixed = with_valid_crcs(bytes);
  check_decode(fixed);
  check_scan(fixed, first_index, is_last);
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::record_one)
