// The interface every job execution backend implements. run() blocks; the
// job_executor actor calls it on a dedicated thread per job and cancels it
// through the cancel_token from another thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/exec/cancel_token.hpp"
#include "runtime/exec/job.hpp"

namespace troupe::exec {

class backend {
 public:
  virtual ~backend() = default;
  virtual std::string name() const = 0;
  // Cheap probe of the backend's dependencies (docker: GET /_ping). Never throws.
  virtual bool healthy() = 0;
  // Runs the job to completion, timeout or cancellation; writes its output under
  // spec.output_dir/spec.job_id/. Never throws: every failure is a job_result
  // with outcome::failed and a precise error.
  virtual job_result run(const job_spec& spec, cancel_token& cancel) = 0;
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
