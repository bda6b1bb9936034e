// Every transition of the job state machine and every refusal.
#include <doctest/doctest.h>

#include <limits>
#include <utility>

#include "commands.hpp"

using namespace troupe::jobs;
namespace logpb = troupe::logpb;
using namespace troupe::jobs::test;

namespace {

constexpr std::int64_t t0 = 1'769'604'341'000'000'000;  // 2026-01-28T12:45:41Z

// Applies `c`, which must succeed, and returns its result.
apply_result must_apply(log_fed_table& t, const logpb::Command& c) {
  apply_result r = t.apply(c);
  INFO("error: " << r.error);
  REQUIRE(r.error.empty());
  return r;
}

// Applies `c`, which must be refused with exactly `error` and change nothing
// but the applied index.
void must_refuse(log_fed_table& t, const logpb::Command& c, const std::string& error) {
  const std::string before = t.table.snapshot();
  const std::uint64_t index = t.next_index;
  apply_result r = t.apply(c);
  CHECK(r.error == error);
  CHECK(r.changes.empty());
  CHECK(t.table.applied_index() == index);
  // Same bytes apart from the applied index: restore the old snapshot, bump
  // its index with a no-op-equivalent refused command, compare.
  job_table expected;
  expected.restore(before);
  logpb::Command nothing;
  expected.apply(index, nothing);
  CHECK(expected.snapshot() == t.table.snapshot());
}

// A job submitted at t0 and assigned to `worker` (attempt 1).
log_fed_table with_assigned_job(const std::string& id, std::uint64_t worker) {
  log_fed_table t;
  must_apply(t, submit(id, "echo hi", t0));
  must_apply(t, assign(id, worker, t0 + 10));
  return t;
}

}  // namespace

TEST_CASE("submit_job creates a pending job from the command's fields") {
  log_fed_table t;
  apply_result r = must_apply(t, submit("j1", "echo hello", t0 + 5, "alpine:3", 30));
  const job* j = t.table.find("j1");
  REQUIRE(j);
  CHECK(j->command == "echo hello");
  CHECK(j->image == "alpine:3");
  CHECK(j->timeout_s == 30);
  CHECK(j->status == job_status::pending);
  CHECK(j->created_at_ns == t0 + 5);
  CHECK(j->attempts == 0);
  CHECK(j->assigned_worker == 0);
  CHECK_FALSE(j->started_at_ns.has_value());
  CHECK_FALSE(j->completed_at_ns.has_value());
  CHECK(j->updated_index == 1);
  REQUIRE(r.changes.size() == 1);
  CHECK(r.changes[0].index == 1);
  CHECK(r.changes[0].kind == change_kind::created);
  CHECK(r.changes[0].before == job_status::unspecified);
  CHECK(r.changes[0].after == *j);
  CHECK(t.table.size() == 1);
  CHECK(t.table.active_count() == 1);
}

TEST_CASE("submit_job without created_at_ns falls back to created_at_ms") {
  log_fed_table t;
  logpb::Command c = submit("j1", "true", 0);
  c.mutable_submit_job()->set_created_at_ms(1'769'604'341'231);
  must_apply(t, c);
  CHECK(t.table.find("j1")->created_at_ns == 1'769'604'341'231'000'000);
  CHECK(t.table.find("j1")->image.empty());
}

TEST_CASE("submit_job refuses a duplicate id, an empty id and an empty command") {
  log_fed_table t;
  must_apply(t, submit("j1", "first", t0));
  must_refuse(t, submit("j1", "second", t0 + 1), "job already exists");
  CHECK(t.table.find("j1")->command == "first");
  must_refuse(t, submit("", "x", t0), "submit_job: job_id is empty");
  must_refuse(t, submit("j2", "", t0), "submit_job: command is empty");
  CHECK(t.table.size() == 1);
}

