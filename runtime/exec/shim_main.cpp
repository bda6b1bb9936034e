// troupe-job-shim: the process backend's fork server. The node starts it
// once (posix_spawn, spawn.cpp's fork_server) and sends it one request per
// job over a unix socket (shim_protocol.hpp). The server hands each request
// to an idle shim of its own, or forks a new one when none is idle; a shim
// (shim_job.cpp) is the job's reaper, runs one job at a time and after each
// says on its socket to the server that it is idle again. A job's shim used
// to be forked for it and exit with it: the fork, the new address space's
// page faults and its teardown were a fifth of the jobs' own CPU (the shell
// two thirds; docs/BENCHMARKS.md, twenty-fifth round). Forking this small,
// static, single-threaded process still costs far less than exec'ing a
// new shim (no fresh address space, no static start-up, whose cpuid probing
// traps to the hypervisor in a VM). The shims report to the node directly
// through the pipes in each request; the server only tracks which of them
// are idle and reaps those that exit. It exits at EOF on its socket (the
// node stopped or died); idle shims then see EOF on theirs and exit, busy
// ones once their jobs end, as before.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "runtime/exec/shim_job.hpp"
#include "runtime/exec/shim_protocol.hpp"
#include "runtime/exec/shim_wire.hpp"

namespace {

namespace shim = troupe::exec::shim;

constexpr int job_fds = shim::first_free_fd;  // a request carries the descriptors 0-4 of its job's shim

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

// Moves a request's descriptors to 0-4 (and `channel`, when not -1, to
// fd_channel). Each is first copied above the shim's fixed descriptors, so
// no dup2 overwrites a source still needed. (In a new shim an original may
// sit on 5 or 6: run_shim's close_fds_from or the channel's dup3 ends it.)
void place(int fds[job_fds], int channel) {
  for (int i = 0; i < job_fds; ++i) {
    int lifted = ::fcntl(fds[i], F_DUPFD_CLOEXEC, shim::shim_fds_end);
    if (lifted < 0) _exit(shim::exit_setup);
    if (fds[i] >= shim::shim_fds_end) ::close(fds[i]);
    fds[i] = lifted;
  }
  if (channel >= 0) {
    int lifted = ::fcntl(channel, F_DUPFD_CLOEXEC, shim::shim_fds_end);
    if (lifted < 0 || ::dup3(lifted, shim::fd_channel, O_CLOEXEC) < 0) _exit(shim::exit_setup);
    ::close(lifted);
  }
  for (int i = 0; i < job_fds; ++i) {
    if (::dup2(fds[i], i) < 0) _exit(shim::exit_setup);
    ::close(fds[i]);
  }
}

// In the forked child: a shim that runs this request's job, then each job
// the server sends on `channel`, until the server or the node is gone. The
// server's own descriptors (its socket, signalfd, the other shims'
// channels) go with the first close_fds_from.
[[noreturn]] void run_shim(int fds[job_fds], int channel, std::vector<char>& body, std::vector<char*>& argv,
                           std::vector<char*>& envp) {
  place(fds, channel);
  shim::close_fds_from(shim::fd_channel + 1);
  const int sfd = shim::become_reaper();
  for (;;) {
    if (!shim::run_job(static_cast<int>(argv.size() - 1), argv.data(), envp.data(), sfd)) _exit(0);
    // Idle before the node can know: the job is over for the node at EOF on
    // its report, and the node's next request must find this shim idle, not
    // make the server fork another.
    const char ready = shim::shim_ready;
    const bool told = ::write(shim::fd_channel, &ready, 1) == 1;
    ::close(shim::fd_report);
    ::close(shim::fd_control);
    if (!told) _exit(0);  // the server is gone
    int next[job_fds];
    // EOF: the server is gone, or has enough idle shims and let this one go.
    if (!read_request(shim::fd_channel, body, next)) _exit(0);
    if (!parse_request(body, argv, envp)) _exit(shim::exit_bad_usage);
    place(next, -1);
  }
}

// The server's shims. Never more than the jobs that ran at once (a shim is
// forked only when none is idle), and at most max_idle of them idle: a node
// whose load fell keeps that many warm, the others exit.
struct shim_pool {
  struct member {
    int channel = -1;
    bool idle = false;
  };
  static constexpr std::size_t max_idle = 32;
  std::vector<member> members;

  std::size_t idle_count() const {
    std::size_t n = 0;
    for (const auto& m : members) n += m.idle;
    return n;
  }
  void drop(std::size_t i) {
    ::close(members[i].channel);
    members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
  }
  // Reads what shim i said: ready bytes make it idle; EOF (it exited) or
  // anything else drops it. Returns false when it was dropped.
  bool hear(std::size_t i) {
    char buf[16];
    ssize_t n = ::recv(members[i].channel, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0 || std::memchr(buf, shim::shim_ready, static_cast<std::size_t>(n)) == nullptr || members[i].idle) {
      drop(i);
      return false;
    }
    members[i].idle = true;
    if (idle_count() > max_idle) {  // closing its channel lets it go
      drop(i);
      return false;
    }
    return true;
  }
  // Hands the request to an idle shim; false when none took it.
  bool dispatch(std::string_view request, const int (&fds)[job_fds]) {
    for (std::size_t i = members.size(); i-- > 0;) {
      if (!members[i].idle) continue;
      if (shim::send_request(members[i].channel, request, fds)) {
        members[i].idle = false;
        return true;
      }
      drop(i);
    }
    return false;
  }
};

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
  // As the shims: a terminal's signals and a closed pipe must not
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
  std::string request;
  shim_pool pool;
  std::vector<pollfd> pfd;
  for (;;) {
    pfd.assign({{shim::fd_server_socket, POLLIN, 0}, {sfd, POLLIN, 0}});
    for (const auto& m : pool.members) pfd.push_back({m.channel, POLLIN, 0});
    if (::poll(pfd.data(), pfd.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return shim::exit_setup;
    }
    if (pfd[1].revents) {  // shims that exited: reap them
      struct signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      }
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
    // Shims that are idle again or gone (pfd[2 + k] is members[k] as polled;
    // walked backwards so that dropping one keeps the earlier ones' places).
    for (std::size_t k = pfd.size() - 2; k-- > 0;)
      if (pfd[2 + k].revents) pool.hear(k);
    if (!pfd[0].revents) continue;
    int fds[job_fds];
    if (!read_request(shim::fd_server_socket, body, fds)) return 0;  // the node is gone
    if (!parse_request(body, job_argv, job_envp)) return shim::exit_bad_usage;
    // As it came (the length, then the body) for an idle shim.
    const auto len = static_cast<std::uint32_t>(body.size());
    request.assign(reinterpret_cast<const char*>(&len), sizeof len);
    request.append(body.data(), body.size());
    if (!pool.dispatch(request, fds)) {
      int sv[2];
      pid_t child = -1;
      int err = 0;
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        err = errno;
      } else {
        child = ::fork();
        if (child == 0) run_shim(fds, sv[1], body, job_argv, job_envp);
        if (child < 0) err = errno;
        ::close(sv[1]);
        if (child > 0)
          pool.members.push_back({sv[0], false});
        else
          ::close(sv[0]);
      }
      if (child < 0) {
        // The job cannot start: say so on its report pipe, as the reaper would.
        std::string msg = std::string(1, shim::report_setup_error) + "cannot start the job's shim: " + std::strerror(err) + "\n";
        ssize_t ignored = ::write(fds[shim::fd_report], msg.data(), msg.size());
        (void)ignored;
      }
    }
    for (int fd : fds) ::close(fd);
  }
}
