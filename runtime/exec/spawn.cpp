#include "runtime/exec/spawn.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace troupe::exec {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// ---- shim and job: async-signal-safe code only (see spawn.hpp) ----

// The shim's fixed descriptor layout (the job keeps 0-2; 4 is close-on-exec).
constexpr int fd_stdin = 0, fd_stdout = 1, fd_stderr = 2, fd_control = 3, fd_report = 4;
constexpr char report_setup_error = 'E';
constexpr char report_status = 'S';

// Appends s to buf[*len] (bounded), for messages built without allocation.
void append(char* buf, std::size_t cap, std::size_t* len, const char* s) {
  while (*s && *len + 1 < cap) buf[(*len)++] = *s++;
  buf[*len] = '\0';
}

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
// report pipe (close-on-exec, so the job itself never holds it).
[[noreturn]] void setup_failed(const char* what, const char* detail, int err, int code) {
  char msg[512];
  std::size_t len = 0;
  msg[0] = report_setup_error;
  len = 1;
  msg[1] = '\0';
  append(msg, sizeof msg, &len, what);
  if (detail) {
    append(msg, sizeof msg, &len, " ");
    append(msg, sizeof msg, &len, detail);
  }
  if (err) {
    append(msg, sizeof msg, &len, ": ");
    const char* text = ::strerrordesc_np(err);  // static text: no allocation, no locale
    append(msg, sizeof msg, &len, text ? text : "unknown error");
  }
  append(msg, sizeof msg, &len, "\n");
  write_all_raw(fd_report, msg, len);
  _exit(code);
}

void set_limit(int resource, const char* name, std::uint64_t soft, std::uint64_t hard) {
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(soft);
  rl.rlim_max = static_cast<rlim_t>(hard);
  if (::setrlimit(resource, &rl) != 0) setup_failed("cannot set", name, errno, 126);
}

struct child_args {
  const spawn_plan* plan;
  char* const* argv;
  char* const* envp;
  pid_t shim;
};

// The job: a grandchild of the node. Drops to the job's user and execs.
[[noreturn]] void job_main(const child_args& a) {
  const spawn_plan& p = *a.plan;
  ::setpgid(0, 0);  // its own group: the first, quick SIGKILL goes to -pgid
  ::close(fd_control);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Limits first, while still privileged enough to set any of them.
  set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
  if (p.max_file_bytes) set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", p.max_file_bytes, p.max_file_bytes);
  // Hard limit one second later: SIGXCPU at the limit says why, SIGKILL backs it up.
  if (p.cpu_seconds) set_limit(RLIMIT_CPU, "RLIMIT_CPU", p.cpu_seconds, p.cpu_seconds + 1);
  if (p.max_processes) set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", p.max_processes, p.max_processes);
  if (p.address_space_bytes) set_limit(RLIMIT_AS, "RLIMIT_AS", p.address_space_bytes, p.address_space_bytes);

  if (p.user.switch_user) {
    // Order matters: supplementary groups and the gid can only be changed
    // while still root; setuid last gives up root for good.
    if (::setgroups(0, nullptr) != 0) setup_failed("cannot drop supplementary groups for", p.user.name.c_str(), errno, 126);
    if (::setgid(p.user.gid) != 0) setup_failed("cannot switch to the group of", p.user.name.c_str(), errno, 126);
    if (::setuid(p.user.uid) != 0) setup_failed("cannot switch to user", p.user.name.c_str(), errno, 126);
    if (::getuid() != p.user.uid || ::geteuid() != p.user.uid || ::getgid() != p.user.gid ||
        ::getegid() != p.user.gid)
      setup_failed("user switch did not take effect for", p.user.name.c_str(), 0, 126);
    if (p.user.uid != 0 && ::setuid(0) == 0) setup_failed("could regain root after switching to", p.user.name.c_str(), 0, 126);
  }
  // No setuid binary or file capability can raise the job's privileges again.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) setup_failed("cannot set", "PR_SET_NO_NEW_PRIVS", errno, 126);
  // Set after the user switch (a credential change clears it): if the shim
  // is killed, the shell goes with it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != a.shim) _exit(125);
  if (::chdir(p.work_dir.c_str()) != 0) setup_failed("cannot enter working directory", p.work_dir.c_str(), errno, 126);
  ::execve(a.argv[0], a.argv, a.envp);
  setup_failed("cannot execute", a.argv[0], errno, 127);
}