TEST_CASE("assign_job moves a pending job to assigned and counts the attempt") {
  log_fed_table t;
  must_apply(t, submit("j1", "true", t0));
  apply_result r = must_apply(t, assign("j1", 7, t0 + 100));
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::assigned);
  CHECK(j->assigned_worker == 7);
  CHECK(j->assigned_at_ns == t0 + 100);
  CHECK(j->attempts == 1);
  CHECK(j->updated_index == 2);
  REQUIRE(r.changes.size() == 1);
  CHECK(r.changes[0].kind == change_kind::updated);
  CHECK(r.changes[0].before == job_status::pending);
  CHECK(r.changes[0].after.status == job_status::assigned);
  REQUIRE(t.table.on_worker(7).size() == 1);
  CHECK(t.table.on_worker(7)[0] == j);
  CHECK(t.table.on_worker(8).empty());
  CHECK(t.table.active_count() == 1);
}

TEST_CASE("a submit placed by the leader creates the job assigned, as submit then assign_job would") {
  logpb::Command c = submit("j1", "true", t0 + 5);
  c.mutable_submit_job()->set_assign_to(7);
  log_fed_table t;
  apply_result r = must_apply(t, c);
  const job* j = t.table.find("j1");
  REQUIRE(j);
  CHECK(j->status == job_status::assigned);
  CHECK(j->assigned_worker == 7);
  CHECK(j->assigned_at_ns == t0 + 5);
  CHECK(j->attempts == 1);
  CHECK(j->updated_index == 1);
  // Listeners see the job created pending, then assigned, in the same entry.
  REQUIRE(r.changes.size() == 2);
  CHECK(r.changes[0].kind == change_kind::created);
  CHECK(r.changes[0].after.status == job_status::pending);
  CHECK(r.changes[1].kind == change_kind::updated);
  CHECK(r.changes[1].index == 1);
  CHECK(r.changes[1].before == job_status::pending);
  CHECK(r.changes[1].after == *j);
  REQUIRE(t.table.on_worker(7).size() == 1);
  CHECK(t.table.count(job_status::pending) == 0);
  // Its reports follow as for any assigned job (attempt 1).
  must_apply(t, running("j1", t0 + 20, 7, 1));
  CHECK(t.table.find("j1")->status == job_status::running);
}

TEST_CASE("assign_job refuses unknown, non-pending and terminal jobs and worker 0") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_refuse(t, assign("nope", 7), "job not found");
  must_refuse(t, assign("j1", 8), "job is assigned, not pending");
  must_apply(t, running("j1", t0 + 20));
  must_refuse(t, assign("j1", 8), "job is running, not pending");
  must_apply(t, submit("j2", "true", t0));
  must_refuse(t, assign("j2", 0), "assign_job: worker_id is 0");
  must_apply(t, finished("j1", job_status::completed, 0, t0 + 30));
  must_refuse(t, assign("j1", 8), "job is already completed");
  CHECK(t.table.find("j1")->attempts == 1);
}

TEST_CASE("RUNNING from assigned records the start and the executor") {
  log_fed_table t = with_assigned_job("j1", 7);
  apply_result r = must_apply(t, running("j1", t0 + 20, 7, 1));
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::running);
  CHECK(j->started_at_ns == t0 + 20);
  CHECK(j->executed_by == 7);
  CHECK(j->assigned_worker == 7);
  REQUIRE(r.changes.size() == 1);
  CHECK(r.changes[0].before == job_status::assigned);
}

TEST_CASE("RUNNING without executed_by names the assigned worker") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, running("j1", t0 + 20));
  CHECK(t.table.find("j1")->executed_by == 7);
}

TEST_CASE("RUNNING is refused for pending and already running jobs") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, submit("j2", "true", t0 + 1));
  must_refuse(t, running("j2", t0 + 2), "job is pending, not assigned");
  must_apply(t, running("j1", t0 + 20));
  must_refuse(t, running("j1", t0 + 21), "job is already running");
  CHECK(t.table.find("j1")->started_at_ns == t0 + 20);
}

TEST_CASE("COMPLETED from running records result, time, executor and output") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, running("j1", t0 + 20));
  logpb::JobStatusUpdate u = status_update("j1", job_status::completed, t0 + 30, 7, 1, 0);
  u.set_stdout_inline("hello\n");
  u.set_stderr_inline(std::string("warn\0x", 6));
  u.set_output_truncated(true);
  apply_result r = must_apply(t, update(u));
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::completed);
  CHECK(j->exit_code == 0);
  CHECK(j->completed_at_ns == t0 + 30);
  CHECK(j->executed_by == 7);
  CHECK(j->stdout_inline == "hello\n");
  CHECK(j->stderr_inline == std::string("warn\0x", 6));
  CHECK(j->output_truncated);
  CHECK(j->error.empty());
  CHECK(r.changes.at(0).before == job_status::running);
  CHECK(t.table.on_worker(7).empty());
  CHECK(t.table.active_count() == 0);
}

