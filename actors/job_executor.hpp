// job_executor: one actor per job attempt running on this node. It starts the
// job through the executor backend's asynchronous API (backend::start: the
// result arrives as a message; no thread of its own per job), relays a cancel
// to the backend at once, and hands the result to the job_supervisor that
// spawned and monitors it, then exits.
#pragma once

#include <memory>

#include "actors/interfaces.hpp"
#include "runtime/exec/backend.hpp"

namespace troupe {

struct job_executor_state {
  static inline const char* name = "job_executor";
  std::shared_ptr<exec::cancel_token> cancel;
};

job_executor_actor::behavior_type job_executor(job_executor_actor::stateful_pointer<job_executor_state> self,
                                               std::shared_ptr<exec::backend> backend, exec::job_spec spec,
                                               std::uint32_t attempt, job_supervisor_actor supervisor);

// The status update a finished run becomes (COMPLETED only for exit code 0).
logpb::JobStatusUpdate to_update(const exec::job_spec& spec, std::uint32_t attempt, const exec::job_result& r,
                                     std::int64_t completed_at_ns);

}  // namespace troupe
