// The attempts this node started, recorded durably before each job runs.
// After a crash a record says its attempt may have run, with side effects:
// job_supervisor then reports it failed and never starts it again (at most
// once per attempt and node).
//
// One append-only file per node, <output_dir>/starts, one line
// "<attempt> <job_id>\n" per start. A batch of starts costs one write and one
// fdatasync, and a job no inode of its own (the per-job "started" files of
// earlier versions cost a directory, a file and a share of a syncfs each).
// A record is needed only until the table has moved past its attempt here
// (settle); the file is rewritten with the records still needed once it has
// grown past rotate_bytes and is mostly settled records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace troupe::exec {

struct start_record {
  std::string job_id;
  std::uint32_t attempt = 0;
  std::string error;  // set by record(): why this start could not be recorded ("" when durable)
};

class start_journal {
 public:
  static constexpr std::size_t default_rotate_bytes = 1 << 20;

  // Opens <output_dir>/starts (creating output_dir and the file) and reads
  // its records. A torn last line (a crash inside an append that was never
  // acknowledged) is cut off. When the file does not exist yet, the records
  // earlier versions left (<output_dir>/<job_id>/started) are carried into
  // it first. Throws std::runtime_error naming the path when the file cannot
  // be read or written, or holds a malformed line before its last.
  explicit start_journal(std::string output_dir, std::size_t rotate_bytes = default_rotate_bytes);
  ~start_journal();
  start_journal(const start_journal&) = delete;
  start_journal& operator=(const start_journal&) = delete;

  // Appends every record and makes them durable with one fdatasync. A
  // record whose error stays empty is durable when this returns; the caller
  // must not run a job whose record failed. A record of a job recorded
  // before replaces the earlier one. Never throws; thread-safe.
  void record(std::vector<start_record>& records);
  // One record; throws std::runtime_error instead.
  void record(const std::string& job_id, std::uint32_t attempt);

  // The attempt recorded last for the job, if any.
  std::optional<std::uint32_t> recorded(const std::string& job_id) const;
  // The table shows the job with live_attempt assigned to or running on this
  // node (nullopt: no attempt of it is live here). A record of any other
  // attempt can never be asked for again, so it is dropped (from the file at
  // the next rewrite).
  void settle(const std::string& job_id, std::optional<std::uint32_t> live_attempt);
  // Drops every record keep() answers false for.
  void retain(const std::function<bool(const std::string& job_id, std::uint32_t attempt)>& keep);

  std::size_t size() const;  // records held
  const std::string& path() const { return path_; }

 private:
  void load(const std::string& text);
  void migrate_started_files();
  void rewrite_locked();  // live_ into a new file: temp, fdatasync, rename, fsync of the directory
  void append_locked(const std::string& lines);

  mutable std::mutex mu_;
  const std::string dir_, path_;
  const std::size_t rotate_bytes_;
  int fd_ = -1;
  std::uint64_t size_ = 0;     // bytes in the file, all of them whole lines
  bool needs_rewrite_ = false;  // an append failed: the file's tail is unknown
  std::unordered_map<std::string, std::uint32_t> live_;
};

}  // namespace troupe::exec
