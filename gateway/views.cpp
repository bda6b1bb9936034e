#include "gateway/views.hpp"

#include "runtime/common/utf8.hpp"
#include "runtime/common/wall_clock.hpp"

namespace troupe::views {

namespace {

// JobInfo and GetJobStatusResponse carry the same job fields under the same
// names (their numbers differ, which protobuf's generated setters hide).
// Every text field a job's bytes reach goes through utf8::valid: proto3
// `string` must be UTF-8 or the client fails to parse the whole response
// (issue 11). The table keeps the raw bytes; only this copy is repaired.
template <class Msg>
void set_common_fields(const jobs::job& j, Msg* out) {
  out->set_job_id(j.id);
  out->set_command(utf8::valid(j.command));
  out->set_status(static_cast<scheduler::JobStatus>(j.status));
  out->set_assigned_worker(j.assigned_worker);
  out->set_executed_by(j.executed_by);
  if (j.exit_code) out->set_exit_code(*j.exit_code);
  out->set_image(utf8::valid(j.image));
  out->set_error(utf8::valid(j.error));
  out->set_attempts(j.attempts);
  out->set_created_at_ms(ns_to_ms(j.created_at_ns));
  out->set_created_at_ns(j.created_at_ns);
  if (j.completed_at_ns) {
    out->set_completed_at_ms(ns_to_ms(*j.completed_at_ns));
    out->set_completed_at_ns(*j.completed_at_ns);
  }
  if (j.started_at_ns) out->set_started_at_ms(ns_to_ms(*j.started_at_ns));
}

}  // namespace

void to_job_info(const jobs::job& j, scheduler::JobInfo* out) { set_common_fields(j, out); }

void to_job_status(const jobs::job& j, scheduler::GetJobStatusResponse* out) {
  set_common_fields(j, out);
  out->set_output(utf8::valid(j.stdout_inline));
  out->set_stderr(utf8::valid(j.stderr_inline));
  out->set_output_truncated(j.output_truncated);
}

jobs::list_query to_list_query(const scheduler::ListJobsRequest& r) {
  jobs::list_query q;
  q.page_size = r.page_size();
  q.page_token = r.page_token();
  q.status = static_cast<jobs::job_status>(r.status_filter());
  q.worker = r.worker_id_filter();
  q.command_substring = r.command_filter();
  q.created_after_ms = r.created_after_ms();
  q.created_before_ms = r.created_before_ms();
  return q;
}

}  // namespace troupe::views
