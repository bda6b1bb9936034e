#include "actors/job_executor.hpp"

#include <chrono>

#include <caf/actor_cast.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/common/log.hpp"
#include "runtime/common/wall_clock.hpp"
#include "runtime/exec/output_store.hpp"

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
  u.set_output_truncated(r.truncated || r.stdout_inline.size() < r.stdout_bytes ||
                         r.stderr_inline.size() < r.stderr_bytes);
  return u;
}

job_executor_actor::behavior_type job_executor(job_executor_actor::stateful_pointer<job_executor_state> self,
                                               std::shared_ptr<exec::backend> backend, exec::job_spec spec,
                                               std::uint32_t attempt, job_supervisor_actor supervisor) {
  self->state.cancel = std::make_shared<exec::cancel_token>();
  auto me = caf::actor_cast<job_executor_actor>(self);
  // The backend blocks for the whole run; it runs in a detached helper actor
  // (a thread of its own, owned by the actor system, which waits for it at
  // shutdown) so this actor stays responsive to cancel.
  self->spawn<caf::detached>([backend, spec, attempt, token = self->state.cancel, me](caf::blocking_actor*) {
    exec::job_result r;
    try {
      // Durable before anything runs: a restarted node must know this
      // attempt may have run (job_supervisor reports it failed, not again).
      exec::record_start(spec.output_dir, spec.job_id, attempt);
    } catch (const std::exception& e) {
      r.result = exec::outcome::failed;
      r.error = std::string("cannot record the job's start: ") + e.what();
      auto update = to_update(spec, attempt, r, wall_clock_ns());
      caf::anon_send(me, done_atom::value, executor_result{spec.job_id, attempt, std::move(update)});
      return;
    }
    try {
      r = backend->run(spec, *token);
    } catch (const std::exception& e) {
      r.result = exec::outcome::failed;
      r.error = std::string("executor error: ") + e.what();
    }
    auto now = wall_clock_ns();
    caf::anon_send(me, done_atom::value, executor_result{spec.job_id, attempt, to_update(spec, attempt, r, now)});
  });
  // Ending for any reason but its result (the supervisor gone, the node
  // stopping) ends the job too, so the helper returns and the actor system is
  // not left waiting for a job nobody will report.
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
