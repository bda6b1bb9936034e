// Builders for the replicated commands the job table tests feed in, and a
// table that numbers entries the way a Raft log would.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/jobs/job_table.hpp"
#include "scheduler.pb.h"

namespace troupe::jobs::test {

inline scheduler::Command submit(const std::string& id, const std::string& command, std::int64_t created_at_ns,
                                 const std::string& image = "", std::uint32_t timeout_s = 0) {
  scheduler::Command c;
  auto* s = c.mutable_submit_job();
  s->set_job_id(id);
  s->set_command(command);
  s->set_created_at_ns(created_at_ns);
  s->set_created_at_ms(created_at_ns / 1'000'000);
  if (!image.empty()) s->set_image(image);
  s->set_timeout_s(timeout_s);
  return c;
}

inline scheduler::Command assign(const std::string& id, std::uint64_t worker, std::int64_t at_ns = 0) {
  scheduler::Command c;
  auto* a = c.mutable_assign_job();
  a->set_job_id(id);
  a->set_worker_id(worker);
  a->set_assigned_at_ns(at_ns);
  return c;
}

inline scheduler::JobStatusUpdate status_update(const std::string& id, job_status status, std::int64_t at_ns,
                                                std::uint64_t executed_by = 0, std::uint32_t attempt = 0,
                                                std::optional<std::int32_t> exit_code = std::nullopt) {
  scheduler::JobStatusUpdate u;
  u.set_job_id(id);
  u.set_status(static_cast<scheduler::JobStatus>(status));
  u.set_at_ns(at_ns);
  u.set_executed_by(executed_by);
  u.set_attempt(attempt);
  if (exit_code) u.set_exit_code(*exit_code);
  return u;
}

// The same update as a single update_job_status command.
inline scheduler::Command update(const scheduler::JobStatusUpdate& u) {
  scheduler::Command c;
  auto* m = c.mutable_update_job_status();
  m->set_job_id(u.job_id());
  m->set_status(u.status());
  m->set_executed_by(u.executed_by());
  if (u.has_exit_code()) m->set_exit_code(u.exit_code());
  if (u.has_completed_at_ms()) m->set_completed_at_ms(u.completed_at_ms());
  m->set_error(u.error());
  m->set_stdout_inline(u.stdout_inline());
  m->set_stderr_inline(u.stderr_inline());
  m->set_output_truncated(u.output_truncated());
  m->set_at_ns(u.at_ns());
  m->set_attempt(u.attempt());
  return c;
}

inline scheduler::Command running(const std::string& id, std::int64_t at_ns, std::uint64_t executed_by = 0,
                                  std::uint32_t attempt = 0) {
  return update(status_update(id, job_status::running, at_ns, executed_by, attempt));
}

inline scheduler::Command finished(const std::string& id, job_status status, std::int32_t exit_code,
                                   std::int64_t at_ns, std::uint64_t executed_by = 0, std::uint32_t attempt = 0) {
  return update(status_update(id, status, at_ns, executed_by, attempt, exit_code));
}

inline scheduler::Command cancel(const std::string& id, std::int64_t at_ns) {
  scheduler::Command c;
  c.mutable_cancel_job()->set_job_id(id);
  c.mutable_cancel_job()->set_cancelled_at_ns(at_ns);
  return c;
}

inline scheduler::Command requeue(const std::string& id, const std::string& reason, std::uint32_t max_attempts,
                                  std::int64_t at_ns) {
  scheduler::Command c;
  auto* r = c.mutable_requeue_job();
  r->set_job_id(id);
  r->set_reason(reason);
  r->set_max_attempts(max_attempts);
  r->set_at_ns(at_ns);
  return c;
}

inline scheduler::Command register_worker(std::uint64_t worker) {
  scheduler::Command c;
  c.mutable_register_worker()->set_worker_id(worker);
  c.mutable_register_worker()->set_address("127.0.0.1:7000");
  return c;
}

inline scheduler::Command evict(std::int64_t completed_before_ns) {
  scheduler::Command c;
  c.mutable_evict_jobs()->set_completed_before_ns(completed_before_ns);
  return c;
}

// A job table fed consecutive log indexes starting at 1.
struct log_fed_table {
  job_table table;
  std::uint64_t next_index = 1;

  apply_result apply(const scheduler::Command& c) { return table.apply(next_index++, c); }
};

}  // namespace troupe::jobs::test
