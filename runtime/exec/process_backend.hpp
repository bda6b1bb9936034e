// Runs each job as `sh -c COMMAND` under a reaper process (spawn.hpp),
// as an unprivileged user (`[executor.process] user`; "nobody" when the node
// runs as root), in an empty private working directory (mode 0700, the job
// user's, outside the data dir, emptied after the job), with a minimal fixed
// environment (never the node's), no new privileges, stdin /dev/null, no
// inherited descriptors, a lower CPU priority (nice) and rlimits: processes
// of the job user (RLIMIT_NPROC), bytes per file (RLIMIT_FSIZE), CPU seconds
// (RLIMIT_CPU: cpu_s or the timeout), no core dumps. Cancel, timeout and
// completion kill every descendant of the job, `setsid` and double-fork
// escapes included; so does the node's death (the reaper sees its control
// pipe close, kills the job and empties its directory).
//
// Working directories are reusable slots, <work_dir>/node-<id>/slot-<k>, one
// per job running at once (k is the smallest slot free when the job starts),
// not a directory per job: on an ext4 without a journal every inode deleted
// in the last minutes makes each later inode allocation scan past it, so a
// directory created and removed per job made every job slower than the one
// before. A slot is the job user's only while a job runs in it; it is handed
// back to the node before it is emptied and stays the node's while idle, so
// no other job can leave files for the next one. A slot this backend has not
// used yet, or could not empty, is removed and made afresh before its next
// use (whatever a crashed node left there goes then). Each slot this backend
// uses is locked to it (<node dir>/slot-<k>.lock), so that another node with
// the same id and work_dir on the same machine takes other slots.
//
// Cost per job, since it runs many short jobs: the reaper is forked off a
// small fork server (fork_server.hpp; no fork of the node, no exec), and the backend
// has three threads whatever the number of jobs, each with one
// responsibility:
//   starter   records the starts of a batch of jobs with one sync
//             (start_records.hpp), makes their directories, spawns them
//   loop      one epoll loop watching every running job (process_loop.hpp):
//             output spliced into the files, exits, timeouts
//   finisher  the slow end of a batch of finished jobs: empties their
//             directories, makes the output and meta.json of those whose
//             result does not carry all of it inline durable with two syncs
//             for the batch (group commit, job_output::finish_unsynced)
//             instead of four fsyncs each, reports (so the loop never waits
//             on the disk)
//
// Weaker than the Docker backend: the job shares the machine's filesystem
// (as an unprivileged user), network and the other jobs' uid.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/exec/backend.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/exec/spawn.hpp"

namespace troupe::exec {

// Mirrors [executor.process] (config/node_config.hpp).
struct process_options {
  std::string user;                           // "": "nobody" when the node runs as root, else the node's user
  std::string work_dir = "/tmp/troupe-jobs";  // job directories (slots) below <work_dir>/node-<id>/
  std::uint64_t max_processes = 256;          // RLIMIT_NPROC: processes of the job's user
  std::uint64_t max_file_bytes = 1ull << 30;  // RLIMIT_FSIZE: one file the job writes
  std::uint64_t cpu_s = 0;                    // RLIMIT_CPU (SIGXCPU, SIGKILL 1 s later); 0: the job's timeout
  std::optional<std::uint64_t> rlimit_as_bytes;  // RLIMIT_AS (address space); unset: none
  int nice = 10;                              // 0-19: jobs yield the CPU to the node (its Raft path)
  std::vector<unsigned> cpus;                 // the only CPUs jobs may run on; empty: any the node may use
  std::string shim_path;                      // "": found by locate_shim (spawn.hpp)
};

class fork_server;
class process_loop;
struct process_job;

class process_backend final : public backend {
 public:
  // Resolves the job user, finds the job shim and prepares work_dir. Throws
  // std::runtime_error with the reason (unknown user, a user this node cannot
  // switch to, a work_dir another user owns or can write, no usable
  // troupe-job-shim).
  explicit process_backend(process_options options);
  // Kills every running job and reports it (cancelled), then stops the threads.
  ~process_backend() override;

  std::string name() const override { return "process"; }
  // /bin/sh is executable and work_dir is usable.
  bool healthy() override;
  const job_user& user() const { return user_; }
  const std::string& shim_path() const { return shim_path_; }
  // The pid of the job shim's fork server (tests).
  pid_t shim_server_pid();
  // start() and a wait for its result.
  job_result run(const job_spec& spec, cancel_token& cancel) override;
  void start(const job_spec& spec, std::shared_ptr<cancel_token> cancel, done_callback done) override;
  // Always empty: jobs are killed with their node (see above).
  std::vector<std::string> orphaned_jobs(std::uint64_t node_id) override;
  // Nothing outlives a run, so nothing to remove; stored output is kept.
  void remove_job_artifacts(const std::string& job_id) override;

 private:
  void lower_own_priority() const;
  void starter_main();
  void launch(std::unique_ptr<process_job> job);
  void prepare(process_job& job);
  void to_finisher(std::unique_ptr<process_job> job);
  void finisher_main();
  bool settle(process_job& job);
  void finish_batch(std::vector<std::unique_ptr<process_job>>& batch);

  // The smallest free slot of node `node_id` (its directory `node_dir`);
  // `fresh` says whether it must be made afresh (never used by this backend,
  // or not emptied after its last job). Throws when no slot can be claimed.
  // Any thread.
  std::size_t acquire_slot(std::uint64_t node_id, const std::string& node_dir, bool& fresh);
  // `emptied`: its job's files are gone and it is the node's again.
  void release_slot(std::uint64_t node_id, std::size_t slot, bool emptied);
  // Readies a slot for the job user (throws), and empties it after the job
  // (returns whether that worked; logs why not).
  void enter_slot(const std::string& path, bool fresh);
  bool leave_slot(const std::string& path);

  process_options options_;
  job_user user_;
  std::string shim_path_;
  std::unique_ptr<fork_server> server_;  // runs each job in a shim

  // foreign: claimed by another backend (claim_slot), never used here.
  enum class slot_state { fresh, idle, busy, foreign };
  struct slot {
    slot_state state = slot_state::fresh;
    int lock_fd = -1;  // holds the slot's flock while this backend lives
  };
  static constexpr std::size_t max_slots_per_node = 4096;
  slot claim_slot(const std::string& node_dir, std::size_t k);
  std::mutex slots_mutex_;
  std::map<std::uint64_t, std::vector<slot>> slots_;  // node id -> its slots by number

  std::mutex mutex_;
  std::condition_variable wake_starter_;
  std::deque<std::unique_ptr<process_job>> pending_;  // waiting for the starter
  bool stopping_ = false;

  std::mutex finish_mutex_;
  std::condition_variable wake_finisher_;
  std::deque<std::unique_ptr<process_job>> finishing_;  // waiting for the finisher
  bool finish_stopping_ = false;

  std::thread finisher_;
  std::unique_ptr<process_loop> loop_;
  std::thread starter_;
};

// Throws std::runtime_error as the constructor does.
std::unique_ptr<backend> make_process_backend(process_options options);

}  // namespace troupe::exec
