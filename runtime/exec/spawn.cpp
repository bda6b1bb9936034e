#include "runtime/exec/spawn.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/exec/fork_server.hpp"
#include "runtime/exec/shim_protocol.hpp"

#ifndef TROUPE_INSTALL_PREFIX
#define TROUPE_INSTALL_PREFIX "/usr"
#endif

namespace troupe::exec {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Why `path` cannot serve as the shim, or "" when it can.
std::string unusable_shim(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (::access(path.c_str(), X_OK) != 0) return std::string("not executable: ") + std::strerror(errno);
  // The node may run it as root: nobody but root or the node may replace it.
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) return "owned by uid " + std::to_string(st.st_uid);
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return "writable by other users";
  return "";
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

// ---- node side ----

std::string locate_shim(const std::string& configured) {
  constexpr const char* name = "troupe-job-shim";
  if (!configured.empty()) {
    std::string why = unusable_shim(configured);
    if (!why.empty())
      throw std::runtime_error("the job shim " + configured + " cannot be used (" + why + ")");
    return configured;
  }
  std::vector<std::string> candidates;
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string self = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string();
  if (!self.empty()) {
    candidates.push_back(dir_of(self) + "/" + name);
    // <prefix>/bin/troupe-node -> <prefix>/libexec/troupe/ (the .deb's /usr
    // differs from the build's default prefix /usr/local).
    candidates.push_back(dir_of(dir_of(self)) + "/libexec/troupe/" + name);
  }
  candidates.push_back(std::string(TROUPE_INSTALL_PREFIX) + "/libexec/troupe/" + name);
#ifdef TROUPE_BUILD_SHIM_PATH
  // Test programs live elsewhere in the build tree; an installed node (not
  // below the build tree) never looks there.
  const std::string build_root = TROUPE_BUILD_ROOT "/";
  if (self.compare(0, build_root.size(), build_root) == 0) candidates.push_back(TROUPE_BUILD_SHIM_PATH);
#endif
  std::string message;
  for (const auto& c : candidates) {
    std::string why = unusable_shim(c);
    if (why.empty()) return c;
    message += (message.empty() ? "" : "; ") + c + ": " + why;
  }
  throw std::runtime_error("the process executor needs its job shim " + std::string(name) +
                           " (installed next to troupe-node or in <prefix>/libexec/troupe/), but none is usable: " +
                           message);
}

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

spawned_job spawn_job(fork_server& server, const spawn_plan& plan) {
  if (plan.argv.empty() || plan.argv[0].empty() || plan.argv[0][0] != '/')
    throw std::runtime_error("nothing to run (the job's program must be an absolute path)");
  if (plan.nice < 0 || plan.nice > 19) throw std::runtime_error("nice " + std::to_string(plan.nice) + " is not 0-19");
  // The job's arguments for its shim (shim_protocol.hpp); the job's argv follows "--".
  std::vector<std::string> args = {
      "troupe-job-shim",
      shim::magic,
      plan.work_dir,
      plan.user.switch_user ? "1" : "0",
      plan.user.name,
      std::to_string(plan.user.uid),
      std::to_string(plan.user.gid),
      std::to_string(plan.max_processes),
      std::to_string(plan.max_file_bytes),
      std::to_string(plan.cpu_seconds),
      std::to_string(plan.address_space_bytes),
      std::to_string(plan.nice),
      "--",
  };
  args.insert(args.end(), plan.argv.begin(), plan.argv.end());

  int out[2] = {-1, -1}, err[2] = {-1, -1}, control[2] = {-1, -1}, report[2] = {-1, -1};
  int devnull = -1;
  // The shim's ends: the server got copies (or nothing ran), so they go in any case.
  auto close_shim_ends = [&] {
    for (int fd : {out[1], err[1], control[0], report[1], devnull})
      if (fd >= 0) ::close(fd);
  };
  try {
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(control, O_CLOEXEC) != 0 ||
        ::pipe2(report, O_CLOEXEC) != 0)
      throw_errno("pipe");
    devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) throw_errno("open /dev/null");
    const int fds[shim::first_free_fd] = {devnull, out[1], err[1], control[0], report[1]};
    server.launch(args, plan.env, fds);
  } catch (...) {
    close_shim_ends();
    for (int fd : {out[0], err[0], control[1], report[0]})
      if (fd >= 0) ::close(fd);
    throw;
  }
  close_shim_ends();
  // The node never blocks writing a kill request or reading the report or
  // the output (one event loop serves every job).
  for (int fd : {control[1], report[0], out[0], err[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
  spawned_job j;
  j.stdout_fd = out[0];
  j.stderr_fd = err[0];
  j.control_fd = control[1];
  j.report_fd = report[0];
  return j;
}

void request_kill(int control_fd) {
  if (control_fd < 0) return;
  // The shim may have exited a moment ago (its report not read yet): the
  // write then fails with EPIPE, and must not raise SIGPIPE, which kills a
  // process that has not ignored it (the node does; a library's user may
  // not). Blocked on this thread for the write, and a SIGPIPE it raised is
  // taken back before the mask is restored.
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  const char k = 'K';
  ssize_t n;
  while ((n = ::write(control_fd, &k, 1)) < 0 && errno == EINTR) {
  }
  if (n < 0 && errno == EPIPE && !was_pending) {
    const timespec none{};
    while (::sigtimedwait(&pipe_only, nullptr, &none) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
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
  return parse_report(std::move(data));
}

shim_report parse_report(std::string data) {
  shim_report r;
  constexpr std::size_t status_len = 1 + sizeof(int) + 1;
  if (data.size() >= status_len && data[data.size() - status_len] == shim::report_status) {
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
    if (!line.empty() && line[0] == shim::report_setup_error) {
      if (!r.setup_error.empty()) r.setup_error += "; ";
      r.setup_error += line.substr(1);
    }
  }
  return r;
}

}  // namespace troupe::exec