TEST_CASE("FAILED straight from assigned records the error, completed_at_ms fallback") {
  log_fed_table t = with_assigned_job("j1", 7);
  logpb::JobStatusUpdate u = status_update("j1", job_status::failed, 0, 7, 1, 127);
  u.set_error("image not found");
  u.set_completed_at_ms(1'769'604'342'500);
  must_apply(t, update(u));
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::failed);
  CHECK(j->exit_code == 127);
  CHECK(j->error == "image not found");
  CHECK(j->completed_at_ns == 1'769'604'342'500'000'000);
  CHECK_FALSE(j->started_at_ns.has_value());
}

TEST_CASE("a final update from assigned that folds RUNNING records its start; from running it keeps the first") {
  log_fed_table t = with_assigned_job("j1", 7);
  logpb::JobStatusUpdate u = status_update("j1", job_status::completed, t0 + 30, 7, 1, 0);
  u.set_started_at_ns(t0 + 20);
  must_apply(t, update(u));
  CHECK(t.table.find("j1")->status == job_status::completed);
  CHECK(t.table.find("j1")->started_at_ns == t0 + 20);
  CHECK(t.table.find("j1")->completed_at_ns == t0 + 30);
  log_fed_table r = with_assigned_job("j2", 7);
  must_apply(r, running("j2", t0 + 10, 7, 1));
  logpb::JobStatusUpdate v = status_update("j2", job_status::completed, t0 + 30, 7, 1, 0);
  v.set_started_at_ns(t0 + 25);
  must_apply(r, update(v));
  CHECK(r.table.find("j2")->started_at_ns == t0 + 10);
}

TEST_CASE("a completion without an exit code leaves it unset") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, update(status_update("j1", job_status::failed, t0 + 5)));
  CHECK_FALSE(t.table.find("j1")->exit_code.has_value());
}

TEST_CASE("COMPLETED is refused for a pending job") {
  log_fed_table t;
  must_apply(t, submit("j1", "true", t0));
  must_refuse(t, finished("j1", job_status::completed, 0, t0 + 1), "job is pending, not assigned or running");
}

TEST_CASE("workers may only report running, completed or failed") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_refuse(t, update(status_update("j1", job_status::pending, t0)),
              "status update to pending is not allowed (only running, completed or failed)");
  must_refuse(t, update(status_update("j1", job_status::cancelled, t0)),
              "status update to cancelled is not allowed (only running, completed or failed)");
  must_refuse(t, update(status_update("j1", job_status::assigned, t0)),
              "status update to assigned is not allowed (only running, completed or failed)");
  must_refuse(t, update(status_update("j1", job_status::unspecified, t0)),
              "status update to unspecified is not allowed (only running, completed or failed)");
  must_refuse(t, update(status_update("j1", static_cast<job_status>(99), t0)),
              "status update to unknown status 99 is not allowed (only running, completed or failed)");
  must_refuse(t, update(status_update("nope", job_status::running, t0)), "job not found");
}

TEST_CASE("updates from an older attempt are stale; attempt 0 means unchecked") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, requeue("j1", "worker 7 lost", 0, t0 + 50));
  must_apply(t, assign("j1", 8, t0 + 60));
  REQUIRE(t.table.find("j1")->attempts == 2);
  must_refuse(t, running("j1", t0 + 70, 7, 1), "stale update from attempt 1; job is on attempt 2");
  must_refuse(t, finished("j1", job_status::completed, 0, t0 + 70, 7, 3),
              "stale update from attempt 3; job is on attempt 2");
  must_apply(t, running("j1", t0 + 80, 8, 2));
  must_apply(t, finished("j1", job_status::completed, 0, t0 + 90, 8, 0));
  CHECK(t.table.find("j1")->status == job_status::completed);
}

