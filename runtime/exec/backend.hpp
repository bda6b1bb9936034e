// The interface every job execution backend implements. start() is what the
// job_executor actor uses: it never blocks the caller and reports through a
// callback. run() is the blocking form (tests, tools).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/exec/cancel_token.hpp"
#include "runtime/exec/job.hpp"

namespace troupe::exec {

// Called exactly once per start(), on a thread of the backend (never the
// caller's): it must not block.
using done_callback = std::function<void(job_result)>;

class backend : public std::enable_shared_from_this<backend> {
 public:
  virtual ~backend() = default;
  virtual std::string name() const = 0;
  // Cheap probe of the backend's dependencies (docker: GET /_ping). Never throws.
  virtual bool healthy() = 0;
  // Runs the job to completion, timeout or cancellation; writes its output under
  // spec.output_dir/spec.job_id/. Never throws: every failure is a job_result
  // with outcome::failed and a precise error.
  virtual job_result run(const job_spec& spec, cancel_token& cancel) = 0;
  // Starts the job and returns at once; `done` gets what run() would have
  // returned. When spec.journal is set, the attempt is recorded in it
  // durably (start_journal.hpp) strictly before anything of the
  // job runs; if that fails the job fails with "cannot record the job's
  // start: ...". The default runs run() on a thread of its own per job
  // (docker: the run blocks on the daemon); it keeps the backend alive while
  // it runs when the backend is owned by a shared_ptr. The process backend
  // runs all its jobs from one event loop instead.
  virtual void start(const job_spec& spec, std::shared_ptr<cancel_token> cancel, done_callback done);
  // Job ids whose artifacts from this node outlived the run that created them
  // (docker: containers labelled troupe.node=<node_id> still present). Throws
  // std::runtime_error when the backend cannot be asked (daemon down).
  virtual std::vector<std::string> orphaned_jobs(std::uint64_t node_id) = 0;
  // Removes what orphaned_jobs() reports for job_id (docker: force-removes the
  // job's containers). Stored output is kept. Throws std::runtime_error when
  // the backend cannot be asked.
  virtual void remove_job_artifacts(const std::string& job_id) = 0;
};

}  // namespace troupe::exec
