// How each replicated command changes the job table. Every rule here is a
// decision all nodes must make identically; each is exercised by
// tests/jobs/job_table_apply_test.cpp, and every refusal's code by
// refusal_test.cpp (drain: drain_test.cpp).
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

apply_error refuse(refusal code, std::string message) { return apply_error{code, std::move(message)}; }

apply_error not_found() { return refuse(refusal::not_found, "job not found"); }

apply_error already(job_status s) { return refuse(refusal::conflict, std::string("job is already ") + to_string(s)); }

apply_error not_in(job_status s, const char* expected) {
  return refuse(refusal::conflict, std::string("job is ") + to_string(s) + ", not " + expected);
}

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
    out.refused = refusal::stale;
    out.error = "entry " + std::to_string(index) + " is already applied (applied index " +
                std::to_string(applied_index_) + ")";
    return out;
  }
  applied_index_ = index;
  apply_error e;
  switch (cmd.kind_case()) {
    case logpb::Command::kSubmitJob: e = apply_submit(index, cmd.submit_job(), out); break;
    case logpb::Command::kAssignJob: e = apply_assign(index, cmd.assign_job(), out); break;
    case logpb::Command::kAssignJobs: e = apply_assign_batch(index, cmd.assign_jobs(), out); break;
    case logpb::Command::kBatchUpdateJobStatus: e = apply_batch(index, cmd.batch_update_job_status(), out); break;
    case logpb::Command::kCancelJob: e = apply_cancel(index, cmd.cancel_job(), out); break;
    case logpb::Command::kRequeueJob: e = apply_requeue(index, cmd.requeue_job(), out); break;
    case logpb::Command::kRequeueJobs: e = apply_requeue_batch(index, cmd.requeue_jobs(), out); break;
    case logpb::Command::kRegisterWorker: e = apply_register(cmd.register_worker()); break;
    case logpb::Command::kEvictJobs: e = apply_evict(index, cmd.evict_jobs(), out); break;
    case logpb::Command::kSetWorkerDraining: e = apply_draining(index, cmd.set_worker_draining(), out); break;
    // Also what an entry holding only a field this schema does not know (the
    // reserved 2, or one from a newer version) parses to.
    case logpb::Command::KIND_NOT_SET: e = refuse(refusal::malformed, "command has no kind set"); break;
  }
  out.refused = e.code;
  out.error = std::move(e.message);
  return out;
}

// A new job starts pending. The id is the proposer's (a UUID in practice, but
// ids from the original system's log are accepted as they are); a duplicate
// id is refused so a retried submit cannot overwrite a job.
// Admission happens here, not at the gateway: the cap the leader stamped into
// the entry is checked against the applied state, so concurrent submits
// through any node can never push the active count past it.
// A submit the leader placed at once (assign_to) is then assigned by the same
// rule as assign_job, at its creation time: listeners see it created pending,
// then assigned. A refused placement (a draining worker) leaves it pending and
// the submit applied.
apply_error job_table::apply_submit(std::uint64_t index, const logpb::SubmitJobCommand& c, apply_result& out) {
  if (c.job_id().empty()) return refuse(refusal::malformed, "submit_job: job_id is empty");
  if (c.command().empty()) return refuse(refusal::malformed, "submit_job: command is empty");
  if (find(c.job_id())) return refuse(refusal::conflict, "job already exists");
  if (c.max_active() != 0 && active_count() >= c.max_active()) {
    return refuse(refusal::over_capacity, "too many active jobs (" + std::to_string(active_count()) + ", limit " +
                                              std::to_string(c.max_active()) + "); retry later");
  }
  const std::int64_t created_ns = c.created_at_ns() != 0 ? c.created_at_ns() : ms_to_ns(c.created_at_ms());
  auto j = std::make_unique<job>();
  j->id = c.job_id();
  j->command = c.command();
  j->image = c.image();
  j->timeout_s = c.timeout_s();
  j->created_at_ns = created_ns;
  j->updated_index = index;
  record(out, index, change_kind::created, job_status::unspecified, *j);
  insert(std::move(j));
  if (c.assign_to() != 0) {
    logpb::AssignJobCommand a;
    a.set_job_id(c.job_id());
    a.set_worker_id(c.assign_to());
    a.set_assigned_at_ns(created_ns);
    apply_assign(index, a, out);
  }
  return {};
}