// Parses "<pid> (<comm>) <state> <ppid> ..." for ppid; -1 when unreadable.
pid_t parent_of(const char* pid_name) {
  char path[64];
  std::size_t len = 0;
  path[0] = '\0';
  append(path, sizeof path, &len, "/proc/");
  append(path, sizeof path, &len, pid_name);
  append(path, sizeof path, &len, "/stat");
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // comm may contain spaces and parentheses: the last ')' ends it.
  char* close_paren = nullptr;
  for (char* c = buf; *c; ++c)
    if (*c == ')') close_paren = c;
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

// SIGKILLs every child of this process (found through /proc: getdents64, no
// allocation). Returns how many were signalled.
int kill_children(pid_t self) {
  int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return 0;
  int killed = 0;
  alignas(8) char buf[8192];
  for (;;) {
    long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] < '1' || name[0] > '9') continue;
      long pid = 0;
      bool numeric = true;
      for (const char* c = name; *c; ++c) {
        if (*c < '0' || *c > '9') {
          numeric = false;
          break;
        }
        pid = pid * 10 + (*c - '0');
      }
      if (!numeric || pid == self) continue;
      if (parent_of(name) == self) {
        ::kill(static_cast<pid_t>(pid), SIGKILL);
        ++killed;
      }
    }
  }
  ::close(dir);
  return killed;
}

void sleep_ms(long ms) {
  struct timespec ts{0, ms * 1000000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// The shim: child of the node, parent (and subreaper) of the job.
[[noreturn]] void shim_main(const child_args& a, const int (&fds)[5], pid_t node) {
  // Move our five descriptors to the fixed layout, then close everything
  // else: the node's other descriptors (other jobs' pipes, sockets, the Raft
  // log) must not live on in a job.
  int moved[5];
  for (int i = 0; i < 5; ++i) {
    moved[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 16);
    if (moved[i] < 0) _exit(120);
  }
  for (int i = 0; i < 5; ++i)
    if (::dup2(moved[i], i) != i) _exit(120);
  if (::close_range(5, ~0U, 0) != 0) {
    struct rlimit rl;
    long max = (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) ? static_cast<long>(rl.rlim_cur) : 65536;
    for (long fd = 5; fd < max; ++fd) ::close(static_cast<int>(fd));
  }
  ::fcntl(fd_control, F_SETFD, FD_CLOEXEC);
  ::fcntl(fd_report, F_SETFD, FD_CLOEXEC);

  ::setpgid(0, 0);  // out of the node's group: a terminal's ^C must not kill the shim before it cleans up
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) setup_failed("cannot become a child subreaper", nullptr, errno, 120);
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE}) ::signal(sig, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::signal(SIGCHLD, SIG_DFL);
  ::sigprocmask(SIG_SETMASK, &chld, nullptr);
  int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) setup_failed("cannot create a signalfd", nullptr, errno, 120);
  if (::getppid() != node) _exit(121);  // the node is already gone

  const pid_t self = ::getpid();
  child_args job = a;
  job.shim = self;
  pid_t shell = ::fork();
  if (shell < 0) setup_failed("cannot fork the job", nullptr, errno, 120);
  if (shell == 0) {
    ::close(sfd);
    job_main(job);
  }
  ::close(fd_stdin);
  ::close(fd_stdout);
  ::close(fd_stderr);

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

  // Run until the shell exits, the node asks, or the node is gone.
  bool node_gone = false;
  for (bool stop = false; !stop;) {
    struct pollfd pfd[2] = {{fd_control, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[0].revents) {  // a kill request, or EOF: the node died
      char c;
      node_gone = ::read(fd_control, &c, 1) <= 0;
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

  // Kill everything below us until nothing is left: children of a killed
  // process are ours before we can reap it, so each round reaches deeper.
  // The shell's group first, in one go, while the shell is unreaped (its
  // group id cannot name anybody else's group then).
  if (!have_status) ::kill(-shell, SIGKILL);
  for (;;) {
    kill_children(self);
    pid_t r = reap_ready();
    if (r < 0 && errno == ECHILD) break;
    sleep_ms(2);
  }

  // A node that died (kill -9) cannot remove the job's directory after the
  // run, as it does otherwise: the shim, still root, does it for it.
  if (node_gone) {
    try {
      remove_tree(a.plan->work_dir);
    } catch (...) {
    }
    _exit(0);
  }

  char rec[1 + sizeof(int) + 1];
  rec[0] = report_status;
  std::memcpy(rec + 1, &shell_status, sizeof(int));
  rec[1 + sizeof(int)] = have_status ? 1 : 0;
  write_all_raw(fd_report, rec, sizeof rec);
  _exit(0);
}

}  // namespace

// ---- node side ----

job_user resolve_job_user(const std::string& configured) {
  const uid_t me = ::geteuid();
  std::string name = configured;
  if (name.empty()) {
    if (me != 0) {
      job_user u;
      u.uid = me;
      u.gid = ::getegid();
      u.switch_user = false;
      struct passwd pw, *found = nullptr;
      std::vector<char> buf(16384);
      if (::getpwuid_r(me, &pw, buf.data(), buf.size(), &found) == 0 && found) u.name = found->pw_name;
      else u.name = "uid " + std::to_string(me);
      return u;
    }
    name = "nobody";
  }
  struct passwd pw, *found = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) throw std::runtime_error("[executor.process] user \"" + name + "\": cannot look it up: " + std::strerror(rc));
  if (!found)
    throw std::runtime_error("[executor.process] user \"" + name + "\" does not exist on this machine" +
                             (configured.empty() ? " (the default when the node runs as root)" : ""));
  job_user u;
  u.name = name;
  u.uid = found->pw_uid;
  u.gid = found->pw_gid;
  if (me == 0) {
    if (u.uid == 0)
      throw std::runtime_error("[executor.process] user \"" + name +
                               "\" is root (uid 0); jobs must run as an unprivileged user");
    u.switch_user = true;
    return u;
  }
  if (u.uid != me)
    throw std::runtime_error("[executor.process] user \"" + name + "\" (uid " + std::to_string(u.uid) +
                             ") needs the node to run as root to switch users, but it runs as uid " +
                             std::to_string(me) + "; leave user empty to run jobs as the node's user");
  u.switch_user = false;
  return u;
}

