#include "runtime/exec/process_backend.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/exec/output_store.hpp"
#include "runtime/exec/spawn.hpp"
#include "runtime/common/log.hpp"

namespace troupe::exec {

namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// After the shim exits, how long the job's pipes may stay open (nothing of the
// job is left to hold them; a safety net only).
constexpr auto drain_grace = 2s;
// Poll interval when pidfd_open is unavailable.
constexpr auto exit_poll_interval = 20ms;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

class fd_holder {
 public:
  explicit fd_holder(int fd = -1) : fd_(fd) {}
  ~fd_holder() { reset(); }
  fd_holder(const fd_holder&) = delete;
  fd_holder& operator=(const fd_holder&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// The shim's control pipe, shared with the cancel callback (which may run on
// another thread, even after run() returned): a kill request is written only
// while the pipe is open, i.e. before the shim was reaped.
struct kill_switch {
  std::mutex mutex;
  int control_fd = -1;
  bool reaped = false;

  void kill_all() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!reaped) request_kill(control_fd);
  }
};

bool leader_exited(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return true;
  return info.si_pid == pid;
}

// A job id names a directory: it must not reach outside its parent.
void check_job_id(const std::string& id) {
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos || id.find('\0') != std::string::npos)
    throw std::runtime_error("job id '" + id + "' cannot name a working directory");
}

std::string describe_signal(int sig, const process_options& o, std::uint64_t cpu_seconds) {
  std::string s = "killed by signal " + std::to_string(sig);
  if (sig == SIGXFSZ)
    s += " (SIGXFSZ: a file reached the size limit of " + std::to_string(o.max_file_bytes) +
         " bytes, [executor.process] max_file_bytes)";
  else if (sig == SIGXCPU)
    s += " (SIGXCPU: the CPU time limit of " + std::to_string(cpu_seconds) + " s was reached)";
  return s;
}

// Removes the job's working directory once nothing of the job runs any more.
struct work_dir_guard {
  std::string path;
  ~work_dir_guard() {
    if (path.empty()) return;
    try {
      remove_tree(path);
    } catch (const std::exception& e) {
      TLOG(warn, "process_backend") << "could not remove the working directory of a finished job: " << e.what();
    }
  }
};

}  // namespace

process_backend::process_backend(process_options options) : options_(std::move(options)) {
  if (options_.nice < 0 || options_.nice > 19)
    throw std::runtime_error("[executor.process] nice " + std::to_string(options_.nice) + " is not 0-19");
  user_ = resolve_job_user(options_.user);
  // At startup, not per job: a node without its shim must not accept jobs.
  shim_path_ = locate_shim(options_.shim_path);
  prepare_private_dir(options_.work_dir);
}

