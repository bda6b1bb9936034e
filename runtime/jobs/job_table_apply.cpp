// How each replicated command changes the job table. Every rule here is a
// decision all nodes must make identically; each is exercised by
// tests/jobs/job_table_apply_test.cpp.
//
// Lifecycle:  pending -> assigned -> running -> completed | failed
//             pending | assigned | running -> cancelled
//             assigned | running -> pending (requeue) or failed (out of attempts)
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "runtime/jobs/job_table.hpp"

namespace troupe::jobs {

namespace {

// Milliseconds to nanoseconds, clamped instead of overflowing: a corrupt or
// hostile time must not become undefined behaviour on some nodes.
std::int64_t ms_to_ns(std::int64_t ms) {
  constexpr std::int64_t ns_per_ms = 1'000'000;
  if (ms > std::numeric_limits<std::int64_t>::max() / ns_per_ms) return std::numeric_limits<std::int64_t>::max();
  if (ms < std::numeric_limits<std::int64_t>::min() / ns_per_ms) return std::numeric_limits<std::int64_t>::min();
  return ms * ns_per_ms;
}

// Commands carry a nanosecond time and, for older proposers, a millisecond
// one; the nanosecond field wins when set. With neither, the time is 0: a
// transition always records the time its command carried.
std::int64_t event_time_ns(std::int64_t ns, bool has_ms, std::int64_t ms) {
  if (ns != 0) return ns;
  return has_ms ? ms_to_ns(ms) : 0;
}

std::string already(job_status s) { return std::string("job is already ") + to_string(s); }

std::string status_name(int value) {
  return is_known_status(value) ? to_string(static_cast<job_status>(value)) : "unknown status " + std::to_string(value);
}

void record(apply_result& out, std::uint64_t index, change_kind kind, job_status before, const job& after) {
  out.changes.push_back(job_change{index, kind, before, after});
}

}  // namespace

apply_result job_table::apply(std::uint64_t index, const logpb::Command& cmd) {
  apply_result out;
  // Raft delivers each committed entry once and in order; after a restore the
  // log may replay entries the snapshot already covers. Those must not apply twice.
  if (index <= applied_index_) {
    out.error = "entry " + std::to_string(index) + " is already applied (applied index " +
                std::to_string(applied_index_) + ")";
    return out;
  }
  applied_index_ = index;
  switch (cmd.kind_case()) {
    case logpb::Command::kSubmitJob: out.error = apply_submit(index, cmd.submit_job(), out); break;
    case logpb::Command::kAssignJob: out.error = apply_assign(index, cmd.assign_job(), out); break;
    case logpb::Command::kBatchUpdateJobStatus:
      out.error = apply_batch(index, cmd.batch_update_job_status(), out);
      break;
    case logpb::Command::kCancelJob: out.error = apply_cancel(index, cmd.cancel_job(), out); break;
    case logpb::Command::kRequeueJob: out.error = apply_requeue(index, cmd.requeue_job(), out); break;
    case logpb::Command::kRegisterWorker: out.error = apply_register(cmd.register_worker()); break;
    case logpb::Command::kEvictJobs: out.error = apply_evict(index, cmd.evict_jobs(), out); break;
    case logpb::Command::KIND_NOT_SET: out.error = "command has no kind set"; break;
  }
  if (!out.error.empty()) out.refused = out.error == "job not found" ? refusal::not_found : refusal::conflict;
  return out;
}

// A new job starts pending. The id is the proposer's (a UUID in practice, but
// ids from the original system's log are accepted as they are); a duplicate
// id is refused so a retried submit cannot overwrite a job.
std::string job_table::apply_submit(std::uint64_t index, const logpb::SubmitJobCommand& c, apply_result& out) {
  if (c.job_id().empty()) return "submit_job: job_id is empty";
  if (c.command().empty()) return "submit_job: command is empty";
  if (find(c.job_id())) return "job already exists";
  auto j = std::make_unique<job>();
  j->id = c.job_id();
  j->command = c.command();
  j->image = c.image();
  j->timeout_s = c.timeout_s();
  j->created_at_ns = c.created_at_ns() != 0 ? c.created_at_ns() : ms_to_ns(c.created_at_ms());
  j->updated_index = index;
  record(out, index, change_kind::created, job_status::unspecified, *j);
  insert(std::move(j));
  return {};
}

// Only a pending job can be assigned; each assignment is a new attempt, and
// updates carrying an older attempt number are stale from then on. The worker
// need not be registered: registration and assignment are both leader
// decisions, and refusing here would only lose the job's place in line.
std::string job_table::apply_assign(std::uint64_t index, const logpb::AssignJobCommand& c, apply_result& out) {
  job* j = find_mutable(c.job_id());
  if (!j) return "job not found";
  if (c.worker_id() == 0) return "assign_job: worker_id is 0";
  if (is_terminal(j->status)) return already(j->status);
  if (j->status != job_status::pending) return std::string("job is ") + to_string(j->status) + ", not pending";
  job_status before = j->status;
  unindex(j);
  j->status = job_status::assigned;
  j->assigned_worker = c.worker_id();
  j->assigned_at_ns = c.assigned_at_ns();
  j->attempts += 1;
  j->updated_index = index;
  reindex(j);
  record(out, index, change_kind::updated, before, *j);
  return {};
}

// A worker's report. Checked in this order, so the most useful reason wins:
// unknown job; terminal job (a cancelled job stays cancelled even if its
// executor later reports completion); stale attempt (the job was requeued
// after its worker was declared dead, and that worker still reported);
// finally the transition itself.
std::string job_table::apply_update(std::uint64_t index, const logpb::JobStatusUpdate& u, apply_result& out) {
  job* j = find_mutable(u.job_id());
  if (!j) return "job not found";
  if (is_terminal(j->status)) return already(j->status);
  if (u.attempt() != 0 && u.attempt() != j->attempts) {
    return "stale update from attempt " + std::to_string(u.attempt()) + "; job is on attempt " +
           std::to_string(j->attempts);
  }
  const int target = u.status();
  const std::int64_t at = event_time_ns(u.at_ns(), u.has_completed_at_ms(), u.completed_at_ms());
  // A report without executed_by comes from the node the job was assigned to.
  const std::uint64_t executor = u.executed_by() != 0 ? u.executed_by() : j->assigned_worker;
  job_status before = j->status;

  if (target == static_cast<int>(job_status::running)) {
    if (j->status == job_status::running) return "job is already running";
    if (j->status != job_status::assigned) return std::string("job is ") + to_string(j->status) + ", not assigned";
    unindex(j);
    j->status = job_status::running;
    j->started_at_ns = at;
    j->executed_by = executor;
  } else if (target == static_cast<int>(job_status::completed) || target == static_cast<int>(job_status::failed)) {
    // From assigned too: a job can finish (or fail to start) before its
    // RUNNING report is committed.
    if (j->status != job_status::assigned && j->status != job_status::running) {
      return std::string("job is ") + to_string(j->status) + ", not assigned or running";
    }
    unindex(j);
    j->status = static_cast<job_status>(target);
    j->exit_code = u.has_exit_code() ? std::optional<std::int32_t>(u.exit_code()) : std::nullopt;
    j->error = u.error();
    j->completed_at_ns = at;
    j->executed_by = executor;
    j->stdout_inline = u.stdout_inline();
    j->stderr_inline = u.stderr_inline();
    j->output_truncated = u.output_truncated();
  } else {
    // pending/assigned/cancelled have their own commands; workers only report progress.
    return "status update to " + status_name(target) + " is not allowed (only running, completed or failed)";
  }
  j->updated_index = index;
  reindex(j);
  record(out, index, change_kind::updated, before, *j);
  return {};
}

// Each update stands alone, in order (so RUNNING then COMPLETED for one job in
// one batch works). The command as a whole fails only if none applied.
std::string job_table::apply_batch(std::uint64_t index, const logpb::BatchUpdateJobStatusCommand& c,
                                   apply_result& out) {
  if (c.updates().empty()) return "batch_update_job_status: no updates";
  bool any_applied = false;
  for (const logpb::JobStatusUpdate& u : c.updates()) {
    std::string error = apply_update(index, u, out);
    if (error.empty()) any_applied = true;
    out.update_errors.push_back(std::move(error));
  }
  if (any_applied) return {};
  if (out.update_errors.size() == 1) return out.update_errors.front();  // a batch of one says why, plainly
  return "no update in the batch applied; first: " + out.update_errors.front();
}

// Cancelling keeps assigned_worker, so the node running the job learns from
// the change that it must stop it.
std::string job_table::apply_cancel(std::uint64_t index, const logpb::CancelJobCommand& c, apply_result& out) {
  job* j = find_mutable(c.job_id());
  if (!j) return "job not found";
  if (is_terminal(j->status)) return already(j->status);
  job_status before = j->status;
  unindex(j);
  j->status = job_status::cancelled;
  j->completed_at_ns = event_time_ns(c.cancelled_at_ns(), true, c.cancelled_at_ms());
  j->updated_index = index;
  reindex(j);
  record(out, index, change_kind::updated, before, *j);
  return {};
}

// The worker holding the job is gone. With attempts left the job is pending
// again as if never assigned (attempts kept, so its next reports carry a new
// attempt number); without, it fails with the reason.
std::string job_table::apply_requeue(std::uint64_t index, const logpb::RequeueJobCommand& c, apply_result& out) {
  job* j = find_mutable(c.job_id());
  if (!j) return "job not found";
  if (is_terminal(j->status)) return already(j->status);
  if (j->status != job_status::assigned && j->status != job_status::running) {
    return std::string("job is ") + to_string(j->status) + ", not assigned or running";
  }
  job_status before = j->status;
  unindex(j);
  if (c.max_attempts() > 0 && j->attempts >= c.max_attempts()) {
    j->status = job_status::failed;
    const std::string reason = c.reason().empty() ? "requeued" : c.reason();
    j->error = reason + "; gave up after " + std::to_string(j->attempts) + " attempts";
    j->completed_at_ns = c.at_ns();
  } else {
    j->status = job_status::pending;
    j->assigned_worker = 0;
    j->assigned_at_ns = 0;
    j->executed_by = 0;
    j->started_at_ns.reset();
  }
  j->updated_index = index;
  reindex(j);
  record(out, index, change_kind::updated, before, *j);
  return {};
}

// The table keeps worker ids only; addresses live in the cluster membership.
std::string job_table::apply_register(const logpb::RegisterWorkerCommand& c) {
  if (c.worker_id() == 0) return "register_worker: worker_id is 0";
  if (!workers_.insert(c.worker_id()).second) return "worker " + std::to_string(c.worker_id()) + " is already registered";
  return {};
}

// Retention. Takes the prefix of the completion index, so changes come out in
// completion order and the cost is proportional to what is evicted.
std::string job_table::apply_evict(std::uint64_t index, const logpb::EvictJobsCommand& c, apply_result& out) {
  while (!by_completion_.empty()) {
    const completion_entry& oldest = *by_completion_.begin();
    if (oldest.completed_at_ns > c.completed_before_ns()) break;
    const job* j = oldest.by_creation.j;
    record(out, index, change_kind::evicted, j->status, *j);
    erase(j);
  }
  return {};
}

}  // namespace troupe::jobs
