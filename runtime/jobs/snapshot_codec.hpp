// The job table's snapshot bytes. An explicit little-endian format rather than
// a protobuf message: protobuf does not promise byte-identical serialization
// across library versions, and nodes must agree on the bytes exactly.
//
// Layout (version 2):
//   "TRPJOBS\0"  u32 version  u64 applied_index
//   u64 worker_count    { u64 worker }          ascending
//   u64 draining_count  { u64 worker }          ascending, never 0
//   u64 job_count       { job }                 in creation order
//   u32 crc32 (IEEE) of every byte before it
// where a job is its fields in declaration order; strings are u64 length +
// bytes, optionals a u8 presence flag followed by the value when present.
// Version 1 is the same without the draining set (nothing drained); it is
// still read, since a data dir keeps its snapshot across an upgrade.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/jobs/job.hpp"

namespace troupe::jobs {

constexpr std::uint32_t snapshot_format_version = 2;      // what encode_snapshot writes
constexpr std::uint32_t oldest_snapshot_format_version = 1;  // the oldest decode_snapshot reads

struct snapshot_contents {
  std::uint64_t applied_index = 0;
  std::set<std::uint64_t> workers;
  std::set<std::uint64_t> draining;
  std::vector<job> jobs;  // creation order
};

// What precedes the jobs; job_count is already checked against the data's length.
struct snapshot_header {
  std::uint32_t version = 0;
  std::uint64_t applied_index = 0;
  std::set<std::uint64_t> workers;
  std::set<std::uint64_t> draining;
  std::uint64_t job_count = 0;
};

// `jobs` must already be in creation order; the caller's index provides it.
std::string encode_snapshot(std::uint64_t applied_index, const std::set<std::uint64_t>& workers,
                            const std::set<std::uint64_t>& draining, const std::vector<const job*>& jobs);

// The same bytes, built a job at a time (job_table's snapshot in pieces):
// the header at construction, then job_count jobs in creation order, each
// from the job or from encode_job's bytes of it, then finish(). The CRC is
// carried along, so finish() does not read the whole buffer again.
class snapshot_builder {
 public:
  snapshot_builder(std::uint64_t applied_index, const std::set<std::uint64_t>& workers,
                   const std::set<std::uint64_t>& draining, std::uint64_t job_count, std::size_t reserve_bytes = 0);
  void add(const job& j);
  void add_encoded(std::string_view encoded_job);
  // The bytes added since the last take(), handed over so that the whole
  // snapshot is never in one buffer (job_table's pieces go to the file as
  // they come); the pieces and then finish() make up the snapshot.
  std::string take();
  std::size_t pending_bytes() const { return out_.size(); }
  // What is left. Throws std::logic_error unless exactly job_count jobs were
  // added.
  std::string finish();

 private:
  void added_one();
  void extend_crc();
  std::string out_;
  std::uint64_t job_count_;
  std::uint64_t added_ = 0;
  std::size_t crc_through_ = 0;  // out_'s bytes the CRC covers
  std::uint32_t crc_ = 0;
};

// One job as a snapshot holds it.
std::string encode_job(const job& j);

// Reads every version from oldest_snapshot_format_version to
// snapshot_format_version. Throws std::runtime_error naming the first
// problem: bad magic, unsupported (e.g. newer) version, checksum mismatch,
// truncation, out-of-range status or flag, empty or duplicate job id,
// unordered worker ids, a drained worker 0, trailing bytes.
snapshot_contents decode_snapshot(std::string_view bytes);

// The same checks, without collecting the jobs: `on_header` once the header
// is read, then `on_job` for each job in creation order, which takes it and
// returns false when it already had a job with that id (the decoder then
// throws "duplicate job id"). A restore builds its table from this directly,
// instead of from a vector of every job first.
snapshot_header decode_snapshot(std::string_view bytes, const std::function<void(const snapshot_header&)>& on_header,
                                const std::function<bool(job&&)>& on_job);

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320); crc32_extend(crc32(a), b) == crc32(a + b).
std::uint32_t crc32_extend(std::uint32_t crc, std::string_view bytes);
inline std::uint32_t crc32(std::string_view bytes) { return crc32_extend(0, bytes); }

}  // namespace troupe::jobs