// Only a pending job can be assigned; each assignment is a new attempt, and
// updates carrying an older attempt number are stale from then on. The worker
// need not be registered: registration and assignment are both leader
// decisions, and refusing here would only lose the job's place in line.
// A draining worker is refused, though: drain is replicated state, so an
// assignment proposed by a leader that had not seen the drain yet cannot land.
apply_error job_table::apply_assign(std::uint64_t index, const logpb::AssignJobCommand& c, apply_result& out) {
  job* j = find_mutable(c.job_id());
  if (!j) return not_found();
  if (c.worker_id() == 0) return refuse(refusal::malformed, "assign_job: worker_id is 0");
  if (is_terminal(j->status)) return already(j->status);
  if (j->status != job_status::pending) return not_in(j->status, "pending");
  if (is_draining(c.worker_id())) {
    return refuse(refusal::conflict, "worker " + std::to_string(c.worker_id()) + " is draining");
  }
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
// a report from a worker other than the assigned one; finally the transition
// itself. Attempt 0 stays "unchecked" here so that the table's replay of a
// log never changes meaning; new updates with attempt 0 are refused before
// they reach the log (transport/peer_validation for ForwardJobStatus).
apply_error job_table::apply_update(std::uint64_t index, const logpb::JobStatusUpdate& u, apply_result& out) {
  job* j = find_mutable(u.job_id());
  if (!j) return not_found();
  if (is_terminal(j->status)) return already(j->status);
  if (u.attempt() != 0 && u.attempt() != j->attempts) {
    return refuse(refusal::stale, "stale update from attempt " + std::to_string(u.attempt()) +
                                      "; job is on attempt " + std::to_string(j->attempts));
  }
  // Only the worker the job is assigned to reports on it (issue 11: a forged
  // report from elsewhere completed a running job with fake output). An
  // honest supervisor runs only jobs assigned to its own node and names
  // itself in executed_by, so this never refuses an honest report.
  if (u.executed_by() != 0 && j->assigned_worker != 0 && u.executed_by() != j->assigned_worker) {
    return refuse(refusal::stale, "update from worker " + std::to_string(u.executed_by()) +
                                      "; job is assigned to worker " + std::to_string(j->assigned_worker));
  }
  const int target = u.status();
  const std::int64_t at = event_time_ns(u.at_ns(), u.has_completed_at_ms(), u.completed_at_ms());
  // A report without executed_by comes from the node the job was assigned to.
  const std::uint64_t executor = u.executed_by() != 0 ? u.executed_by() : j->assigned_worker;
  job_status before = j->status;

  if (target == static_cast<int>(job_status::running)) {
    if (j->status == job_status::running) return refuse(refusal::conflict, "job is already running");
    if (j->status != job_status::assigned) return not_in(j->status, "assigned");
    unindex(j);
    j->status = job_status::running;
    j->started_at_ns = at;
    j->executed_by = executor;
  } else if (target == static_cast<int>(job_status::completed) || target == static_cast<int>(job_status::failed)) {
    // From assigned too: a job can finish (or fail to start) before its
    // RUNNING report is committed.
    if (j->status != job_status::assigned && j->status != job_status::running) {
      return not_in(j->status, "assigned or running");
    }
    unindex(j);
    if (j->status == job_status::assigned && u.started_at_ns() != 0) j->started_at_ns = u.started_at_ns();
    j->status = static_cast<job_status>(target);
    j->exit_code = u.has_exit_code() ? std::optional<std::int32_t>(u.exit_code()) : std::nullopt;
    j->error = u.error();
    j->completed_at_ns = at;
    j->executed_by = executor;
    j->stdout_inline = u.stdout_inline();
    j->stderr_inline = u.stderr_inline();
    j->output_truncated = u.output_truncated();
  } else {
    // pending/assigned/cancelled have their own commands; workers only report
    // progress. Whatever the job's state, such an update is wrong in itself.
    return refuse(refusal::malformed,
                  "status update to " + status_name(target) + " is not allowed (only running, completed or failed)");
  }
  j->updated_index = index;
  reindex(j);
  record(out, index, change_kind::updated, before, *j);
  return {};
}

namespace {

// A batch command: each item applies (or is refused) on its own, in order,
// its outcome in out.update_errors. The command as a whole fails only if none
// applied, and then with the first item's code, matching the message that
// names it ("no <what> in the batch applied; first: ...").
template <class Items, class ApplyOne>
apply_error apply_each(const Items& items, const std::string& empty, const std::string& what, apply_result& out,
                       ApplyOne apply_one) {
  if (items.empty()) return refuse(refusal::malformed, empty);
  bool any_applied = false;
  for (const auto& item : items) {
    apply_error e = apply_one(item);
    if (e.ok()) any_applied = true;
    out.update_errors.push_back(std::move(e));
  }
  if (any_applied) return {};
  const apply_error& first = out.update_errors.front();
  if (out.update_errors.size() == 1) return first;  // a batch of one says why, plainly
  return refuse(first.code, "no " + what + " in the batch applied; first: " + first.message);
}

}  // namespace

// Each update stands alone, in order (so RUNNING then COMPLETED for one job in
// one batch works).
apply_error job_table::apply_batch(std::uint64_t index, const logpb::BatchUpdateJobStatusCommand& c,
                                   apply_result& out) {
  return apply_each(c.updates(), "batch_update_job_status: no updates", "update", out,
                    [&](const logpb::JobStatusUpdate& u) { return apply_update(index, u, out); });
}

// Each assignment on its own: one job cancelled or drained away between the
// dispatcher's decision and the commit does not hold back the others.
apply_error job_table::apply_assign_batch(std::uint64_t index, const logpb::AssignJobsCommand& c,
                                          apply_result& out) {
  return apply_each(c.assignments(), "assign_jobs: no assignments", "assignment", out,
                    [&](const logpb::AssignJobCommand& a) { return apply_assign(index, a, out); });
}

// Each re-queue on its own: a job that finished or was cancelled between the
// dispatcher's decision and the commit does not hold back the others.
apply_error job_table::apply_requeue_batch(std::uint64_t index, const logpb::RequeueJobsCommand& c,
                                           apply_result& out) {
  return apply_each(c.requeues(), "requeue_jobs: no requeues", "requeue", out,
                    [&](const logpb::RequeueJobCommand& r) { return apply_requeue(index, r, out); });
}

// Cancelling keeps assigned_worker, so the node running the job learns from
// the change that it must stop it.
apply_error job_table::apply_cancel(std::uint64_t index, const logpb::CancelJobCommand& c, apply_result& out) {
  job* j = find_mutable(c.job_id());
  if (!j) return not_found();
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
apply_error job_table::apply_requeue(std::uint64_t index, const logpb::RequeueJobCommand& c, apply_result& out) {
  job* j = find_mutable(c.job_id());
  if (!j) return not_found();
  if (is_terminal(j->status)) return already(j->status);
  if (j->status != job_status::assigned && j->status != job_status::running) {
    return not_in(j->status, "assigned or running");
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
apply_error job_table::apply_register(const logpb::RegisterWorkerCommand& c) {
  if (c.worker_id() == 0) return refuse(refusal::malformed, "register_worker: worker_id is 0");
  if (!workers_.insert(c.worker_id()).second) {
    return refuse(refusal::conflict, "worker " + std::to_string(c.worker_id()) + " is already registered");
  }
  return {};
}

// Retention. Takes the prefix of the completion index, so changes come out in
// completion order and the cost is proportional to what is evicted.
apply_error job_table::apply_evict(std::uint64_t index, const logpb::EvictJobsCommand& c, apply_result& out) {
  while (!by_completion_.empty()) {
    const completion_entry& oldest = *by_completion_.begin();
    if (oldest.completed_at_ns > c.completed_before_ns()) break;
    const job* j = oldest.by_creation.j;
    record(out, index, change_kind::evicted, j->status, *j);
    erase(j);
  }
  return {};
}

// Drain or undrain one worker. Asking for the state it already has applies
// and changes nothing, so a retried drain (or undrain) is harmless and no
// change is reported. The worker need not be registered (as for assignment).
apply_error job_table::apply_draining(std::uint64_t index, const logpb::SetWorkerDrainingCommand& c,
                                      apply_result& out) {
  if (c.worker_id() == 0) return refuse(refusal::malformed, "set_worker_draining: worker_id is 0");
  const bool changed = c.draining() ? draining_.insert(c.worker_id()).second : draining_.erase(c.worker_id()) != 0;
  if (changed) out.workers.push_back(worker_change{index, c.worker_id(), c.draining()});
  return {};
}

}  // namespace troupe::jobs