TEST_CASE("a cancelled job stays cancelled when its executor reports completion") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, running("j1", t0 + 20));
  must_apply(t, cancel("j1", t0 + 25));
  must_refuse(t, finished("j1", job_status::completed, 0, t0 + 30, 7, 1), "job is already cancelled");
  must_refuse(t, running("j1", t0 + 30), "job is already cancelled");
  CHECK(t.table.find("j1")->status == job_status::cancelled);
  CHECK(t.table.find("j1")->completed_at_ns == t0 + 25);
}

TEST_CASE("batch_update_job_status applies each update in order and reports each") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, submit("j2", "true", t0 + 1));
  logpb::Command c;
  auto* b = c.mutable_batch_update_job_status();
  *b->add_updates() = status_update("j1", job_status::running, t0 + 20, 7, 1);
  *b->add_updates() = status_update("j2", job_status::running, t0 + 20);  // pending: refused
  *b->add_updates() = status_update("j1", job_status::completed, t0 + 30, 7, 1, 0);
  *b->add_updates() = status_update("ghost", job_status::completed, t0 + 30);
  apply_result r = must_apply(t, c);
  REQUIRE(r.update_errors.size() == 4);
  CHECK(r.update_errors[0].ok());
  CHECK(r.update_errors[1].message == "job is pending, not assigned");
  CHECK(r.update_errors[1].code == refusal::conflict);
  CHECK(r.update_errors[2].ok());
  CHECK(r.update_errors[3].message == "job not found");
  CHECK(r.update_errors[3].code == refusal::not_found);
  REQUIRE(r.changes.size() == 2);
  CHECK(r.changes[0].after.status == job_status::running);
  CHECK(r.changes[1].before == job_status::running);
  CHECK(r.changes[1].after.status == job_status::completed);
  CHECK(t.table.find("j1")->status == job_status::completed);
  CHECK(t.table.find("j1")->started_at_ns == t0 + 20);
  CHECK(t.table.find("j2")->status == job_status::pending);
}

TEST_CASE("assign_jobs applies each assignment on its own and reports each") {
  log_fed_table t;
  must_apply(t, submit("j1", "true", t0));
  must_apply(t, submit("j2", "true", t0 + 1));
  must_apply(t, submit("j3", "true", t0 + 2));
  must_apply(t, cancel("j2", t0 + 3));
  logpb::Command c;
  auto* b = c.mutable_assign_jobs();
  *b->add_assignments() = assign("j1", 7, t0 + 10).assign_job();
  *b->add_assignments() = assign("j2", 8, t0 + 10).assign_job();  // cancelled meanwhile: refused
  *b->add_assignments() = assign("j3", 9, t0 + 10).assign_job();
  apply_result r = must_apply(t, c);
  REQUIRE(r.update_errors.size() == 3);
  CHECK(r.update_errors[0].ok());
  CHECK(r.update_errors[1].message == "job is already cancelled");
  CHECK(r.update_errors[2].ok());
  REQUIRE(r.changes.size() == 2);
  CHECK(t.table.find("j1")->status == job_status::assigned);
  CHECK(t.table.find("j1")->assigned_worker == 7);
  CHECK(t.table.find("j1")->attempts == 1);
  CHECK(t.table.find("j3")->assigned_worker == 9);
  CHECK(t.table.find("j2")->status == job_status::cancelled);
  // Nothing applies: an error naming the first reason; empty: malformed.
  must_refuse(t, c, "no assignment in the batch applied; first: job is assigned, not pending");
  logpb::Command empty;
  empty.mutable_assign_jobs();
  must_refuse(t, empty, "assign_jobs: no assignments");
}

TEST_CASE("a batch where nothing applies is an error; so is an empty batch") {
  log_fed_table t = with_assigned_job("j1", 7);
  logpb::Command c;
  *c.mutable_batch_update_job_status()->add_updates() = status_update("ghost", job_status::running, t0);
  *c.mutable_batch_update_job_status()->add_updates() = status_update("j1", job_status::pending, t0);
  must_refuse(t, c, "no update in the batch applied; first: job not found");
  logpb::Command empty;
  empty.mutable_batch_update_job_status();
  must_refuse(t, empty, "batch_update_job_status: no updates");
}

