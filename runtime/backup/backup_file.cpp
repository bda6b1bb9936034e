#include "runtime/backup/backup_file.hpp"

#include <fcntl.h>

#include <cstdio>

#include "runtime/jobs/snapshot_codec.hpp"
#include "runtime/storage/byte_order.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/posix_file.hpp"
#include "runtime/storage/storage_error.hpp"

namespace troupe::backup {

const char* to_string(backup_errc c) {
  switch (c) {
    case backup_errc::io: return "io";
    case backup_errc::truncated: return "truncated";
    case backup_errc::bad_magic: return "bad_magic";
    case backup_errc::unsupported_version: return "unsupported_version";
    case backup_errc::length_mismatch: return "length_mismatch";
    case backup_errc::checksum_mismatch: return "checksum_mismatch";
    case backup_errc::bad_job_data: return "bad_job_data";
    case backup_errc::stream: return "stream";
  }
  return "unknown";
}

std::string encode_header(const metadata& m) {
  std::string out(magic);
  storage::put_u32(out, m.version);
  storage::put_u64(out, m.index);
  storage::put_u64(out, m.term);
  storage::put_u64(out, m.job_count);
  storage::put_u64(out, m.data_bytes);
  return out;
}

metadata decode_header(std::string_view bytes, const std::string& source) {
  // A file cut inside the magic is a truncated backup, not a foreign file.
  if (bytes.size() < magic.size() && bytes == magic.substr(0, bytes.size()))
    throw backup_error(backup_errc::truncated, source + ": truncated: " + std::to_string(bytes.size()) + " bytes");
  if (bytes.size() < magic.size() || bytes.substr(0, magic.size()) != magic)
    throw backup_error(backup_errc::bad_magic, source + ": not a troupe backup file (no \"TRBACKUP\" at byte 0)");
  if (bytes.size() < header_bytes)
    throw backup_error(backup_errc::truncated, source + ": truncated: " + std::to_string(bytes.size()) +
                                                   " bytes, the header alone needs " + std::to_string(header_bytes));
  metadata m;
  m.version = storage::get_u32(bytes.data() + 8);
  if (m.version != format_version)
    throw backup_error(backup_errc::unsupported_version,
                       source + ": backup format version " + std::to_string(m.version) + " (this build reads " +
                           std::to_string(format_version) + ")");
  m.index = storage::get_u64(bytes.data() + 12);
  m.term = storage::get_u64(bytes.data() + 20);
  m.job_count = storage::get_u64(bytes.data() + 28);
  m.data_bytes = storage::get_u64(bytes.data() + 36);
  return m;
}

std::string encode_trailer(std::uint32_t crc) {
  std::string out;
  storage::put_u32(out, crc);
  return out;
}

void checksum::update(std::string_view bytes) { crc_ = storage::crc32c_extend(crc_, bytes.data(), bytes.size()); }

std::string encode(const metadata& m, std::string_view data) {
  std::string out = encode_header(m);
  out.append(data);
  out += encode_trailer(storage::crc32c(out));
  return out;
}

namespace {

// The data must be the job table snapshot the header announces: what a
// restore would install, checked before anything is written.
void check_job_data(std::string_view data, const metadata& m, const std::string& source) {
  std::uint64_t jobs_seen = 0;
  jobs::snapshot_header h;
  try {
    h = jobs::decode_snapshot(
        data, [](const jobs::snapshot_header&) {},
        [&](jobs::job&&) {
          ++jobs_seen;
          return true;
        });
  } catch (const std::exception& e) {
    throw backup_error(backup_errc::bad_job_data, source + ": the job data is not a job table snapshot: " + e.what());
  }
  if (h.applied_index != m.index)
    throw backup_error(backup_errc::length_mismatch, source + ": the job data is at index " +
                                                         std::to_string(h.applied_index) + ", the header says " +
                                                         std::to_string(m.index));
  if (jobs_seen != m.job_count)
    throw backup_error(backup_errc::length_mismatch, source + ": the job data holds " + std::to_string(jobs_seen) +
                                                         " jobs, the header says " + std::to_string(m.job_count));
}

}  // namespace

contents decode(std::string&& bytes, const std::string& source) {
  contents c;
  c.meta = decode_header(bytes, source);
  const std::uint64_t body = bytes.size() - header_bytes;  // data and trailer
  if (body < trailer_bytes || body - trailer_bytes < c.meta.data_bytes)
    throw backup_error(backup_errc::truncated,
                       source + ": truncated: " + std::to_string(bytes.size()) + " bytes, the header announces " +
                           std::to_string(header_bytes + c.meta.data_bytes + trailer_bytes));
  if (body - trailer_bytes > c.meta.data_bytes)
    throw backup_error(backup_errc::length_mismatch,
                       source + ": " + std::to_string(body - trailer_bytes - c.meta.data_bytes) +
                           " bytes after the data the header announces");
  const std::size_t crc_at = bytes.size() - trailer_bytes;
  const std::uint32_t stored = storage::get_u32(bytes.data() + crc_at);
  const std::uint32_t computed = storage::crc32c(bytes.data(), crc_at);
  if (stored != computed) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ": checksum mismatch (stored crc32c 0x%08x, computed 0x%08x)", stored, computed);
    throw backup_error(backup_errc::checksum_mismatch, source + buf);
  }
  // The data is nearly all of the file: trim the buffer in place rather
  // than copy it.
  bytes.resize(crc_at);
  bytes.erase(0, header_bytes);
  c.data = std::move(bytes);
  check_job_data(c.data, c.meta, source);
  return c;
}

contents read_backup_file(const std::string& path) {
  std::string bytes;
  try {
    storage::unique_fd fd = storage::open_file(path, O_RDONLY);
    bytes = storage::read_whole_file(fd.get(), path);
  } catch (const storage::storage_error& e) {
    throw backup_error(backup_errc::io, e.what());
  }
  return decode(std::move(bytes), path);
}

}  // namespace troupe::backup
