// The node's side of the job shim's fork server (shim_main.cpp): one
// long-lived troupe-job-shim per process backend, started with posix_spawn
// (no fork of the large, threaded node), which hands each request it gets
// over a unix socket (shim_protocol.hpp) to an idle shim of its own, or
// forks one; a shim runs one job at a time, one after another. The shims
// are the server's children, not the node's: the node learns a job's end
// from its report pipe only.
//
// If the server dies, the next launch notices (its socket is closed) and
// starts a new one; running jobs are unaffected (their pipes lead to the
// node directly) and the dead server's shims exit once idle. If the node
// dies, the server sees EOF on its socket and exits, its idle shims with it,
// and each busy shim sees its control pipe close and kills its job.
#pragma once

#include <mutex>
#include <string>
#include <sys/types.h>
#include <vector>

namespace troupe::exec {

class fork_server {
 public:
  // Starts the server: the executable at shim_path, checked again (see
  // locate_shim) each time it is started, at CPU priority `nice` and, when
  // `cpus` names any, allowed only on those CPUs (the shims it forks, and
  // their jobs, inherit both). Throws std::runtime_error, also when none of
  // `cpus` is a CPU this process may use.
  explicit fork_server(std::string shim_path, int nice = 0, std::vector<unsigned> cpus = {});
  // Closes the socket (the server exits; busy shims live on until their
  // jobs end) and reaps the server.
  ~fork_server();
  fork_server(const fork_server&) = delete;
  fork_server& operator=(const fork_server&) = delete;

  // Has the server run a job in a shim, with argv `args`, environment `env`
  // and fds[0..4] as its descriptors 0-4 (the caller keeps and closes its
  // own copies). Restarts a server that died, then tries once more. Throws
  // std::runtime_error when the request cannot be delivered. Any thread.
  void launch(const std::vector<std::string>& args, const std::vector<std::string>& env, const int (&fds)[5]);
  // The running server's pid (for tests: kill it, see it replaced).
  pid_t pid();

 private:
  void start();
  void stop(bool kill_it);
  bool send(const std::string& request, const int (&fds)[5]);

  std::mutex mutex_;
  std::string shim_path_;
  int nice_ = 0;
  std::vector<unsigned> cpus_;  // empty: any
  pid_t pid_ = -1;
  int socket_ = -1;
};

}  // namespace troupe::exec
