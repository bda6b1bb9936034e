// Writes a backup file as a stream delivers it, so that `path` only ever
// holds a complete, checked file: everything goes to <path>.tmp; finish()
// compares the checksum the server sent with the bytes written, fsyncs,
// reads the file back and decodes it (backup_file.hpp: checksum and job data
// from the disk), and only then renames it over `path` and fsyncs the
// directory. An unfinished writer removes its .tmp when destroyed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/backup/backup_file.hpp"
#include "runtime/storage/posix_file.hpp"

namespace troupe::backup {

class backup_writer {
 public:
  explicit backup_writer(std::string path);
  ~backup_writer();
  backup_writer(const backup_writer&) = delete;
  backup_writer& operator=(const backup_writer&) = delete;

  // Starts (or, after a retry on another node, restarts) the file.
  void begin(const metadata& m);
  // Throws backup_error(stream) past the data length begin() announced.
  void append(std::string_view data);
  // Throws backup_error: stream (data shorter than announced, or begin()
  // never called), checksum_mismatch, io, or what decoding the written file
  // finds. Returns what the file holds.
  metadata finish(std::uint32_t crc_from_server);

  bool started() const { return started_; }
  std::uint64_t file_bytes() const { return offset_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  void write(std::string_view bytes);
  void pace_writeback();

  std::string path_, tmp_;
  storage::unique_fd fd_;
  metadata meta_;
  checksum crc_;
  std::uint64_t offset_ = 0, data_seen_ = 0;
  // Written back: [0, waited_) is on the disk, [waited_, started_to_) on
  // its way (pace_writeback).
  std::uint64_t waited_ = 0, started_to_ = 0;
  bool started_ = false, finished_ = false;
};

}  // namespace troupe::backup