TEST_CASE("cancel_job cancels pending, assigned and running jobs") {
  log_fed_table t;
  must_apply(t, submit("p", "true", t0));
  must_apply(t, submit("a", "true", t0 + 1));
  must_apply(t, submit("r", "true", t0 + 2));
  must_apply(t, assign("a", 3));
  must_apply(t, assign("r", 3));
  must_apply(t, running("r", t0 + 5));
  for (auto [id, before] : {std::pair{"p", job_status::pending}, std::pair{"a", job_status::assigned},
                            std::pair{"r", job_status::running}}) {
    apply_result r = must_apply(t, cancel(id, t0 + 100));
    REQUIRE(r.changes.size() == 1);
    CHECK(r.changes[0].before == before);
    CHECK(r.changes[0].after.status == job_status::cancelled);
    CHECK(t.table.find(id)->completed_at_ns == t0 + 100);
  }
  // The worker still learns from assigned_worker which job to stop.
  CHECK(t.table.find("r")->assigned_worker == 3);
  CHECK(t.table.on_worker(3).empty());
  CHECK(t.table.active_count() == 0);
  CHECK(t.table.with_status(job_status::cancelled).size() == 3);
}

TEST_CASE("cancel_job refuses terminal and unknown jobs; ms time fallback") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, finished("j1", job_status::failed, 1, t0 + 30));
  must_refuse(t, cancel("j1", t0 + 40), "job is already failed");
  must_refuse(t, cancel("nope", t0 + 40), "job not found");
  must_apply(t, submit("j2", "true", t0));
  logpb::Command c;
  c.mutable_cancel_job()->set_job_id("j2");
  c.mutable_cancel_job()->set_cancelled_at_ms(1'769'604'399'000);
  must_apply(t, c);
  CHECK(t.table.find("j2")->completed_at_ns == 1'769'604'399'000'000'000);
  must_refuse(t, cancel("j2", t0 + 50), "job is already cancelled");
  must_apply(t, submit("j3", "true", t0));
  must_apply(t, assign("j3", 1));
  must_apply(t, finished("j3", job_status::completed, 0, t0 + 30));
  must_refuse(t, cancel("j3", t0 + 50), "job is already completed");
}

TEST_CASE("requeue_job puts assigned and running jobs back to pending, keeping attempts") {
  log_fed_table t = with_assigned_job("j1", 7);
  apply_result r = must_apply(t, requeue("j1", "worker 7 lost", 3, t0 + 50));
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::pending);
  CHECK(j->assigned_worker == 0);
  CHECK(j->attempts == 1);
  CHECK(r.changes.at(0).before == job_status::assigned);
  CHECK(t.table.on_worker(7).empty());

  must_apply(t, assign("j1", 8));
  must_apply(t, running("j1", t0 + 60));
  r = must_apply(t, requeue("j1", "worker 8 lost", 3, t0 + 70));
  CHECK(r.changes.at(0).before == job_status::running);
  CHECK(j->status == job_status::pending);
  CHECK(j->attempts == 2);
  CHECK(j->executed_by == 0);
  CHECK_FALSE(j->started_at_ns.has_value());
  CHECK_FALSE(j->completed_at_ns.has_value());
}

TEST_CASE("requeue_job fails the job once it has used max_attempts") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, requeue("j1", "worker 7 lost", 2, t0 + 50));
  must_apply(t, assign("j1", 8));
  apply_result r = must_apply(t, requeue("j1", "worker 8 lost", 2, t0 + 70));
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::failed);
  CHECK(j->error == "worker 8 lost; gave up after 2 attempts");
  CHECK(j->completed_at_ns == t0 + 70);
  CHECK(j->assigned_worker == 8);
  CHECK(r.changes.at(0).after.status == job_status::failed);
}

TEST_CASE("requeue_job with max_attempts 0 never gives up") {
  log_fed_table t;
  must_apply(t, submit("j1", "true", t0));
  for (int i = 0; i < 20; ++i) {
    must_apply(t, assign("j1", 1 + i % 3));
    must_apply(t, requeue("j1", "lost", 0, t0 + i));
  }
  CHECK(t.table.find("j1")->status == job_status::pending);
  CHECK(t.table.find("j1")->attempts == 20);
}

