// The Raft log on disk: append-only segment files in <dir>/log/, each named by
// the index of its first entry (00000000000000000001.seg), each a sequence of
// records in the format of record_codec.hpp.
//
// Durability contract: append() only writes to the page cache; sync() makes
// every append, truncation and segment creation/removal since the previous
// sync durable. Callers batch many appends and sync once (group commit).
//
// Invariants kept in memory and on disk: segments hold contiguous indexes with
// no gaps between them, and no segment is empty.
//
// Errors: every failure throws storage_error. After one escapes a mutating
// call (append, sync, truncate_suffix, compact_prefix) the in-memory view may
// no longer match the disk (a failed fsync leaves the page cache in an unknown
// state), so the caller must drop this object and open() the log again.
// Not thread-safe; one owner (the storage actor) at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "runtime/raft/types.hpp"
#include "runtime/storage/posix_file.hpp"
#include "runtime/storage/record_codec.hpp"
#include "runtime/storage/storage_error.hpp"

namespace troupe::storage {

struct log_options {
  // A new segment starts before a record would push the active one past this.
  std::size_t segment_bytes = 64u << 20;
};

struct torn_tail {
  std::string file;
  std::uint64_t offset = 0;  // where the cut was made (start of the bad record)
  std::uint64_t bytes = 0;   // how many bytes were dropped
  record_status reason = record_status::ok;
};

// What open() found and repaired.
struct recovery_report {
  std::size_t segments = 0;  // segments in use after recovery
  std::uint64_t entries = 0;
  std::optional<torn_tail> truncated;
  std::vector<std::string> removed_empty_segments;  // left by a crash right after creating them

  std::string describe() const;
};

class segmented_log {
 public:
  // Opens (creating if needed) the log in <dir>/log and recovers it. A torn
  // tail is cut and reported in recovery(); any other inconsistency throws
  // storage_error naming the file and byte offset, with nothing on disk changed.
  static segmented_log open(const std::string& dir, log_options opts = {});

  segmented_log(segmented_log&&) = default;
  segmented_log& operator=(segmented_log&&) = default;

  // Writes es (contiguous indexes) without syncing. es.front().index must be
  // last_index() + 1, or <= last_index() in which case entries from that
  // index on are truncated first (a Raft conflict). An empty log accepts any
  // starting index >= 1 (after a snapshot install).
  void append(const std::vector<raft::entry>& es);
  // fdatasync every segment written or truncated since the last sync, and the
  // directory if segments were created or removed.
  void sync();
  // Drops entries >= from. A no-op if from > last_index().
  void truncate_suffix(raft::index_t from);
  // Deletes whole segments whose entries are all <= through. The newest
  // segment is always kept so last_index() and term_at(last_index()) survive.
  void compact_prefix(raft::index_t through);

  raft::index_t first_index() const;  // 0 when empty
  raft::index_t last_index() const;   // 0 when empty
  bool empty() const { return locations_.empty(); }
  // Entries [lo, hi_exclusive); throws storage_error if the range is not
  // inside [first_index(), last_index() + 1] or a record fails its CRC.
  std::vector<raft::entry> read(raft::index_t lo, raft::index_t hi_exclusive) const;
  // nullopt when index is not in the log (including compacted indexes and 0).
  std::optional<raft::term_t> term_at(raft::index_t index) const;

  const recovery_report& recovery() const { return recovery_; }
  std::size_t segment_count() const { return segments_.size(); }
  const std::string& log_directory() const { return log_dir_; }

 private:
  struct segment {
    raft::index_t first_index = 0;
    std::string path;
    unique_fd fd;
    std::uint64_t size = 0;
    bool needs_sync = false;
  };
  struct location {
    raft::term_t term = 0;
    std::uint64_t offset = 0;
    std::uint32_t bytes = 0;
  };

  segmented_log() = default;

  segment& create_segment(raft::index_t first_index);
  void remove_last_segment();
  // Position in segments_ of the segment holding index (which must be in the log).
  std::size_t segment_position(raft::index_t index) const;
  const location& location_of(raft::index_t index) const { return locations_[index - first_index_]; }

  std::string log_dir_;
  log_options opts_;
  std::deque<segment> segments_;
  std::deque<location> locations_;  // locations_[i] is entry first_index_ + i
  raft::index_t first_index_ = 0;
  bool directory_needs_sync_ = false;
  recovery_report recovery_;
};

// Segment file name for a first index: 20 zero-padded digits + ".seg".
std::string segment_file_name(raft::index_t first_index);
// Parses a segment file name; nullopt if it is not one.
std::optional<raft::index_t> parse_segment_file_name(const std::string& name);

}  // namespace troupe::storage
