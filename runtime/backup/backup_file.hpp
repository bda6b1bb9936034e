// The backup file of `troupe snapshot save` (read by `troupe snapshot status`
// and `troupe-node --restore`): one consistent image of the job table, as
// the leader had applied it at a Raft index. Pure encoding here; the files
// are written by backup_writer.hpp and read by read_backup_file().
//
// Layout (version 1), integers little-endian:
//   "TRBACKUP" | u32 version | u64 index | u64 term | u64 job_count |
//   u64 data_len | data | u32 crc32c
// `data` is the job table's snapshot bytes, exactly what Raft compaction
// stores (runtime/jobs/snapshot_codec.hpp), so there is one encoding of jobs.
// The CRC32C covers every byte before it. The leader computes it while it
// streams (AdminService.SaveSnapshot sends it last) and the client checks the
// file it wrote against it: a check from the table's bytes to the disk.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/backup/backup_error.hpp"

namespace troupe::backup {

constexpr std::uint32_t format_version = 1;
constexpr std::string_view magic = "TRBACKUP";
constexpr std::size_t header_bytes = 8 + 4 + 8 + 8 + 8 + 8;
constexpr std::size_t trailer_bytes = 4;

struct metadata {
  std::uint32_t version = format_version;
  std::uint64_t index = 0;  // the last Raft index the image covers (applied by the leader)
  std::uint64_t term = 0;   // that entry's term
  std::uint64_t job_count = 0;
  std::uint64_t data_bytes = 0;

  friend bool operator==(const metadata& a, const metadata& b) {
    return a.version == b.version && a.index == b.index && a.term == b.term && a.job_count == b.job_count &&
           a.data_bytes == b.data_bytes;
  }
};

std::string encode_header(const metadata& m);
// Throws backup_error: truncated, bad_magic, unsupported_version.
metadata decode_header(std::string_view bytes, const std::string& source);
std::string encode_trailer(std::uint32_t crc);

// CRC32C of a whole file's bytes before the trailer, fed piece by piece
// (header, then the data as it streams).
class checksum {
 public:
  void update(std::string_view bytes);
  std::uint32_t value() const { return crc_; }

 private:
  std::uint32_t crc_ = 0;
};

// A whole file in memory (tests, and what the stream of one save amounts to).
std::string encode(const metadata& m, std::string_view data);

struct contents {
  metadata meta;
  std::string data;  // the job table snapshot bytes
};

// Checks a whole file: length, magic, version, data length, checksum, and
// that the data is a job table snapshot holding meta.job_count jobs at
// meta.index. Throws backup_error naming `source` and the problem.
contents decode(std::string&& bytes, const std::string& source);

// Reads and decodes `path` (io errors as backup_errc::io).
contents read_backup_file(const std::string& path);

}  // namespace troupe::backup
