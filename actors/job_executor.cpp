#include "actors/job_executor.hpp"

#include <chrono>

#include <caf/actor_cast.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/common/log.hpp"
#include "runtime/common/wall_clock.hpp"

namespace troupe {

logpb::JobStatusUpdate to_update(const exec::job_spec& spec, std::uint32_t attempt, const exec::job_result& r,
                                     std::int64_t completed_at_ns) {
  logpb::JobStatusUpdate u;
  u.set_job_id(spec.job_id);
  u.set_executed_by(spec.node_id);
  u.set_attempt(attempt);
  u.set_at_ns(completed_at_ns);
  u.set_completed_at_ms(ns_to_ms(completed_at_ns));
  if (r.exit_code) u.set_exit_code(*r.exit_code);
  std::string error = r.error;
  scheduler::JobStatus status = scheduler::JOB_STATUS_FAILED;
  if (r.result == exec::outcome::cancelled) {
    status = scheduler::JOB_STATUS_CANCELLED;
  } else if (r.result == exec::outcome::completed && r.exit_code && *r.exit_code == 0) {
    status = scheduler::JOB_STATUS_COMPLETED;
  } else if (error.empty() && r.exit_code) {
    error = "exited with code " + std::to_string(*r.exit_code);
  }
  u.set_status(status);
  u.set_error(error);
  u.set_stdout_inline(r.stdout_inline);
  u.set_stderr_inline(r.stderr_inline);
  u.set_output_truncated(r.cut_inline());
  return u;
}

job_executor_actor::behavior_type job_executor(job_executor_actor::stateful_pointer<job_executor_state> self,
                                               std::shared_ptr<exec::backend> backend, exec::job_spec spec,
                                               std::uint32_t attempt, job_supervisor_actor supervisor) {
  self->state.cancel = std::make_shared<exec::cancel_token>();
  auto me = caf::actor_cast<job_executor_actor>(self);
  // The backend runs the job on its own threads (the process backend: one
  // event loop for all jobs) and reports through the callback, on one of
  // those threads: the result comes back to this actor as a message, so no
  // CAF thread ever blocks on a job. The start record (in the
  // supervisor's spec.journal) is the backend's to write, durably
  // and strictly before anything of the job runs: a
  // restarted node must know this attempt may have run (job_supervisor then
  // reports it failed, and does not run it again).
  spec.attempt = attempt;  // the supervisor passes the same value; the record must name this one
  backend->start(spec, self->state.cancel, [spec, attempt, me](exec::job_result r) {
    auto update = to_update(spec, attempt, r, wall_clock_ns());
    caf::anon_send(me, done_atom::value, executor_result{spec.job_id, attempt, std::move(update)});
  });
  // Ending for any reason but its result (the supervisor gone, the node
  // stopping) ends the job too: nothing keeps running that nobody will
  // report.
  self->attach_functor([token = self->state.cancel](const caf::error& reason) {
    if (reason) token->cancel();
  });
  self->monitor(supervisor);
  self->set_down_handler([=](caf::down_msg&) { self->quit(caf::exit_reason::user_shutdown); });
  return {
      [=](cancel_atom) { self->state.cancel->cancel(); },
      [=](done_atom, executor_result& r) {
        self->send(supervisor, done_atom::value, std::move(r));
        self->quit();
      },
  };
}

}  // namespace troupe
