#include "runtime/exec/process_backend.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/exec/output_store.hpp"

namespace troupe::exec {

namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// After the job's shell exits (and its group is killed), how long its pipes may
// stay open: only a process that left the group (setsid) can hold them longer.
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

// The job's process group, shared with the cancel callback (which may run on
// another thread, even after run() returned). The group id stays valid while
// the leader is unreaped, so kills happen only before reaped is set.
struct process_group {
  std::mutex mutex;
  pid_t pgid = -1;
  bool reaped = false;

  void kill_all() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!reaped && pgid > 0) ::kill(-pgid, SIGKILL);
  }
};

void set_limit(int resource, std::uint64_t soft, std::uint64_t hard) {
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(soft);
  rl.rlim_max = static_cast<rlim_t>(hard);
  if (::setrlimit(resource, &rl) != 0) _exit(126);
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(const char* const argv[], int stdin_fd, int out_fd, int err_fd, pid_t parent,
                             const process_options& opts) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(125);  // the forking thread is already gone
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
  if (::dup2(stdin_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) _exit(126);
  if (opts.rlimit_as_bytes) set_limit(RLIMIT_AS, *opts.rlimit_as_bytes, *opts.rlimit_as_bytes);
  // Hard limit one second later: SIGXCPU at the limit says why, SIGKILL backs it up.
  if (opts.rlimit_cpu_seconds) set_limit(RLIMIT_CPU, *opts.rlimit_cpu_seconds, *opts.rlimit_cpu_seconds + 1);
  if (opts.rlimit_nproc) set_limit(RLIMIT_NPROC, *opts.rlimit_nproc, *opts.rlimit_nproc);
  ::execv("/bin/sh", const_cast<char* const*>(argv));
  _exit(127);
}

bool leader_exited(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return true;
  return info.si_pid == pid;
}

}  // namespace

bool process_backend::healthy() { return ::access("/bin/sh", X_OK) == 0; }

std::vector<std::string> process_backend::orphaned_jobs(std::uint64_t) { return {}; }

void process_backend::remove_job_artifacts(const std::string&) {}

job_result process_backend::run(const job_spec& spec, cancel_token& cancel) {
  return run_with_output(spec, [&](job_output& out, job_result& r) { execute(spec, cancel, out, r); });
}

void process_backend::execute(const job_spec& spec, cancel_token& cancel, job_output& out, job_result& r) {
  int status = 0;
  pid_t pid = -1;
  auto group = std::make_shared<process_group>();
  try {
    if (spec.command.empty()) throw std::runtime_error("job " + spec.job_id + " has an empty command");
    if (spec.timeout.count() <= 0)
      throw std::runtime_error("job " + spec.job_id + " has a non-positive timeout (" +
                               std::to_string(spec.timeout.count()) + " s)");
    if (cancel.cancelled()) {
      r.result = outcome::cancelled;
      r.error = "cancelled before start";
    } else {
      int out_pipe[2], err_pipe[2];
      if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe");
      fd_holder out_r(out_pipe[0]), out_w(out_pipe[1]);
      if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw_errno("pipe");
      fd_holder err_r(err_pipe[0]), err_w(err_pipe[1]);
      fd_holder devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (devnull.get() < 0) throw_errno("open /dev/null");

      const char* argv[] = {"sh", "-c", spec.command.c_str(), nullptr};
      const pid_t parent = ::getpid();
      pid = ::fork();
      if (pid < 0) throw_errno("fork");
      if (pid == 0) exec_child(argv, devnull.get(), out_w.get(), err_w.get(), parent, options_);
      ::setpgid(pid, pid);  // also in the child: whichever runs first wins the race
      {
        std::lock_guard<std::mutex> lock(group->mutex);
        group->pgid = pid;
      }
      out_w.reset();
      err_w.reset();
      devnull.reset();
      cancel.on_cancel([group] { group->kill_all(); });

      fd_holder pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      const auto deadline = clock::now() + spec.timeout;
      std::optional<clock::time_point> drain_deadline;
      bool exited = false;
      char buf[64 * 1024];
      while (out_r.get() >= 0 || err_r.get() >= 0 || !exited) {
        if (!exited && leader_exited(pid)) {
          exited = true;
          group->kill_all();  // background processes the job left behind
          drain_deadline = clock::now() + drain_grace;
        }
        if (exited && out_r.get() < 0 && err_r.get() < 0) break;
        auto now = clock::now();
        if (!r.timed_out && !exited && now >= deadline && !cancel.cancelled()) {
          r.timed_out = true;
          group->kill_all();
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
          group->kill_all();
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
      pid_t reaped_pid;
      {
        std::lock_guard<std::mutex> lock(group->mutex);
        do {
          reaped_pid = ::waitpid(pid, &status, 0);
        } while (reaped_pid < 0 && errno == EINTR);
        group->reaped = true;
      }

      if (reaped_pid != pid) {
        // ECHILD: someone else reaped it (e.g. SIGCHLD set to SIG_IGN in the node).
        r.result = outcome::failed;
        r.error = std::string("lost the exit status of the job's shell: ") + std::strerror(errno);
      } else if (cancel.cancelled()) {
        r.result = outcome::cancelled;
        r.error = "cancelled";
      } else if (r.timed_out) {
        r.result = outcome::failed;
        r.error = "timed out after " + std::to_string(spec.timeout.count()) + " s";
      } else if (WIFEXITED(status)) {
        r.exit_code = WEXITSTATUS(status);
        r.result = *r.exit_code == 0 ? outcome::completed : outcome::failed;
        if (*r.exit_code != 0) r.error = "exited with code " + std::to_string(*r.exit_code);
      } else if (WIFSIGNALED(status)) {
        r.result = outcome::failed;
        r.error = "killed by signal " + std::to_string(WTERMSIG(status));
      }
    }
  } catch (const std::exception&) {
    // Never leave a job running (or a zombie) behind an internal error;
    // run_with_output turns the error into the job's result.
    std::lock_guard<std::mutex> lock(group->mutex);
    if (pid > 0 && !group->reaped) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      group->reaped = true;
    }
    throw;
  }
}

std::unique_ptr<backend> make_process_backend(process_options options) {
  return std::make_unique<process_backend>(options);
}

}  // namespace troupe::exec
