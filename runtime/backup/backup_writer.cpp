#include "runtime/backup/backup_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "runtime/storage/storage_error.hpp"

namespace troupe::backup {
namespace {

// How much of the file may be dirty in the page cache before its writeback
// starts (pace_writeback).
constexpr std::uint64_t writeback_window = 8u << 20;

}  // namespace

backup_writer::backup_writer(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {}

backup_writer::~backup_writer() {
  if (!finished_ && started_) ::unlink(tmp_.c_str());
}

void backup_writer::write(std::string_view bytes) {
  try {
    storage::pwrite_all(fd_.get(), bytes, offset_, tmp_);
  } catch (const storage::storage_error& e) {
    throw backup_error(backup_errc::io, e.what());
  }
  offset_ += bytes.size();
  pace_writeback();
}

// The file goes to the disk as it arrives, a window at a time, each waited
// for before the next starts, rather than all of it (hundreds of MB) in
// finish()'s fsync: that put the whole file in the disk's queue at once, and
// a node's log fsync on the same disk waited behind it (the submits it
// answered meanwhile: max median 71 ms over 12 backups, 29 paced;
// BENCHMARKS.md, twenty-third round). Only hints: errors surface at fsync.
void backup_writer::pace_writeback() {
  if (offset_ - started_to_ < writeback_window) return;
  if (waited_ < started_to_)
    ::sync_file_range(fd_.get(), static_cast<off_t>(waited_), static_cast<off_t>(started_to_ - waited_),
                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  waited_ = started_to_;
  ::sync_file_range(fd_.get(), static_cast<off_t>(started_to_), static_cast<off_t>(offset_ - started_to_),
                    SYNC_FILE_RANGE_WRITE);
  started_to_ = offset_;
}

void backup_writer::begin(const metadata& m) {
  try {
    // 0600: the jobs' commands and outputs are the cluster's, not everyone's.
    fd_ = storage::open_file(tmp_, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  } catch (const storage::storage_error& e) {
    throw backup_error(backup_errc::io, e.what());
  }
  started_ = true;
  meta_ = m;
  crc_ = checksum{};
  offset_ = 0;
  waited_ = started_to_ = 0;
  data_seen_ = 0;
  const std::string header = encode_header(m);
  crc_.update(header);
  write(header);
}

void backup_writer::append(std::string_view data) {
  if (!started_) throw backup_error(backup_errc::stream, "snapshot data arrived before its metadata");
  if (data.size() > meta_.data_bytes - data_seen_)
    throw backup_error(backup_errc::stream, "the server sent more than the " + std::to_string(meta_.data_bytes) +
                                                " data bytes it announced");
  crc_.update(data);
  write(data);
  data_seen_ += data.size();
}

metadata backup_writer::finish(std::uint32_t crc_from_server) {
  if (!started_) throw backup_error(backup_errc::stream, "the stream ended without snapshot metadata");
  if (data_seen_ != meta_.data_bytes)
    throw backup_error(backup_errc::stream, "the stream ended after " + std::to_string(data_seen_) + " of " +
                                                std::to_string(meta_.data_bytes) + " data bytes");
  if (crc_.value() != crc_from_server) {
    char buf[112];
    std::snprintf(buf, sizeof buf, "checksum mismatch: the server sent crc32c 0x%08x, the bytes received give 0x%08x",
                  crc_from_server, crc_.value());
    throw backup_error(backup_errc::checksum_mismatch, buf);
  }
  write(encode_trailer(crc_.value()));
  try {
    storage::fsync_or_throw(fd_.get(), tmp_);
    fd_ = storage::unique_fd();
  } catch (const storage::storage_error& e) {
    throw backup_error(backup_errc::io, e.what());
  }
  // What is on the disk, not what we meant to write: the checksum and the
  // job data, read back, before the file takes the final name.
  contents on_disk = read_backup_file(tmp_);
  if (!(on_disk.meta == meta_))
    throw backup_error(backup_errc::length_mismatch, tmp_ + ": the header read back differs from the one written");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    try {
      storage::throw_errno("cannot rename " + tmp_ + " to", path_);
    } catch (const storage::storage_error& e) {
      throw backup_error(backup_errc::io, e.what());
    }
  }
  finished_ = true;
  try {
    storage::fsync_directory(storage::parent_directory(path_));
  } catch (const storage::storage_error& e) {
    throw backup_error(backup_errc::io, e.what());
  }
  return meta_;
}

}  // namespace troupe::backup
