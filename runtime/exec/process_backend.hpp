// Runs each job as `sh -c COMMAND` in a child process of the node, in its own
// process group, with stdout/stderr captured through pipes. Timeout and
// cancellation SIGKILL the whole group (grandchildren included); when the
// job's shell exits, whatever it left running in its group is killed too, so a
// job never outlives its run. The child also gets PR_SET_PDEATHSIG=SIGKILL, so
// jobs die with the node: there are never orphans to report.
//
// No isolation beyond optional rlimits: meant for trusted jobs and for nodes
// without Docker.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/exec/backend.hpp"
#include "runtime/exec/output_store.hpp"

namespace troupe::exec {

struct process_options {
  std::optional<std::uint64_t> rlimit_as_bytes;     // RLIMIT_AS (address space)
  std::optional<std::uint64_t> rlimit_cpu_seconds;  // RLIMIT_CPU: SIGXCPU at the limit, SIGKILL 1 s later
  std::optional<std::uint64_t> rlimit_nproc;        // RLIMIT_NPROC (not enforced for root)
};

class process_backend final : public backend {
 public:
  explicit process_backend(process_options options) : options_(options) {}

  std::string name() const override { return "process"; }
  // /bin/sh is executable.
  bool healthy() override;
  job_result run(const job_spec& spec, cancel_token& cancel) override;
  // Always empty: jobs are killed with their node (see above).
  std::vector<std::string> orphaned_jobs(std::uint64_t node_id) override;
  // Nothing outlives a run, so nothing to remove; stored output is kept.
  void remove_job_artifacts(const std::string& job_id) override;

 private:
  void execute(const job_spec& spec, cancel_token& cancel, job_output& out, job_result& r);
  process_options options_;
};

std::unique_ptr<backend> make_process_backend(process_options options);

}  // namespace troupe::exec
