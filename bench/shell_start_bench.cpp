// What starting a job's shell costs by itself: runs `SHELL... -c true` N
// times, one at a time (posix_spawn, then wait), and prints the children's
// CPU (user + system) and the wall time per run. Compares shells on this
// machine (docs/BENCHMARKS.md, tenth round):
//
//   bench_shell_start 2000 /bin/sh              # the job's shell (dash here)
//   bench_shell_start 2000 /bin/busybox sh      # a statically linked ash
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

extern char** environ;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_shell_start N SHELL [ARG...]\n");
    return 2;
  }
  const int n = std::atoi(argv[1]);
  std::vector<char*> args(argv + 2, argv + argc);
  args.push_back(const_cast<char*>("-c"));
  args.push_back(const_cast<char*>("true"));
  args.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    pid_t pid;
    int status = 0;
    if (::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0 || ::waitpid(pid, &status, 0) != pid ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "run %d of %s failed\n", i, args[0]);
      return 1;
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  const double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  std::printf("%s: %.0f us CPU and %.0f us wall per `-c true` (%d runs)\n", args[0], 1e6 * cpu / n, 1e6 * wall / n, n);
  return 0;
}
