#include "runtime/storage/record_codec.hpp"

#include <stdexcept>

#include "runtime/storage/byte_order.hpp"
#include "runtime/storage/crc32c.hpp"

namespace troupe::storage {

const char* describe(record_status s) {
  switch (s) {
    case record_status::ok: return "ok";
    case record_status::truncated_header: return "truncated record header";
    case record_status::bad_length: return "implausible record length";
    case record_status::truncated_payload: return "record payload runs past end of file";
    case record_status::bad_crc: return "CRC mismatch";
    case record_status::bad_type: return "unknown entry type";
  }
  return "unknown record status";
}

std::size_t encoded_record_bytes(const raft::entry& e) {
  return record_header_bytes + payload_fixed_bytes + e.data.size();
}

void encode_record(const raft::entry& e, std::string& out) {
  if (e.data.size() > max_payload_bytes - payload_fixed_bytes)
    throw std::length_error("encode_record: entry " + std::to_string(e.index) + " data of " +
                            std::to_string(e.data.size()) + " bytes exceeds the record limit");
  const auto length = static_cast<std::uint32_t>(payload_fixed_bytes + e.data.size());
  const std::size_t start = out.size();
  put_u32(out, length);
  put_u32(out, 0);  // CRC placeholder, patched once the payload is in place
  put_u64(out, e.term);
  put_u64(out, e.index);
  out.push_back(static_cast<char>(e.type));
  out.append(e.data);
  const std::uint32_t crc = crc32c(out.data() + start + record_header_bytes, length);
  for (int i = 0; i < 4; ++i) out[start + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xffu);
}

decode_result decode_record(std::string_view buf) {
  decode_result r;
  if (buf.size() < record_header_bytes) {
    r.status = record_status::truncated_header;
    return r;
  }
  const std::uint32_t length = get_u32(buf.data());
  r.record.stored_crc = get_u32(buf.data() + 4);
  if (length < payload_fixed_bytes || length > max_payload_bytes) {
    r.status = record_status::bad_length;
    return r;
  }
  if (buf.size() - record_header_bytes < length) {
    r.status = record_status::truncated_payload;
    return r;
  }
  const char* payload = buf.data() + record_header_bytes;
  r.record.computed_crc = crc32c(payload, length);
  r.record.record_bytes = record_header_bytes + length;
  r.record.term = get_u64(payload);
  r.record.index = get_u64(payload + 8);
  const auto type = static_cast<std::uint8_t>(payload[16]);
  r.record.data = std::string_view(payload + payload_fixed_bytes, length - payload_fixed_bytes);
  if (r.record.computed_crc != r.record.stored_crc) {
    r.status = record_status::bad_crc;
    return r;
  }
  if (type > static_cast<std::uint8_t>(raft::last_entry_type)) {
    r.status = record_status::bad_type;
    return r;
  }
  r.record.type = static_cast<raft::entry_type>(type);
  return r;
}

}  // namespace troupe::storage
