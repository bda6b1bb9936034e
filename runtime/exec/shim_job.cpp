// The reaper of troupe-job-shim (see spawn.hpp for the design): a child of
// the fork server (shim_main.cpp) that runs one job at a time, each with the
// descriptor layout and arguments of shim_protocol.hpp. It runs as the
// node's user (root when jobs switch users), so it trusts nothing it is
// given without checking it; it depends on libc and libstdc++ only.
//
// It is a child subreaper; for each job it starts the job's shell (which
// applies nice and rlimits, drops privileges and execs: the shell, or a
// plain external command itself, direct_command.hpp), and when the shell
// exits, the node asks, or the node is gone (EOF on the control pipe), kills
// every descendant until none is left, then reports. Nothing of a job is
// left then (no process, no descriptor) for the next job it runs.
#include "runtime/exec/shim_job.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "runtime/exec/direct_command.hpp"
#include "runtime/exec/remove_tree.hpp"
#include "runtime/exec/shim_protocol.hpp"

namespace {

namespace shim = troupe::exec::shim;

struct job_params {
  std::string work_dir;
  bool switch_user = false;
  std::string user_name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint64_t max_processes = 0, max_file_bytes = 0, cpu_seconds = 0, as_bytes = 0;
  int nice = 0;
  char nice_text[4] = "";  // nice as text, for the shell's error message
  char** argv = nullptr;  // the job's, NULL-terminated
  char** envp = nullptr;
  // When argv is `/bin/sh -c COMMAND` and COMMAND a plain external command
  // (direct_command.hpp): its words and where to look for it, built before
  // the job's process starts (which must not allocate).
  std::vector<std::string> direct_words;
  std::vector<char*> direct_argv;  // into direct_words, NULL-terminated
  std::vector<std::string> direct_paths;
  bool direct() const { return !direct_argv.empty(); }
};

void write_all_raw(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

// The job could not be started: the reason goes to the node through the
// report pipe (close-on-exec, so the job itself never holds it). The message
// is built in a fixed buffer: this also runs in the job's shell before its
// exec, which shares the shim's memory (see start_shell) and must not
// allocate.
[[noreturn]] void setup_failed(const char* what, const char* detail, int err, int code) {
  char msg[1024];
  std::size_t n = 0;
  auto put = [&](const char* s) {
    while (*s && n < sizeof msg - 1) msg[n++] = *s++;
  };
  msg[n++] = shim::report_setup_error;
  put(what);
  if (*detail) {
    put(" ");
    put(detail);
  }
  if (err) {
    const char* text = ::strerrordesc_np(err);
    put(": ");
    put(text ? text : "unknown error");
  }
  msg[n++] = '\n';
  write_all_raw(shim::fd_report, msg, n);
  _exit(code);
}

// Strict decimal parse: the whole string, no sign, no overflow past max.
bool parse_u64(const char* s, std::uint64_t max, std::uint64_t* out) {
  if (!s || !*s) return false;
  std::uint64_t v = 0;
  for (const char* c = s; *c; ++c) {
    if (*c < '0' || *c > '9') return false;
    std::uint64_t d = static_cast<std::uint64_t>(*c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// Checks the command line the node built; anything unexpected ends the shim
// before it does anything (nothing is running yet).
bool parse_args(int argc, char** argv, char** envp, job_params* p) {
  if (argc <= shim::arg_job_argv) return false;
  if (std::strcmp(argv[shim::arg_magic], shim::magic) != 0) return false;
  if (std::strcmp(argv[shim::arg_separator], "--") != 0) return false;
  std::uint64_t v = 0;
  p->work_dir = argv[shim::arg_work_dir];
  if (p->work_dir.empty() || p->work_dir[0] != '/') return false;
  const std::string sw = argv[shim::arg_switch_user];
  if (sw != "0" && sw != "1") return false;
  p->switch_user = sw == "1";
  p->user_name = argv[shim::arg_user_name];
  if (!parse_u64(argv[shim::arg_uid], UINT32_MAX - 1, &v)) return false;
  p->uid = static_cast<uid_t>(v);
  if (!parse_u64(argv[shim::arg_gid], UINT32_MAX - 1, &v)) return false;
  p->gid = static_cast<gid_t>(v);
  if (p->switch_user && p->uid == 0) return false;  // never "switch" to root
  if (!parse_u64(argv[shim::arg_max_processes], UINT64_MAX, &p->max_processes)) return false;
  if (!parse_u64(argv[shim::arg_max_file_bytes], UINT64_MAX, &p->max_file_bytes)) return false;
  if (!parse_u64(argv[shim::arg_cpu_seconds], UINT64_MAX - 1, &p->cpu_seconds)) return false;
  if (!parse_u64(argv[shim::arg_as_bytes], UINT64_MAX, &p->as_bytes)) return false;
  if (!parse_u64(argv[shim::arg_nice], 19, &v)) return false;
  p->nice = static_cast<int>(v);
  std::snprintf(p->nice_text, sizeof p->nice_text, "%d", p->nice);
  p->argv = argv + shim::arg_job_argv;
  if (p->argv[0][0] != '/') return false;
  p->envp = envp;
  return true;
}

// The process backend sends `/bin/sh -c COMMAND`: a plain external command
// (direct_command.hpp) is run without the shell, looked up in the job's PATH
// as the shell would (with no PATH, the shell's own default applies: left to it).
void plan_direct(int argc, job_params* p) {
  if (argc != shim::arg_job_argv + 3 || std::strcmp(p->argv[0], "/bin/sh") != 0 || std::strcmp(p->argv[1], "-c") != 0)
    return;
  const char* path = nullptr;
  for (char** e = p->envp; *e && !path; ++e)
    if (std::strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  if (!path || std::strchr(path, '%')) return;  // dash reads `%` in PATH as its own option
  auto words = troupe::exec::direct_words(p->argv[2]);
  if (!words) return;
  p->direct_words = std::move(*words);
  p->direct_paths = troupe::exec::search_paths(p->direct_words.front(), path);
  for (auto& w : p->direct_words) p->direct_argv.push_back(w.data());
  p->direct_argv.push_back(nullptr);
}

void set_limit(int resource, const char* name, std::uint64_t soft, std::uint64_t hard) {
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(soft);
  rl.rlim_max = static_cast<rlim_t>(hard);
  if (::setrlimit(resource, &rl) != 0) setup_failed("cannot set", name, errno, 126);
}

// The job's shell, a child of the shim: lower priority, limits, privilege
// drop, exec. It shares the shim's memory until the exec (start_shell): only
// system calls and its own stack, no allocation.
[[noreturn]] void job_main(const job_params& p, pid_t shim_pid, bool* through_shell) {
  ::setpgid(0, 0);  // its own group: the first, quick SIGKILL goes to -pgid
  ::close(shim::fd_control);
  // The shim ignores these and nothing else (shim_protocol.hpp); one system
  // call each instead of one per signal, in the window where the shim waits.
  for (int sig : shim::ignored_signals) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Jobs yield the CPU to the node (its Raft path must not starve behind
  // busy jobs). Only ever raised: a node already nicer than this keeps its
  // jobs at its own value (lowering it would need privileges).
  errno = 0;
  int current = ::getpriority(PRIO_PROCESS, 0);
  if (!(current == -1 && errno != 0) && current < p.nice && ::setpriority(PRIO_PROCESS, 0, p.nice) != 0)
    setup_failed("cannot set the job's nice value to", p.nice_text, errno, 126);

  // Limits first, while still privileged enough to set any of them.
  set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
  if (p.max_file_bytes) set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", p.max_file_bytes, p.max_file_bytes);
  // Hard limit one second later: SIGXCPU at the limit says why, SIGKILL backs it up.
  if (p.cpu_seconds) set_limit(RLIMIT_CPU, "RLIMIT_CPU", p.cpu_seconds, p.cpu_seconds + 1);
  if (p.max_processes) set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", p.max_processes, p.max_processes);
  if (p.as_bytes) set_limit(RLIMIT_AS, "RLIMIT_AS", p.as_bytes, p.as_bytes);

  if (p.switch_user) {
    // Order matters: supplementary groups and the gid can only be changed
    // while still root; setuid last gives up root for good.
    if (::setgroups(0, nullptr) != 0) setup_failed("cannot drop supplementary groups for", p.user_name.c_str(), errno, 126);
    if (::setgid(p.gid) != 0) setup_failed("cannot switch to the group of", p.user_name.c_str(), errno, 126);
    if (::setuid(p.uid) != 0) setup_failed("cannot switch to user", p.user_name.c_str(), errno, 126);
    if (::getuid() != p.uid || ::geteuid() != p.uid || ::getgid() != p.gid || ::getegid() != p.gid)
      setup_failed("user switch did not take effect for", p.user_name.c_str(), 0, 126);
    if (p.uid != 0 && ::setuid(0) == 0) setup_failed("could regain root after switching to", p.user_name.c_str(), 0, 126);
  }
  // No setuid binary or file capability can raise the job's privileges again.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) setup_failed("cannot set", "PR_SET_NO_NEW_PRIVS", errno, 126);
  // Set after the user switch (a credential change clears it): if the shim
  // is killed, the shell goes with it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != shim_pid) _exit(125);
  if (::chdir(p.work_dir.c_str()) != 0) setup_failed("cannot enter working directory", p.work_dir.c_str(), errno, 126);
  // The program without its shell, as the shell would search for it; on any
  // error but a missing file the shell gets the command and says why (or
  // runs a script without #! itself).
  for (const auto& path : p.direct_paths) {
    ::execve(path.c_str(), p.direct_argv.data(), p.envp);
    if (errno != ENOENT && errno != ENOTDIR) break;
  }
  *through_shell = true;  // the shim reads it once this process has exec'd
  ::execve(p.argv[0], p.argv, p.envp);
  setup_failed("cannot execute", p.argv[0], errno, 127);
}

struct shell_start {
  const job_params* p;
  pid_t shim_pid;
  int signal_fd;
  bool* through_shell;
};

int shell_main(void* arg) {
  auto* s = static_cast<shell_start*>(arg);
  // The child's own descriptor table: the shim keeps its copies. Both are
  // close-on-exec too; closed here as well, since the channel carries other
  // jobs' requests and must never be the job's even before its exec.
  ::close(s->signal_fd);
  ::close(shim::fd_channel);
  job_main(*s->p, s->shim_pid, s->through_shell);
}

// Starts the job's shell as posix_spawn starts a child: clone with CLONE_VM |
// CLONE_VFORK, on a stack of its own. The shim waits until the shell has
// exec'd (or failed), and no copy of the shim's page tables is made only for
// the exec to discard it, as a fork did for every job. Descriptors, signal
// dispositions, limits and credentials are still the child's own (no
// CLONE_FILES, CLONE_SIGHAND or CLONE_THREAD).
// `through_shell` ends up true when the job's process exec'd the shell (its
// memory is the shim's until then), false when it exec'd a program itself.
pid_t start_shell(const job_params& p, pid_t self, int signal_fd, bool* through_shell) {
  alignas(16) static char stack[64 * 1024];
  shell_start s{&p, self, signal_fd, through_shell};
  return ::clone(shell_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &s);
}

// Parses "<pid> (<comm>) <state> <ppid> ..." for ppid; -1 when unreadable.
pid_t parent_of(const char* pid_name) {
  std::string path = std::string("/proc/") + pid_name + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // comm may contain spaces and parentheses: the last ')' ends it.
  char* close_paren = std::strrchr(buf, ')');
  if (!close_paren || close_paren + 4 >= buf + n) return -1;
  const char* q = close_paren + 4;  // ") S " then ppid
  long v = 0;
  bool any = false;
  while (*q >= '0' && *q <= '9') {
    v = v * 10 + (*q++ - '0');
    any = true;
  }
  return any ? static_cast<pid_t>(v) : -1;
}

// SIGKILLs every child of this process (found through /proc). Returns how
// many were signalled.
int kill_children(pid_t self) {
  DIR* dir = ::opendir("/proc");
  if (!dir) return 0;
  int killed = 0;
  while (dirent* d = ::readdir(dir)) {
    const char* name = d->d_name;
    if (name[0] < '1' || name[0] > '9') continue;
    char* end = nullptr;
    long pid = std::strtol(name, &end, 10);
    if (*end != '\0' || pid == self) continue;
    if (parent_of(name) == self) {
      ::kill(static_cast<pid_t>(pid), SIGKILL);
      ++killed;
    }
  }
  ::closedir(dir);
  return killed;
}

void sleep_ms(long ms) {
  struct timespec ts{0, ms * 1000000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

namespace troupe::exec::shim {

void close_fds_from(int first) {
  if (::close_range(static_cast<unsigned>(first), ~0U, 0) == 0) return;
  struct rlimit rl;
  long max = (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) ? static_cast<long>(rl.rlim_cur)
                                                                                    : 65536;
  for (long fd = first; fd < max; ++fd) ::close(static_cast<int>(fd));
}

int become_reaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    setup_failed("cannot become a child subreaper", "", errno, shim::exit_setup);
  for (int sig : shim::ignored_signals) ::signal(sig, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::signal(SIGCHLD, SIG_DFL);
  ::sigprocmask(SIG_SETMASK, &chld, nullptr);
  int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) setup_failed("cannot create a signalfd", "", errno, shim::exit_setup);
  if (sfd != shim::fd_signal) {
    if (::dup3(sfd, shim::fd_signal, O_CLOEXEC) < 0) setup_failed("cannot place the signalfd", "", errno, shim::exit_setup);
    ::close(sfd);
  }
  return shim::fd_signal;
}

bool run_job(int argc, char** argv, char** envp, int sfd) {
  // Nothing else the fork server held (its socket, other requests'
  // descriptors) or an earlier job left may live on here or in the job.
  close_fds_from(shim::shim_fds_end);
  for (int fd = 0; fd < shim::first_free_fd; ++fd)
    if (::fcntl(fd, F_GETFD) < 0) _exit(shim::exit_bad_usage);
  ::fcntl(shim::fd_control, F_SETFD, FD_CLOEXEC);
  ::fcntl(shim::fd_report, F_SETFD, FD_CLOEXEC);

  job_params p;
  if (!parse_args(argc, argv, envp, &p)) setup_failed("the job shim was started with bad arguments", "", 0, shim::exit_bad_usage);
  plan_direct(argc, &p);

  // The node is already gone (the control pipe's writer closed): start nothing.
  struct pollfd control = {shim::fd_control, POLLIN, 0};
  if (::poll(&control, 1, 0) == 1 && (control.revents & POLLHUP)) _exit(shim::exit_node_gone);
  // Held so that cleanup after the node's death empties this job's directory
  // even if a restarted node has already replaced it with a fresh one for
  // another job (directories are reused slots, see process_backend.hpp).
  // -1 when it cannot be opened: the next node removes leftovers anyway.
  const int work_fd = ::open(p.work_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  const pid_t self = ::getpid();
  bool through_shell = false;
  pid_t shell = start_shell(p, self, sfd, &through_shell);
  // The shell's report of a signal is the shell's to give when it runs.
  const bool direct = p.direct() && !through_shell;
  if (shell < 0) setup_failed("cannot fork the job", "", errno, shim::exit_setup);
  ::close(shim::fd_stdin);
  ::close(shim::fd_stdout);
  if (!direct) ::close(shim::fd_stderr);  // kept for the shell's line below

  bool have_status = false;
  int shell_status = 0;
  auto reap_ready = [&] {
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(-1, &st, WNOHANG);
      if (r == shell) {
        have_status = true;
        shell_status = st;
      }
      if (r <= 0) return r;
    }
  };

  // Run until the shell exits, the node asks, or the node is gone. A
  // SIGCHLD still pending from the previous job only makes reap_ready find
  // nothing.
  bool node_gone = false;
  for (bool stop = false; !stop;) {
    struct pollfd pfd[2] = {{shim::fd_control, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[0].revents) {  // a kill request, or EOF: the node died
      char c;
      node_gone = ::read(shim::fd_control, &c, 1) <= 0;
      stop = true;
    }
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      }
      reap_ready();
      if (have_status) stop = true;
    }
  }

  // A program run without its shell that a signal ended (here: not one of
  // ours, which come below) is reported as the shell reports it.
  if (direct) {
    if (have_status && WIFSIGNALED(shell_status)) {
      const std::string line = troupe::exec::shell_signal_line(WTERMSIG(shell_status), WCOREDUMP(shell_status));
      write_all_raw(shim::fd_stderr, line.data(), line.size());
      shell_status = W_EXITCODE(128 + WTERMSIG(shell_status), 0);
    }
    ::close(shim::fd_stderr);
  }

  // Kill everything below us until nothing is left: children of a killed
  // process are ours before we can reap it, so each round reaches deeper.
  // The shell's group first, in one go, while the shell is unreaped (its
  // group id cannot name anybody else's group then).
  // No child left at all (the usual end: the shell exited, was reaped and
  // left nothing behind) ends this before any scan of /proc, which reads the
  // stat of every process on the machine.
  // A descendant that SIGKILL cannot end at once (stopped by a tracer, or in
  // an uninterruptible wait on a hung file system) keeps this loop going:
  // the pause between rounds doubles up to half a second, so such a wait
  // costs next to no CPU.
  if (!have_status) ::kill(-shell, SIGKILL);
  for (long pause_ms = 0;; pause_ms = pause_ms == 0 ? 2 : std::min(2 * pause_ms, 500L)) {
    pid_t r = reap_ready();
    if (r < 0 && errno == ECHILD) break;
    if (pause_ms) sleep_ms(pause_ms);
    kill_children(self);
  }

  // A node that died (kill -9) cannot empty the job's directory after the
  // run, as it does otherwise: the shim, still root, does it for it.
  if (node_gone) {
    try {
      if (work_fd >= 0) troupe::exec::empty_tree(work_fd, p.work_dir);
    } catch (...) {
    }
    return false;
  }
  if (work_fd >= 0) ::close(work_fd);

  char rec[1 + sizeof(int) + 1];
  rec[0] = shim::report_status;
  std::memcpy(rec + 1, &shell_status, sizeof(int));
  rec[1 + sizeof(int)] = have_status ? 1 : 0;
  write_all_raw(shim::fd_report, rec, sizeof rec);
  return true;
}

}  // namespace troupe::exec::shim
