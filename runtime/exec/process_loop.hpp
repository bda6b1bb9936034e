// The process backend's event loop: ONE thread watches every running job
// (instead of a thread per job). It moves each job's stdout/stderr into its
// output files (output_sink::drain: splice), notices the shim's exit (EOF on
// its report pipe), enforces timeouts (a timer set ordered by
// deadline) and hands each finished job to the finisher. epoll, level
// triggered; an eventfd wakes it for new jobs and for stop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/common/wakeable_epoll.hpp"
#include "runtime/exec/process_job.hpp"

namespace troupe::exec {

class process_loop {
 public:
  // Called on the loop thread with each job whose shim is gone (and whose
  // pipes are drained, or given up after a grace period). Must not block.
  using finished_fn = std::function<void(std::unique_ptr<process_job>)>;

  // Starts the thread. Throws std::runtime_error when epoll or eventfd fail.
  explicit process_loop(finished_fn on_finished);
  ~process_loop();
  process_loop(const process_loop&) = delete;
  process_loop& operator=(const process_loop&) = delete;

  // Takes over a job whose shim runs (any thread). After stop() began, the
  // job is killed at once, like every other.
  void watch(std::unique_ptr<process_job> job);
  // Kills every job, waits until each is handed to on_finished (at most
  // stop_grace; after that the control pipes are closed, which the shims
  // take as "kill everything"), then ends the thread. Idempotent.
  void stop();

 private:
  void run();

  finished_fn on_finished_;
  wakeable_epoll epoll_{"process_loop"};
  std::mutex mutex_;
  std::vector<std::unique_ptr<process_job>> incoming_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace troupe::exec
