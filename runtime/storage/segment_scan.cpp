#include "runtime/storage/segment_scan.hpp"

#include <cstdio>

#include "runtime/storage/byte_order.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/storage_error.hpp"

namespace troupe::storage {

namespace {

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string failure_detail(const decode_result& r) {
  std::string s = describe(r.status);
  if (r.status == record_status::bad_crc)
    s += " (stored " + hex32(r.record.stored_crc) + ", computed " + hex32(r.record.computed_crc) + ")";
  return s;
}

}  // namespace

std::optional<std::uint64_t> find_valid_record_after(std::string_view bytes, std::uint64_t after,
                                                     raft::index_t min_index) {
  const raft::index_t max_index = min_index + bytes.size();
  for (std::uint64_t off = after + 1; off + min_record_bytes <= bytes.size(); ++off) {
    const char* p = bytes.data() + off;
    const std::uint32_t length = get_u32(p);
    if (length < payload_fixed_bytes || length > bytes.size() - off - record_header_bytes) continue;
    const raft::index_t index = get_u64(p + record_header_bytes + 8);
    if (index < min_index || index > max_index) continue;
    if (crc32c(p + record_header_bytes, length) == get_u32(p + 4)) return off;
  }
  return std::nullopt;
}

segment_scan scan_segment(std::string_view bytes, const std::string& file, raft::index_t first_index,
                          bool is_last_segment, raft::term_t prev_term) {
  segment_scan out;
  raft::index_t expected = first_index;
  std::uint64_t off = 0;
  while (off < bytes.size()) {
    const decode_result r = decode_record(bytes.substr(off));
    if (r.status == record_status::ok) {
      if (r.record.index != expected)
        throw storage_error("index gap in " + file + " at byte offset " + std::to_string(off) + ": expected index " +
                            std::to_string(expected) + ", found " + std::to_string(r.record.index));
      if (r.record.term < prev_term)
        throw storage_error("term decreases in " + file + " at byte offset " + std::to_string(off) + ": index " +
                            std::to_string(r.record.index) + " has term " + std::to_string(r.record.term) +
                            " after term " + std::to_string(prev_term));
      prev_term = r.record.term;
      out.records.push_back(
          scanned_record{r.record.term, r.record.index, off, static_cast<std::uint32_t>(r.record.record_bytes)});
      off += r.record.record_bytes;
      ++expected;
      continue;
    }
    const std::string where = "corrupt record in " + file + " at byte offset " + std::to_string(off) + ": " +
                              failure_detail(r);
    // A record whose CRC matches was written whole; if it is still malformed
    // the writer or the disk is broken, not interrupted.
    if (r.status == record_status::bad_type) throw storage_error(where);
    if (!is_last_segment) throw storage_error(where + "; " + file + " is not the last segment");
    if (const auto next = find_valid_record_after(bytes, off, expected))
      throw storage_error(where + "; a valid record follows at byte offset " + std::to_string(*next) +
                          ", so this is not a torn tail");
    out.tail_status = r.status;
    out.tail_error = where;
    break;
  }
  out.valid_bytes = off;
  return out;
}

}  // namespace troupe::storage
