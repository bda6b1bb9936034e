// troupe-job-shim: the process backend's fork server. The node starts it
// once (posix_spawn, spawn.cpp's fork_server) and sends it one request per
// job over a unix socket (shim_protocol.hpp); for each the server forks a
// child that becomes that job's reaper (shim_job.cpp). Forking this small,
// static, single-threaded process costs far less than exec'ing a new shim per
// job (no fresh address space, no static start-up, whose cpuid probing traps
// to the hypervisor in a VM). The per-job shims report to the node directly
// through the pipes in their request, so the server keeps no state: it only
// reaps them. It exits at EOF on its socket (the node stopped or died); the
// per-job shims then live on until their jobs end, as before.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "runtime/exec/shim_job.hpp"
#include "runtime/exec/shim_protocol.hpp"

namespace {

namespace shim = troupe::exec::shim;

constexpr int job_fds = shim::first_free_fd;  // a request carries the per-job shim's descriptors 0-4

// Reads exactly n bytes; false at EOF or on error (the node is gone).
bool read_exact(int fd, char* data, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, data, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// One request: its length (with the descriptors) and its bytes. Returns
// false when the node is gone or broke the protocol (the server exits: the
// node restarts it if it still runs). fds[] holds what arrived (-1 if none).
bool read_request(int sock, std::vector<char>& body, int fds[job_fds]) {
  for (int i = 0; i < job_fds; ++i) fds[i] = -1;
  std::uint32_t len = 0;
  iovec iov{&len, sizeof len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * job_fds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t r;
  do {
    r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  } while (r < 0 && errno == EINTR);
  if (r != static_cast<ssize_t>(sizeof len)) return false;
  std::size_t got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (got < job_fds) fds[got++] = fd;
      else ::close(fd);
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) || got != job_fds || len > shim::max_request_bytes) return false;
  body.resize(len);
  return read_exact(sock, body.data(), len);
}

// Splits a request body into argv and envp (pointers into body); false when
// it is malformed.
bool parse_request(std::vector<char>& body, std::vector<char*>& argv, std::vector<char*>& envp) {
  std::uint32_t counts[2];
  if (body.size() < sizeof counts || body.back() != '\0') return false;
  std::memcpy(counts, body.data(), sizeof counts);
  std::vector<char*> strings;
  for (std::size_t at = sizeof counts; at < body.size(); at += std::strlen(body.data() + at) + 1)
    strings.push_back(body.data() + at);
  if (counts[0] == 0 || static_cast<std::uint64_t>(counts[0]) + counts[1] != strings.size()) return false;
  argv.assign(strings.begin(), strings.begin() + counts[0]);
  envp.assign(strings.begin() + counts[0], strings.end());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  return true;
}

// In the forked child: the request's descriptors become 0-4, then the job's
// reaper runs. Each is first moved above 4, so no dup2 overwrites a source
// still needed.
[[noreturn]] void become_job_shim(int fds[job_fds], std::vector<char*>& argv, std::vector<char*>& envp) {
  for (int i = 0; i < job_fds; ++i) {
    int lifted = ::fcntl(fds[i], F_DUPFD_CLOEXEC, job_fds);
    if (lifted < 0) _exit(shim::exit_setup);
    fds[i] = lifted;
  }
  for (int i = 0; i < job_fds; ++i)
    if (::dup2(fds[i], i) < 0) _exit(shim::exit_setup);
  // Unblocked again by the reaper as it needs; the server's signalfd and
  // socket go with close_fds_from in run_job_shim.
  shim::run_job_shim(static_cast<int>(argv.size() - 1), argv.data(), envp.data());
}

// Every signal's disposition to its default, whatever the node's were: jobs
// restore only the dispositions the shim changes (shim::ignored_signals).
// glibc's posix_spawn leaves its two internal signals (32 and 33, which the
// node's threads handle) ignored in the server, and glibc's signal() refuses
// to touch them; the system call itself does not, so that no job inherits
// an ignored signal.
void reset_all_signals() {
  struct kernel_sigaction {  // the kernel's layout, not glibc's struct sigaction
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    std::uint64_t mask;
  } dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[1], shim::server_magic) != 0) return shim::exit_bad_usage;
  shim::close_fds_from(shim::fd_server_socket + 1);
  if (::fcntl(shim::fd_server_socket, F_SETFD, FD_CLOEXEC) != 0) return shim::exit_bad_usage;
  reset_all_signals();
  // As the per-job shims: a terminal's signals and a closed pipe must not
  // end it (its children inherit these and keep them).
  for (int sig : shim::ignored_signals) ::signal(sig, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_SETMASK, &chld, nullptr);
  int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return shim::exit_setup;

  std::vector<char> body;
  std::vector<char*> job_argv, job_envp;
  for (;;) {
    struct pollfd pfd[2] = {{shim::fd_server_socket, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return shim::exit_setup;
    }
    if (pfd[1].revents) {  // per-job shims that ended: reap them
      struct signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      }
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
    if (!pfd[0].revents) continue;
    int fds[job_fds];
    if (!read_request(shim::fd_server_socket, body, fds)) return 0;  // the node is gone
    if (!parse_request(body, job_argv, job_envp)) return shim::exit_bad_usage;
    pid_t child = ::fork();
    if (child == 0) become_job_shim(fds, job_argv, job_envp);
    if (child < 0) {
      // The job cannot start: say so on its report pipe, as the reaper would.
      std::string msg = std::string(1, shim::report_setup_error) + "cannot fork the job shim: " + std::strerror(errno) + "\n";
      ssize_t ignored = ::write(fds[shim::fd_report], msg.data(), msg.size());
      (void)ignored;
    }
    for (int fd : fds) ::close(fd);
  }
}