bool process_backend::healthy() {
  if (::access("/bin/sh", X_OK) != 0) return false;
  if (::access(shim_path_.c_str(), X_OK) != 0) return false;
  try {
    prepare_private_dir(options_.work_dir);  // e.g. a cleaner removed /tmp/troupe-jobs
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<std::string> process_backend::orphaned_jobs(std::uint64_t) { return {}; }

void process_backend::remove_job_artifacts(const std::string&) {}

job_result process_backend::run(const job_spec& spec, cancel_token& cancel) {
  return run_with_output(spec, [&](job_output& out, job_result& r) { execute(spec, cancel, out, r); });
}

void process_backend::execute(const job_spec& spec, cancel_token& cancel, job_output& out, job_result& r) {
  if (spec.command.empty()) throw std::runtime_error("job " + spec.job_id + " has an empty command");
  if (spec.timeout.count() <= 0)
    throw std::runtime_error("job " + spec.job_id + " has a non-positive timeout (" +
                             std::to_string(spec.timeout.count()) + " s)");
  if (cancel.cancelled()) {
    r.result = outcome::cancelled;
    r.error = "cancelled before start";
    return;
  }
  check_job_id(spec.job_id);

  // A fresh directory of the job's own, outside the data dir: work_dir and
  // the node's directory below it belong to the node (0711: enterable, not
  // listable or writable by jobs), the job's to the job user (0700).
  prepare_private_dir(options_.work_dir);
  const std::string node_dir = options_.work_dir + "/node-" + std::to_string(spec.node_id);
  prepare_private_dir(node_dir);
  work_dir_guard dir;
  const std::string job_dir = node_dir + "/" + spec.job_id + "-" + std::to_string(spec.attempt);
  remove_tree(job_dir);  // left by a node that crashed during this attempt
  if (::mkdir(job_dir.c_str(), 0700) != 0) throw_errno("cannot create working directory " + job_dir);
  dir.path = job_dir;
  if (user_.switch_user && ::lchown(job_dir.c_str(), user_.uid, user_.gid) != 0)
    throw_errno("cannot hand working directory " + job_dir + " to user " + user_.name);

  spawn_plan plan;
  plan.argv = {"/bin/sh", "-c", spec.command};
  // Fixed and minimal: nothing of the node's own environment (tokens,
  // credentials, paths to its data) reaches a job.
  plan.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + job_dir, "LANG=C.UTF-8", "TROUPE_JOB_ID=" + spec.job_id,
              "TMPDIR=" + job_dir};
  plan.work_dir = job_dir;
  plan.user = user_;
  plan.max_processes = options_.max_processes;
  plan.max_file_bytes = options_.max_file_bytes;
  const std::uint64_t cpu_seconds =
      options_.cpu_s ? options_.cpu_s : static_cast<std::uint64_t>(spec.timeout.count());
  plan.cpu_seconds = cpu_seconds;
  plan.address_space_bytes = options_.rlimit_as_bytes.value_or(0);
  plan.nice = options_.nice;

  spawned_job job = spawn_job(shim_path_, plan);
  const pid_t shim = job.shim;
  fd_holder out_r(job.stdout_fd), err_r(job.stderr_fd), report(job.report_fd);
  auto killer = std::make_shared<kill_switch>();
  killer->control_fd = job.control_fd;
  // Closes the control pipe only once the shim is reaped (the cancel callback
  // may still hold the kill switch).
  struct control_closer {
    std::shared_ptr<kill_switch> k;
    ~control_closer() {
      std::lock_guard<std::mutex> lock(k->mutex);
      k->reaped = true;
      if (k->control_fd >= 0) ::close(k->control_fd);
      k->control_fd = -1;
    }
  } closer{killer};

  int status = 0;
  bool reaped = false;
  try {
    cancel.on_cancel([killer] { killer->kill_all(); });

    fd_holder pidfd(static_cast<int>(::syscall(SYS_pidfd_open, shim, 0)));
    const auto deadline = clock::now() + spec.timeout;
    std::optional<clock::time_point> drain_deadline;
    bool exited = false;
    char buf[64 * 1024];
    while (out_r.get() >= 0 || err_r.get() >= 0 || !exited) {
      if (!exited && leader_exited(shim)) {
        // The shim exits only after every process of the job is gone, so the
        // pipes are at EOF already; the grace only guards against the
        // unforeseen.
        exited = true;
        drain_deadline = clock::now() + drain_grace;
      }
      if (exited && out_r.get() < 0 && err_r.get() < 0) break;
      auto now = clock::now();
      if (!r.timed_out && !exited && now >= deadline && !cancel.cancelled()) {
        r.timed_out = true;
        killer->kill_all();
      }
      if (drain_deadline && now >= *drain_deadline) break;
      pollfd fds[3];
      nfds_t n = 0;
      fd_holder* owners[2] = {nullptr, nullptr};
      for (fd_holder* stream : {&out_r, &err_r}) {
        if (stream->get() < 0) continue;
        owners[n] = stream;
        fds[n++] = {stream->get(), POLLIN, 0};
      }
      nfds_t streams = n;
      if (!exited && pidfd.get() >= 0) fds[n++] = {pidfd.get(), POLLIN, 0};
      auto until = drain_deadline ? *drain_deadline : (r.timed_out ? now + drain_grace : deadline);
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now) + 1ms;
      if (!exited && pidfd.get() < 0) wait = std::min<std::chrono::milliseconds>(wait, exit_poll_interval);
      int rc = ::poll(fds, n, static_cast<int>(std::max<std::chrono::milliseconds::rep>(wait.count(), 0)));
      if (rc < 0) {
        if (errno == EINTR) continue;
        throw_errno("poll");
      }
      for (nfds_t i = 0; i < streams; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          (owners[i] == &out_r ? out.out() : out.err()).write(std::string_view(buf, static_cast<std::size_t>(got)));
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
          owners[i]->reset();
        }
      }
    }
  } catch (const std::exception&) {
    // Never leave a job running (or the shim a zombie) behind an internal
    // error (e.g. its output could not be stored); run_with_output turns the
    // error into the job's result.
    killer->kill_all();
    while (::waitpid(shim, &status, 0) < 0 && errno == EINTR) {
    }
    throw;
  }
  pid_t reaped_pid;
  do {
    reaped_pid = ::waitpid(shim, &status, 0);
  } while (reaped_pid < 0 && errno == EINTR);
  reaped = reaped_pid == shim;
  const shim_report rep = read_report(report.get());

  if (!reaped) {
    // ECHILD: someone else reaped it (e.g. SIGCHLD set to SIG_IGN in the node).
    r.result = outcome::failed;
    r.error = std::string("lost the exit status of the job's reaper process: ") + std::strerror(errno);
  } else if (cancel.cancelled()) {
    r.result = outcome::cancelled;
    r.error = "cancelled";
  } else if (r.timed_out) {
    r.result = outcome::failed;
    r.error = "timed out after " + std::to_string(spec.timeout.count()) + " s";
  } else if (!rep.setup_error.empty()) {
    r.result = outcome::failed;
    r.error = "cannot start the job: " + rep.setup_error;
  } else if (!rep.have_status) {
    r.result = outcome::failed;
    r.error = "the job's reaper process ended without the job's exit status (" +
              (WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                   : "exit code " + std::to_string(WEXITSTATUS(status))) +
              ")";
  } else if (WIFEXITED(rep.status)) {
    r.exit_code = WEXITSTATUS(rep.status);
    r.result = *r.exit_code == 0 ? outcome::completed : outcome::failed;
    if (*r.exit_code != 0) r.error = "exited with code " + std::to_string(*r.exit_code);
    // The shell's code for a command a limit killed: say which limit.
    if (*r.exit_code == 128 + SIGXFSZ || *r.exit_code == 128 + SIGXCPU)
      r.error += " (a command was " + describe_signal(*r.exit_code - 128, options_, cpu_seconds) + ")";
  } else if (WIFSIGNALED(rep.status)) {
    r.result = outcome::failed;
    r.error = describe_signal(WTERMSIG(rep.status), options_, cpu_seconds);
  }
}

std::unique_ptr<backend> make_process_backend(process_options options) {
  return std::make_unique<process_backend>(std::move(options));
}

}  // namespace troupe::exec
