// Job output on disk: <output_dir>/<job_id>/stdout, stderr and meta.json
// (stdout and stderr only when the job wrote to them; the directory only
// when something is stored in it).
//
// Each stream is written as it is produced, capped at output_cap_bytes; bytes
// past the cap are counted but not stored, and the cap is recorded in
// meta.json (truncated + original sizes) so a reader can tell a cut stream from
// a short one. meta.json is written last, atomically (temp file, fsync,
// rename, fsync of the directory): its presence means the output is complete.
// The process backend writes it only for a job whose result does not carry
// its whole output inline (see finish_unsynced): the only jobs whose stored
// output anyone reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "runtime/exec/job.hpp"

namespace troupe::exec {

// The disk (or the quota, or the node's file size limit) refused a job's
// output: ENOSPC, EDQUOT or EFBIG. It fails that job ("job output could not
// be stored: no space left on device (<path>)"), never the node: only the
// Raft log's storage errors stop a node.
class output_full_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One capped output stream backed by a file.
class output_sink {
 public:
  output_sink() = default;
  ~output_sink();
  output_sink(const output_sink&) = delete;
  output_sink& operator=(const output_sink&) = delete;

  // Empties what an earlier attempt left at path; a missing file is created
  // with the stream's first byte, so a silent stream costs no inode (a
  // reader takes a missing file as empty). Throws std::runtime_error naming
  // the path.
  void open(const std::string& path, std::size_t cap_bytes, std::size_t inline_limit);
  // Stores what fits under the cap, counts everything. Throws on I/O error
  // (output_full_error when the disk is full).
  void write(std::string_view data);
  // Moves what the non-blocking pipe `pipe_fd` holds into the stream, with
  // the same cap, counts and inline copy as write(): the first inline_limit
  // bytes pass through memory (they are kept for the result), the rest up to
  // the cap is splice(2)d from the pipe straight into the file (no copy
  // through the node), and what lies past the cap is counted and spliced
  // into /dev/null. Falls back to read/write where splice is refused
  // (EINVAL: a file system or device without splice support). Does a
  // bounded amount of work per call, so one chatty job cannot hold an event
  // loop. Returns false at EOF (or when the pipe cannot be read any more),
  // true when the pipe is empty for now or the bound was reached. Throws as
  // write() does.
  bool drain(int pipe_fd);
  // fsyncs and closes. Throws on I/O error.
  void finish();
  // Closes without fsync (the caller syncs the file system; see
  // job_output::finish_unsynced). Throws on I/O error.
  void close_unsynced();

  std::uint64_t total_bytes() const { return total_; }
  bool truncated() const { return total_ > cap_; }
  const std::string& inline_data() const { return inline_; }

 private:
  int fd_ = -1;
  void create_file();  // on the first byte to store

  std::string path_;
  std::size_t cap_ = 0;
  std::size_t inline_limit_ = 0;
  std::uint64_t total_ = 0;
  std::string inline_;
  bool splice_file_ = true, splice_null_ = true;  // cleared when the kernel refuses splice there
  int null_fd_ = -1;                               // /dev/null, opened on first overflow
};

// The two streams of one job plus its meta.json.
class job_output {
 public:
  // Removes what an earlier run of the same job stored (a stale meta.json,
  // the streams' files emptied) and opens both streams. The directory
  // output_dir/job_id/ (and output_dir) is made with the first file stored
  // in it: a quiet job whose output is not stored costs no inode. Throws
  // std::runtime_error with the failing path.
  explicit job_output(const job_spec& spec);

  output_sink& out() { return stdout_; }
  output_sink& err() { return stderr_; }

  // Closes the streams, copies sizes/inline data/truncation into r and writes
  // meta.json. Throws std::runtime_error on I/O error.
  void finish(job_result& r);

  // finish() in two halves, for a backend that stores many jobs' output
  // with one sync (group commit) instead of four fsyncs each:
  //   finish_unsynced(r) for each job  closes the streams, fills r, writes
  //                                    meta.json.tmp; nothing synced
  //   syncfs of the output file system streams and temp files durable
  //   publish() for each job           renames meta.json.tmp to meta.json
  //   syncfs again                     the renames durable
  // After the second sync the output is exactly as durable as after
  // finish(), and meta.json still appears only once everything before it is
  // on disk. Both throw std::runtime_error (output_full_error) on I/O error.
  //
  // Unlike finish(), finish_unsynced stores nothing when r then carries the
  // whole output inline (no stream past inline_limit or the cap): the result
  // goes into the log with all of it, and readers ask the node for stored
  // output only when the result says it was cut (node_service's get), so a
  // meta.json would never be read. It returns whether it wrote one, i.e.
  // whether this job needs the syncs and publish() (a no-op otherwise). For
  // the many short quiet jobs this spares an inode, a 4 KiB block, a rename
  // and often both syncs.
  bool finish_unsynced(job_result& r);
  void publish();
  const std::string& dir() const { return dir_; }

 private:
  void fill(job_result& r) const;  // sizes, inline copies and truncation from the streams
  std::string meta_text(const job_result& r) const;
  bool meta_pending_ = false;  // finish_unsynced wrote meta.json.tmp for publish()
  std::string dir_;
  std::string job_id_;
  std::size_t cap_;
  output_sink stdout_, stderr_;
};

// The frame every backend's run() shares: opens the job's output, runs
// `execute` with it, then stores it. A failure to open or store the output
// fails the job with "cannot store output: ..." (a full disk with
// output_full_error's message); an exception from `execute` fails it with the
// exception's message. The first full-disk error is the one reported.
job_result run_with_output(const job_spec& spec, const std::function<void(job_output&, job_result&)>& execute);

// The two failure rules of that frame, for a backend that runs its own
// (process_backend's event loop): the run threw `e` -- the job failed with
// its message; returns whether the disk was full. Storing the output threw
// `e` -- the job failed with "cannot store output: ..." (a full disk with its
// own message), unless the run already reported a full disk (`run_full`).
bool record_run_error(job_result& r, const std::exception& e);
void record_store_error(job_result& r, const std::exception& e, bool run_full);

struct stored_output {
  bool found = false;  // meta.json present (the job's output is complete)
  std::string stdout_data, stderr_data;
  bool truncated = false;
  std::uint64_t stdout_bytes = 0, stderr_bytes = 0;  // written by the job, before the cap
};

// Deletes output_dir/job_id and everything in it (no symlink is followed);
// nothing when it does not exist. For jobs the table evicted. Throws
// std::runtime_error naming what could not be removed or a bad job id.
void remove_output(const std::string& output_dir, const std::string& job_id);

// Reads what job_output stored. found=false when the job has no complete output.
// Throws std::runtime_error when meta.json exists but cannot be parsed.
stored_output read_output(const std::string& output_dir, const std::string& job_id);

}  // namespace troupe::exec
