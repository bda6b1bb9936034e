// The process backend's sandboxed spawn: a reaper ("shim") process between
// the node and each running job, and the privilege drop.
//
// How every descendant of a job is killed, and why this way:
//   A shim per running job (it keeps the node's user) is a child subreaper
//   (PR_SET_CHILD_SUBREAPER) and starts the job's `sh -c`.
//   Whatever the job leaves behind when its parent dies (`setsid cmd &`,
//   double-fork daemons, a new session or process group) is re-parented to
//   that shim, never to init and never to the node, so "the job's processes"
//   are exactly the shim's descendants, whatever sessions, groups or names
//   they use. To stop the job, the shim SIGKILLs each child it has, reaps, and
//   repeats until waitpid reports no child left (the children of a killed
//   process become the shim's children before the shim can reap it); only
//   then does it report and exit. Causes: the job's shell exits (completion),
//   the node asks (a byte on the control pipe: cancel, timeout, node shutdown)
//   or the node is gone (EOF on the control pipe, so even a crashed node's
//   jobs die).
//   Rejected alternatives: a cgroup v2 sub-tree (cgroup.kill) needs a
//   writable, delegated cgroup2 hierarchy, which containers and hybrid hosts
//   (this one: cgroup v1 + /sys/fs/cgroup/unified) often lack, and would need
//   a fallback anyway; the node itself as subreaper would inherit every
//   orphan of every job with no way to tell whose it is (all jobs share one
//   uid) and its waitpid(-1) would race the backend's waitpid of each job;
//   killing by uid would kill the other jobs of that user.
//   The shim runs as the node's user: a job running as another user cannot
//   signal it. (A node not running as root runs jobs as itself, so it has no
//   isolation from them to begin with.)
//
// The shim is its own small executable (troupe-job-shim), never a fork of
// the node: forking the large, many-threaded node would copy its page tables
// and make it take copy-on-write faults (and TLB shootdowns on every thread)
// afterwards; with a fork per job that was a quarter of the node's CPU under
// load. Exec'ing the shim per job (posix_spawn) avoided that but cost an
// exec, a fresh address space and a static start-up per job. So the node
// starts one shim per backend, once, as a fork server (fork_server.hpp,
// shim_main.cpp), and that small process hands each job's descriptors and
// settings, which the shim validates, to an idle shim (shim_job.cpp) or
// forks a new one. A shim is idle again once its job and every descendant
// of it are gone and its report is written: it holds nothing of that job
// (no process, no descriptor) when it takes the next. A fork and exit per
// job cost a fifth of the jobs' own CPU (docs/BENCHMARKS.md, twenty-fifth
// round).
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

#include "runtime/exec/remove_tree.hpp"

namespace troupe::exec {

// Whom jobs run as, resolved once when the backend starts.
struct job_user {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = false;  // false: jobs run as the node's own user (the node is not root)
};

// Resolves `[executor.process] user`: empty means "nobody" when the node runs
// as root and the node's own user otherwise. Throws std::runtime_error with a
// clear reason: unknown user, a root node asked to run jobs as root (uid 0),
// or a non-root node asked to run jobs as another user (it cannot switch).
job_user resolve_job_user(const std::string& configured);

// Creates `path` (mode 0711, the node's) when missing and checks that it is a
// real directory owned by the node that nobody else can write to, so no other
// user can plant or swap job directories. Throws std::runtime_error.
void prepare_private_dir(const std::string& path);

// Where the troupe-job-shim executable is: `configured` when not empty (no
// other place is tried then), else next to the running executable
// (/proc/self/exe's directory), else <prefix>/libexec/troupe/troupe-job-shim,
// else (only for an executable inside the build tree: tests) the build
// tree's copy. The file must be a regular executable that only root or the
// node's user can write (the node may run it as root). Throws
// std::runtime_error naming every place tried.
std::string locate_shim(const std::string& configured);

struct spawn_plan {
  std::vector<std::string> argv;  // argv[0] is the program path
  std::vector<std::string> env;   // "NAME=value", the job's whole environment
  std::string work_dir;           // the job's working directory
  job_user user;
  std::uint64_t max_processes = 0;  // RLIMIT_NPROC (0: unchanged)
  std::uint64_t max_file_bytes = 0;  // RLIMIT_FSIZE (0: unchanged)
  std::uint64_t cpu_seconds = 0;     // RLIMIT_CPU soft; hard one second later (0: unchanged)
  std::uint64_t address_space_bytes = 0;  // RLIMIT_AS (0: unchanged)
  int nice = 0;                           // 0-19: the job's nice value (only ever raised)
};

// A running job: the node's ends of its shim's pipes (all O_CLOEXEC and
// O_NONBLOCK; the caller closes them). The shim is the fork server's child,
// not the node's: its report pipe is how the node learns that it ended.
struct spawned_job {
  int stdout_fd = -1, stderr_fd = -1;
  int control_fd = -1;  // write one byte (or close) to kill the whole job
  int report_fd = -1;   // the shim's report; EOF once it exited
};

class fork_server;

// Has `server` start a shim for the job, which forks the job. Throws
// std::runtime_error when a pipe fails or the server cannot be reached
// (nothing is left running then). Safe to call from any thread.
spawned_job spawn_job(fork_server& server, const spawn_plan& plan);

// Tells the shim to kill every process of the job. Safe to call more than
// once; never blocks (the shim reads the pipe while the job runs).
void request_kill(int control_fd);

// What the shim reported after it exited.
struct shim_report {
  bool have_status = false;  // the job's shell was reaped (its wait status below)
  int status = 0;
  std::string setup_error;   // why the job could not be started (privilege drop, rlimits, chdir, exec)
};

// Reads the report of an exited shim (non-blocking reads until EOF).
shim_report read_report(int report_fd);
// Parses the whole report (everything read from the pipe until EOF).
shim_report parse_report(std::string data);

}  // namespace troupe::exec