void prepare_private_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0711) == 0) {
    // Whatever the umask: the job user must be able to pass through.
    if (::chmod(path.c_str(), 0711) != 0) throw_errno("cannot set the mode of job directory " + path);
  } else if (errno != EEXIST) {
    throw_errno("cannot create job directory " + path);
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) throw_errno("cannot inspect job directory " + path);
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error("job directory " + path + " is not a directory (or is a symlink)");
  if (st.st_uid != ::geteuid())
    throw std::runtime_error("job directory " + path + " belongs to uid " + std::to_string(st.st_uid) +
                             ", not to the node (uid " + std::to_string(::geteuid()) +
                             "); another user could tamper with jobs there");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    throw std::runtime_error("job directory " + path + " is writable by other users (mode " +
                             std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                             std::to_string(st.st_mode & 7) + ")");
}

spawned_job spawn_job(const spawn_plan& plan) {
  if (plan.argv.empty()) throw std::runtime_error("nothing to run");
  // Everything the children need, allocated before fork.
  std::vector<char*> argv, envp;
  for (const auto& s : plan.argv) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  for (const auto& s : plan.env) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);

  int out[2] = {-1, -1}, err[2] = {-1, -1}, control[2] = {-1, -1}, report[2] = {-1, -1};
  int devnull = -1;
  auto close_all = [&] {
    for (int fd : {out[0], out[1], err[0], err[1], control[0], control[1], report[0], report[1], devnull})
      if (fd >= 0) ::close(fd);
  };
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(control, O_CLOEXEC) != 0 ||
      ::pipe2(report, O_CLOEXEC) != 0) {
    int e = errno;
    close_all();
    errno = e;
    throw_errno("pipe");
  }
  devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) {
    int e = errno;
    close_all();
    errno = e;
    throw_errno("open /dev/null");
  }
  child_args a{&plan, argv.data(), envp.data(), 0};
  const int child_fds[5] = {devnull, out[1], err[1], control[0], report[1]};
  const pid_t node = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    close_all();
    errno = e;
    throw_errno("fork");
  }
  if (pid == 0) shim_main(a, child_fds, node);
  for (int* fd : {&out[1], &err[1], &control[0], &report[1], &devnull}) {
    ::close(*fd);
    *fd = -1;
  }
  // The node never blocks writing a kill request.
  ::fcntl(control[1], F_SETFL, O_NONBLOCK);
  ::fcntl(report[0], F_SETFL, O_NONBLOCK);
  spawned_job j;
  j.shim = pid;
  j.stdout_fd = out[0];
  j.stderr_fd = err[0];
  j.control_fd = control[1];
  j.report_fd = report[0];
  return j;
}

void request_kill(int control_fd) {
  if (control_fd < 0) return;
  const char k = 'K';
  while (::write(control_fd, &k, 1) < 0 && errno == EINTR) {
  }
}

shim_report read_report(int report_fd) {
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(report_fd, buf, sizeof buf);
    if (n > 0) {
      data.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EOF (the shim and the job are gone) or EAGAIN
  }
  shim_report r;
  constexpr std::size_t status_len = 1 + sizeof(int) + 1;
  if (data.size() >= status_len && data[data.size() - status_len] == report_status) {
    std::size_t at = data.size() - status_len;
    std::memcpy(&r.status, data.data() + at + 1, sizeof(int));
    r.have_status = data[at + 1 + sizeof(int)] != 0;
    data.resize(at);
  }
  // Whatever precedes the status record are setup errors ("E<text>\n").
  std::size_t pos = 0;
  while (pos < data.size()) {
    auto nl = data.find('\n', pos);
    std::string line = data.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? data.size() : nl + 1;
    if (!line.empty() && line[0] == report_setup_error) {
      if (!r.setup_error.empty()) r.setup_error += "; ";
      r.setup_error += line.substr(1);
    }
  }
  return r;
}

}  // namespace troupe::exec
