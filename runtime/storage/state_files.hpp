// Small durable files next to the log: the Raft hard state and the newest
// snapshot, each replaced atomically and protected by a CRC32C trailer.
//
//   <dir>/hard_state : "TRHS" | version:u32 | term:u64 | vote:u64 | commit:u64 | crc:u32
//   <dir>/snapshot   : "TRSN" | version:u32 = 2 | index:u64 | term:u64 | conf_len:u32 |
//                      conf (raft::encode(membership)) | data_len:u64 | data | crc:u32
//                      (version 1, still read: voter_count:u32 | voters:u64[voter_count]
//                      in place of conf_len and conf)
// The CRC covers every byte before it. Integers are little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/raft/types.hpp"
#include "runtime/storage/posix_file.hpp"
#include "runtime/storage/storage_error.hpp"

namespace troupe::storage {

// Replaces path with bytes so that after a crash at any point path holds either
// the old or the new content: write <path>.tmp, fsync it, rename over path,
// fsync the directory. Creates the parent directory if needed.
void atomic_write_file(const std::string& path, std::string_view bytes);

void save_hard_state(const std::string& dir, const raft::hard_state& hs);
// Default-constructed when the file does not exist; throws storage_error when
// it exists but is damaged.
raft::hard_state load_hard_state(const std::string& dir);

// Replaces the previous snapshot (only the newest is kept): a
// snapshot_file_writer given the whole data, then install().
void save_snapshot(const std::string& dir, const raft::snapshot& snap);

// Writes a snapshot to a file of its own beside the current one
// (<dir>/snapshot.<index>.tmp) as its data comes, a piece per append(): the
// job table encodes a million jobs (~230 MB) a piece at a time, and no piece
// is held once written, nor the whole data ever in memory. The data's length
// and the CRC go in at finish(), when they are known. Throws storage_error
// as the other writes here; the file is removed unless finished.
class snapshot_file_writer {
 public:
  snapshot_file_writer(const std::string& dir, raft::snapshot_meta meta);  // creates the file
  ~snapshot_file_writer();
  snapshot_file_writer(const snapshot_file_writer&) = delete;
  snapshot_file_writer& operator=(const snapshot_file_writer&) = delete;

  // The next bytes of the data, after those appended before.
  void append(std::string_view data);
  // Completes the file (the header with the data's length, the CRC) and
  // fsyncs it. It stays where it is, for install_snapshot_file (or the next
  // start's remove_unfinished_snapshots): this writer no longer removes it.
  void finish();
  // finish(), then install_snapshot_file (once: done stays done).
  void install();
  const raft::snapshot_meta& meta() const { return meta_; }
  std::uint64_t data_bytes() const { return written_; }

 private:
  std::string dir_;
  std::string path_;
  raft::snapshot_meta meta_;
  unique_fd fd_;
  std::uint64_t data_at_ = 0;   // the header's size
  std::uint64_t written_ = 0;   // bytes of the data written
  std::uint32_t data_crc_ = 0;  // of the data written
  bool finished_ = false;
  bool installed_ = false;
};

// Renames the file a snapshot_file_writer finished at `index` over
// <dir>/snapshot, and fsyncs the directory.
void install_snapshot_file(const std::string& dir, raft::index_t index);
// Removes that file instead (a newer snapshot was installed meanwhile).
void remove_snapshot_file(const std::string& dir, raft::index_t index);

// Removes the files of snapshot writes that were never installed (a crash
// in between; also the "snapshot.tmp" of older versions); returns how many.
std::size_t remove_unfinished_snapshots(const std::string& dir);

std::optional<raft::snapshot> load_snapshot(const std::string& dir);

// The data of the installed snapshot file (<dir>/snapshot), mapped
// read-only: the bytes of the snapshot at `index` just written or read, held
// by the page cache instead of the heap (a million jobs' snapshot is ~230 MB
// that the node otherwise keeps only for lagging followers). Checks the
// header and the index, not the CRC: that would read every page, and the
// file was checked or written just before. The mapping stays valid when a
// newer snapshot is renamed over the file; files are never changed in place.
// Throws storage_error if the file is not the snapshot at `index`. A page
// that cannot be read later stops the node with a message naming the file
// (mapped_file.hpp).
raft::snapshot_bytes map_snapshot_data(const std::string& dir, raft::index_t index);

// The pure encodings, for tests and tools. decode_* throw storage_error naming
// `source` (a path or other description) and the offending byte offset.
std::string encode_hard_state(const raft::hard_state& hs);
raft::hard_state decode_hard_state(std::string_view bytes, const std::string& source);
std::string encode_snapshot(const raft::snapshot& snap);
raft::snapshot decode_snapshot(std::string_view bytes, const std::string& source);
// The same, reusing `bytes`' buffer for the data instead of copying it.
raft::snapshot decode_snapshot(std::string&& bytes, const std::string& source);

std::string hard_state_path(const std::string& dir);
std::string snapshot_path(const std::string& dir);

}  // namespace troupe::storage
