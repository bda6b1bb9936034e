// Builders for the replicated commands the job table tests feed in, and a
// table that numbers entries the way a Raft log would.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/jobs/job_table.hpp"
#include "log_command.pb.h"

namespace troupe::jobs::test {

inline logpb::Command submit(const std::string& id, const std::string& command, std::int64_t created_at_ns,
                                 const std::string& image = "", std::uint32_t timeout_s = 0) {
  logpb::Command c;
  auto* s = c.mutable_submit_job();
  s->set_job_id(id);
  s->set_command(command);
  s->set_created_at_ns(created_at_ns);
  s->set_created_at_ms(created_at_ns / 1'000'000);
  if (!image.empty()) s->set_image(image);
  s->set_timeout_s(timeout_s);
  return c;
}

inline logpb::Command assign(const std::string& id, std::uint64_t worker, std::int64_t at_ns = 0) {
  logpb::Command c;
  auto* a = c.mutable_assign_job();
  a->set_job_id(id);
  a->set_worker_id(worker);
  a->set_assigned_at_ns(at_ns);
  return c;
}

inline logpb::JobStatusUpdate status_update(const std::string& id, job_status status, std::int64_t at_ns,
                                                std::uint64_t executed_by = 0, std::uint32_t attempt = 0,
                                                std::optional<std::int32_t> exit_code = std::nullopt) {
  logpb::JobStatusUpdate u;
  u.set_job_id(id);
  u.set_status(static_cast<scheduler::JobStatus>(status));
  u.set_at_ns(at_ns);
  u.set_executed_by(executed_by);
  u.set_attempt(attempt);
  if (exit_code) u.set_exit_code(*exit_code);
  return u;
}

// The update as a batch of one (the only status command the log carries).
inline logpb::Command update(const logpb::JobStatusUpdate& u) {
  logpb::Command c;
  *c.mutable_batch_update_job_status()->add_updates() = u;
  return c;
}

inline logpb::Command running(const std::string& id, std::int64_t at_ns, std::uint64_t executed_by = 0,
                                  std::uint32_t attempt = 0) {
  return update(status_update(id, job_status::running, at_ns, executed_by, attempt));
}

inline logpb::Command finished(const std::string& id, job_status status, std::int32_t exit_code,
                                   std::int64_t at_ns, std::uint64_t executed_by = 0, std::uint32_t attempt = 0) {
  return update(status_update(id, status, at_ns, executed_by, attempt, exit_code));
}

inline logpb::Command cancel(const std::string& id, std::int64_t at_ns) {
  logpb::Command c;
  c.mutable_cancel_job()->set_job_id(id);
  c.mutable_cancel_job()->set_cancelled_at_ns(at_ns);
  return c;
}

inline logpb::Command requeue(const std::string& id, const std::string& reason, std::uint32_t max_attempts,
                                  std::int64_t at_ns) {
  logpb::Command c;
  auto* r = c.mutable_requeue_job();
  r->set_job_id(id);
  r->set_reason(reason);
  r->set_max_attempts(max_attempts);
  r->set_at_ns(at_ns);
  return c;
}

inline logpb::Command register_worker(std::uint64_t worker) {
  logpb::Command c;
  c.mutable_register_worker()->set_worker_id(worker);
  c.mutable_register_worker()->set_address("127.0.0.1:7000");
  return c;
}

inline logpb::Command evict(std::int64_t completed_before_ns) {
  logpb::Command c;
  c.mutable_evict_jobs()->set_completed_before_ns(completed_before_ns);
  return c;
}

inline logpb::Command set_draining(std::uint64_t worker, bool draining) {
  logpb::Command c;
  c.mutable_set_worker_draining()->set_worker_id(worker);
  c.mutable_set_worker_draining()->set_draining(draining);
  return c;
}

// A submit carrying the leader's admission cap, as raft_node stamps it.
inline logpb::Command submit_capped(const std::string& id, std::int64_t created_at_ns, std::uint64_t max_active) {
  logpb::Command c = submit(id, "true", created_at_ns);
  c.mutable_submit_job()->set_max_active(max_active);
  return c;
}

// A job table fed consecutive log indexes starting at 1.
struct log_fed_table {
  job_table table;
  std::uint64_t next_index = 1;

  apply_result apply(const logpb::Command& c) { return table.apply(next_index++, c); }
};

}  // namespace troupe::jobs::test