TEST_CASE("requeue_job refuses pending, terminal and unknown jobs") {
  log_fed_table t;
  must_apply(t, submit("j1", "true", t0));
  must_refuse(t, requeue("j1", "lost", 3, t0), "job is pending, not assigned or running");
  must_apply(t, cancel("j1", t0));
  must_refuse(t, requeue("j1", "lost", 3, t0), "job is already cancelled");
  must_refuse(t, requeue("nope", "lost", 3, t0), "job not found");
}

TEST_CASE("requeue_jobs applies each re-queue on its own and reports each") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, submit("j2", "true", t0 + 1));  // pending: refused
  must_apply(t, submit("j3", "true", t0 + 2));
  must_apply(t, assign("j3", 7));
  must_apply(t, running("j3", t0 + 20));
  logpb::Command c;
  auto* b = c.mutable_requeue_jobs();
  for (const char* id : {"j1", "j2", "j3"}) *b->add_requeues() = requeue(id, "worker 7 stopped responding", 1, t0 + 50).requeue_job();
  apply_result r = must_apply(t, c);
  REQUIRE(r.update_errors.size() == 3);
  CHECK(r.update_errors[0].ok());
  CHECK(r.update_errors[1].message == "job is pending, not assigned or running");
  CHECK(r.update_errors[2].ok());
  REQUIRE(r.changes.size() == 2);
  // max_attempts 1, used: both fail, as requeue_job would fail each.
  CHECK(t.table.find("j1")->status == job_status::failed);
  CHECK(t.table.find("j3")->status == job_status::failed);
  CHECK(t.table.find("j3")->error == "worker 7 stopped responding; gave up after 1 attempts");
  CHECK(t.table.on_worker(7).empty());
  // Nothing applies: an error naming the first reason; empty: malformed.
  must_refuse(t, c, "no requeue in the batch applied; first: job is already failed");
  logpb::Command empty;
  empty.mutable_requeue_jobs();
  must_refuse(t, empty, "requeue_jobs: no requeues");
}

TEST_CASE("register_worker adds workers; duplicates and 0 are refused") {
  log_fed_table t;
  must_apply(t, register_worker(3));
  must_apply(t, register_worker(1));
  CHECK(t.table.workers() == std::set<std::uint64_t>{1, 3});
  must_refuse(t, register_worker(3), "worker 3 is already registered");
  must_refuse(t, register_worker(0), "register_worker: worker_id is 0");
  CHECK(t.table.workers().size() == 2);
}

TEST_CASE("evict_jobs removes terminal jobs completed at or before the cutoff") {
  log_fed_table t;
  must_apply(t, submit("done-early", "true", t0));
  must_apply(t, submit("done-at-cutoff", "true", t0 + 1));
  must_apply(t, submit("done-late", "true", t0 + 2));
  must_apply(t, submit("cancelled", "true", t0 + 3));
  must_apply(t, submit("running", "true", t0 + 4));
  must_apply(t, submit("pending", "true", t0 + 5));
  for (const char* id : {"done-early", "done-at-cutoff", "done-late", "running"}) must_apply(t, assign(id, 4));
  must_apply(t, running("running", t0 + 6));
  must_apply(t, finished("done-at-cutoff", job_status::failed, 2, t0 + 1000));
  must_apply(t, finished("done-early", job_status::completed, 0, t0 + 500));
  must_apply(t, finished("done-late", job_status::completed, 0, t0 + 1001));
  must_apply(t, cancel("cancelled", t0 + 700));

  CHECK(t.table.oldest_completion() == std::optional<std::int64_t>(t0 + 500));  // what the dispatcher waits for
  apply_result r = must_apply(t, evict(t0 + 1000));
  REQUIRE(r.changes.size() == 3);
  CHECK(t.table.oldest_completion() == std::optional<std::int64_t>(t0 + 1001));
  // Completion order.
  CHECK(r.changes[0].after.id == "done-early");
  CHECK(r.changes[1].after.id == "cancelled");
  CHECK(r.changes[2].after.id == "done-at-cutoff");
  for (const job_change& c : r.changes) {
    CHECK(c.kind == change_kind::evicted);
    CHECK(c.before == c.after.status);
    CHECK(t.table.find(c.after.id) == nullptr);
  }
  CHECK(t.table.size() == 3);
  CHECK(t.table.find("done-late"));
  CHECK(t.table.find("running"));
  CHECK(t.table.find("pending"));
  CHECK(t.table.with_status(job_status::cancelled).empty());
  CHECK(t.table.with_status(job_status::failed).empty());
  list_query q;
  q.worker = 4;
  CHECK(t.table.list(q).total_count == 2);  // done-late and running

  CHECK(must_apply(t, evict(t0 + 1000)).changes.empty());
  // Far in the future: every terminal job goes, active ones never do.
  must_apply(t, evict(std::numeric_limits<std::int64_t>::max()));
  CHECK(t.table.size() == 2);
  CHECK(t.table.active_count() == 2);
  CHECK_FALSE(t.table.oldest_completion().has_value());
}

