// One job of the process backend as it moves from the starter (spawn) to the
// event loop (watch) to the finisher (store, report). Owned by exactly one of
// them at a time (unique_ptr handed over), so no field needs a lock except
// the kill switch, which cancel callbacks reach from any thread.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unistd.h>

#include "runtime/exec/backend.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/exec/spawn.hpp"

namespace troupe::exec {

// The shim's control pipe, shared with the cancel callback (which may run on
// another thread, even after the job finished): a kill request is written
// only while the pipe is open, i.e. until the shim's report ended.
struct kill_switch {
  std::mutex mutex;
  int control_fd = -1;
  bool reaped = false;

  void kill_all() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!reaped) request_kill(control_fd);
  }
  // The shim is gone: close the pipe, refuse later requests.
  void close() {
    std::lock_guard<std::mutex> lock(mutex);
    reaped = true;
    if (control_fd >= 0) ::close(control_fd);
    control_fd = -1;
  }
};

struct process_job {
  using clock = std::chrono::steady_clock;

  job_spec spec;
  std::shared_ptr<cancel_token> cancel;
  done_callback done;
  std::optional<job_output> output;  // open while the job runs
  job_result result;                 // filled as far as known
  std::optional<std::size_t> slot;  // its working directory's slot number, once it has one
  std::string work_dir;              // that slot's path, emptied by the finisher
  std::uint64_t cpu_seconds = 0;

  // Set by the starter once the shim runs.
  bool launched = false;
  spawned_job proc;
  std::shared_ptr<kill_switch> killer = std::make_shared<kill_switch>();
  clock::time_point deadline;

  // Set by the event loop.
  std::string report_data;           // bytes of the shim's report so far
  bool exited = false;               // the report pipe reached EOF (the shim is gone or going)
  std::optional<clock::time_point> drain_deadline;
  std::exception_ptr error;          // the output could not be stored (the job was killed)
  bool finished_early = false;       // the starter already decided the result (no shim ran)
};

}  // namespace troupe::exec
