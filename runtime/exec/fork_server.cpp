#include "runtime/exec/fork_server.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/exec/shim_protocol.hpp"
#include "runtime/exec/shim_wire.hpp"
#include "runtime/exec/spawn.hpp"

namespace troupe::exec {

namespace {

[[noreturn]] void throw_errno(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

// The request body (shim_protocol.hpp): argc, envc, then the strings.
std::string encode(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  const std::uint32_t counts[2] = {static_cast<std::uint32_t>(args.size()), static_cast<std::uint32_t>(env.size())};
  std::string body(reinterpret_cast<const char*>(counts), sizeof counts);
  for (const auto* list : {&args, &env})
    for (const auto& s : *list) {
      if (s.find('\0') != std::string::npos) throw std::runtime_error("a job argument or variable contains a NUL byte");
      body += s;
      body += '\0';
    }
  if (body.size() > shim::max_request_bytes) throw std::runtime_error("the job's command and environment are too large");
  const auto len = static_cast<std::uint32_t>(body.size());
  return std::string(reinterpret_cast<const char*>(&len), sizeof len) + body;
}

}  // namespace

fork_server::fork_server(std::string shim_path, int nice, std::vector<unsigned> cpus)
    : shim_path_(std::move(shim_path)), nice_(nice), cpus_(std::move(cpus)) {
  start();
}

fork_server::~fork_server() { stop(false); }

pid_t fork_server::pid() {
  std::lock_guard<std::mutex> lock(mutex_);
  return pid_;
}

void fork_server::start() {
  // Nobody but root or the node may have replaced it since the last start.
  const std::string path = locate_shim(shim_path_);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair", errno);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    throw_errno("open /dev/null", e);
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // dup2 clears close-on-exec on the copy. The sources may sit on 0-3
  // themselves, so the socket (3) goes first from a number the /dev/null
  // copies cannot overwrite.
  int sock = sv[1] > shim::fd_server_socket ? sv[1] : ::fcntl(sv[1], F_DUPFD_CLOEXEC, shim::fd_server_socket + 1);
  int null_src = devnull > shim::fd_server_socket ? devnull : ::fcntl(devnull, F_DUPFD_CLOEXEC, shim::fd_server_socket + 1);
  posix_spawn_file_actions_adddup2(&actions, sock, shim::fd_server_socket);
  for (int fd = 0; fd < shim::fd_server_socket; ++fd) posix_spawn_file_actions_adddup2(&actions, null_src, fd);
  // Out of the node's process group (a terminal's ^C must not reach it or
  // the shims it forks), default signal dispositions and an empty
  // mask whatever the spawning thread had.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::string arg0 = path, arg1 = shim::server_magic;
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  int rc = (sock < 0 || null_src < 0) ? errno : ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int fd : {sv[1], devnull})
    ::close(fd);
  if (sock >= 0 && sock != sv[1]) ::close(sock);
  if (null_src >= 0 && null_src != devnull) ::close(null_src);
  if (rc != 0) {
    ::close(sv[0]);
    throw_errno("cannot start the job shim " + path, rc);
  }
  // The shims' own work (fork, exec of the shell, reaping) is the jobs'
  // work: it yields the CPU to the node's Raft path like the jobs do. Best
  // effort: a server at the node's priority still runs every job.
  if (nice_ > 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), nice_);
  pid_ = pid;
  socket_ = sv[0];
  // Not best effort, unlike nice: the operator kept the other CPUs for the
  // node. Set before the server reads its first request (it is one thread),
  // so every shim and job is born with it.
  if (!cpus_.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned cpu : cpus_)
      if (cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
    if (::sched_setaffinity(pid, sizeof set, &set) != 0) {
      const int e = errno;
      stop(true);  // it has read no request yet
      std::string list;
      for (unsigned cpu : cpus_) list += (list.empty() ? "" : ",") + std::to_string(cpu);
      throw std::runtime_error("cannot run jobs on CPUs " + list + " ([executor.process] cpus): " + std::strerror(e) +
                               (e == EINVAL ? " (none of them is online and allowed to this node)" : ""));
    }
  }
}

void fork_server::stop(bool kill_it) {
  if (socket_ >= 0) ::close(socket_);
  socket_ = -1;
  if (pid_ <= 0) return;
  // At EOF the server exits at once; a broken one is killed (its per-job
  // shims are on their own either way).
  if (kill_it) ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

bool fork_server::send(const std::string& request, const int (&fds)[5]) {
  // EPIPE/ECONNRESET: the server is gone. Part of a request sent: the
  // server cannot make sense of the rest, so it must be replaced too.
  return socket_ >= 0 && shim::send_request(socket_, request, fds);
}

void fork_server::launch(const std::vector<std::string>& args, const std::vector<std::string>& env,
                         const int (&fds)[5]) {
  const std::string request = encode(args, env);
  std::lock_guard<std::mutex> lock(mutex_);
  if (send(request, fds)) return;
  // The server died (or was killed): a new one for this job and the next.
  stop(true);
  start();
  if (!send(request, fds)) throw_errno("cannot hand the job to the job shim", errno);
}

}  // namespace troupe::exec