TEST_CASE("entries at or below the applied index are refused; so is an empty command") {
  log_fed_table t;
  must_apply(t, submit("j1", "true", t0));
  apply_result r = t.table.apply(1, submit("j2", "true", t0));
  CHECK(r.error == "entry 1 is already applied (applied index 1)");
  CHECK(t.table.find("j2") == nullptr);
  CHECK(t.table.applied_index() == 1);
  r = t.table.apply(0, submit("j2", "true", t0));
  CHECK_FALSE(r.error.empty());
  CHECK(t.table.find("j2") == nullptr);
  // Gaps are fine: noop and config entries never reach the job table.
  r = t.table.apply(10, submit("j2", "true", t0));
  CHECK(r.error.empty());
  CHECK(t.table.applied_index() == 10);
  t.next_index = 11;
  must_refuse(t, logpb::Command{}, "command has no kind set");
}

TEST_CASE("with_status lists in creation order, not submission order") {
  log_fed_table t;
  must_apply(t, submit("c", "true", t0 + 3));
  must_apply(t, submit("a", "true", t0 + 1));
  must_apply(t, submit("b2", "true", t0 + 2));
  must_apply(t, submit("b1", "true", t0 + 2));
  std::vector<std::string> ids;
  for (const job* j : t.table.with_status(job_status::pending)) ids.push_back(j->id);
  CHECK(ids == std::vector<std::string>{"a", "b1", "b2", "c"});
  CHECK(t.table.with_status(job_status::running).empty());
  CHECK(t.table.with_status(job_status::unspecified).empty());
}

TEST_CASE("on_worker lists only the worker's non-terminal jobs") {
  log_fed_table t;
  for (const char* id : {"x", "y", "z", "w"}) must_apply(t, submit(id, "true", t0));
  must_apply(t, assign("x", 5));
  must_apply(t, assign("y", 5));
  must_apply(t, assign("z", 6));
  must_apply(t, running("y", t0 + 1));
  must_apply(t, finished("x", job_status::completed, 0, t0 + 2));
  auto on5 = t.table.on_worker(5);
  REQUIRE(on5.size() == 1);
  CHECK(on5[0]->id == "y");
  CHECK(t.table.on_worker(6).size() == 1);
  CHECK(t.table.on_worker(0).empty());
  CHECK(t.table.active_count() == 3);
}

TEST_CASE("issue 11: a report from a worker other than the assigned one is refused, nothing changes") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_apply(t, running("j1", t0 + 20, 7, 1));
  // A forged COMPLETED from node 9 with fake output: refused, the job keeps running.
  must_refuse(t, finished("j1", job_status::completed, 0, t0 + 30, 9, 1),
              "update from worker 9; job is assigned to worker 7");
  must_refuse(t, running("j2-missing", t0 + 30, 9, 1), "job not found");
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::running);
  CHECK(j->executed_by == 7);
  CHECK_FALSE(j->completed_at_ns.has_value());
  // The assigned worker's own report still applies.
  must_apply(t, finished("j1", job_status::completed, 0, t0 + 40, 7, 1));
  CHECK(t.table.find("j1")->status == job_status::completed);
}

TEST_CASE("issue 11: a report carrying the wrong attempt is refused even from the assigned worker") {
  log_fed_table t = with_assigned_job("j1", 7);
  must_refuse(t, running("j1", t0 + 20, 7, 2), "stale update from attempt 2; job is on attempt 1");
  CHECK(t.table.find("j1")->status == job_status::assigned);
}
