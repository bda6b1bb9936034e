// The refusal code of every handler, and admission at the submit's max_active.
#include <doctest/doctest.h>

#include "apply_checks.hpp"

using namespace troupe::jobs;
namespace logpb = troupe::logpb;
using namespace troupe::jobs::test;

namespace {

constexpr std::int64_t t0 = 1'769'604'341'000'000'000;

// One job in each state: "p" pending, "a" assigned to 7, "r" running on 7,
// "d" completed; worker 3 registered. Indexes 1..10.
log_fed_table one_of_each() {
  log_fed_table t;
  expect_applied(t, submit("p", "true", t0));
  expect_applied(t, submit("a", "true", t0 + 1));
  expect_applied(t, submit("r", "true", t0 + 2));
  expect_applied(t, submit("d", "true", t0 + 3));
  expect_applied(t, assign("a", 7));
  expect_applied(t, assign("r", 7));
  expect_applied(t, running("r", t0 + 10, 7, 1));
  expect_applied(t, assign("d", 7));
  expect_applied(t, finished("d", job_status::completed, 0, t0 + 20, 7, 1));
  expect_applied(t, register_worker(3));
  return t;
}

logpb::Command batch(std::initializer_list<logpb::JobStatusUpdate> updates) {
  logpb::Command c;
  auto* b = c.mutable_batch_update_job_status();  // set even when empty
  for (const auto& u : updates) *b->add_updates() = u;
  return c;
}

}  // namespace

TEST_CASE("a replayed entry is stale; a command without a kind is malformed") {
  log_fed_table t = one_of_each();
  apply_result r = t.table.apply(4, cancel("p", t0));
  CHECK(r.refused == refusal::stale);
  CHECK(r.error == "entry 4 is already applied (applied index 10)");
  CHECK(t.table.find("p")->status == job_status::pending);
  expect_refused(t, logpb::Command{}, refusal::malformed, "command has no kind set");
}

TEST_CASE("submit_job refusals: malformed ids and commands, conflicting duplicates") {
  log_fed_table t = one_of_each();
  expect_refused(t, submit("", "x", t0), refusal::malformed, "submit_job: job_id is empty");
  expect_refused(t, submit("n", "", t0), refusal::malformed, "submit_job: command is empty");
  expect_refused(t, submit("d", "x", t0), refusal::conflict, "job already exists");
}

TEST_CASE("assign_job refusals: not found, worker 0, and every state conflict") {
  log_fed_table t = one_of_each();
  expect_refused(t, assign("nope", 7), refusal::not_found, "job not found");
  expect_refused(t, assign("p", 0), refusal::malformed, "assign_job: worker_id is 0");
  expect_refused(t, assign("a", 8), refusal::conflict, "job is assigned, not pending");
  expect_refused(t, assign("r", 8), refusal::conflict, "job is running, not pending");
  expect_refused(t, assign("d", 8), refusal::conflict, "job is already completed");
}

TEST_CASE("status update refusals: not found, stale attempts, state conflicts, statuses workers may not report") {
  log_fed_table t = one_of_each();
  expect_refused(t, running("nope", t0), refusal::not_found, "job not found");
  expect_refused(t, running("r", t0, 7, 2), refusal::stale, "stale update from attempt 2; job is on attempt 1");
  expect_refused(t, running("r", t0, 7, 1), refusal::conflict, "job is already running");
  expect_refused(t, running("p", t0), refusal::conflict, "job is pending, not assigned");
  expect_refused(t, finished("p", job_status::completed, 0, t0), refusal::conflict,
                 "job is pending, not assigned or running");
  expect_refused(t, finished("d", job_status::failed, 1, t0), refusal::conflict, "job is already completed");
  expect_refused(t, update(status_update("a", job_status::cancelled, t0)), refusal::malformed,
                 "status update to cancelled is not allowed (only running, completed or failed)");
}

TEST_CASE("a batch is refused with its first update's code; each update keeps its own") {
  log_fed_table t = one_of_each();
  expect_refused(t, batch({}), refusal::malformed, "batch_update_job_status: no updates");
  expect_refused(t,
                 batch({status_update("r", job_status::completed, t0, 7, 3),
                        status_update("ghost", job_status::running, t0)}),
                 refusal::stale,
                 "no update in the batch applied; first: stale update from attempt 3; job is on attempt 1");
  expect_refused(t,
                 batch({status_update("ghost", job_status::running, t0),
                        status_update("r", job_status::completed, t0, 7, 3)}),
                 refusal::not_found, "no update in the batch applied; first: job not found");

  apply_result r = expect_applied(t, batch({status_update("a", job_status::running, t0, 7, 1),
                                            status_update("r", job_status::completed, t0, 7, 3),
                                            status_update("p", job_status::pending, t0)}));
  REQUIRE(r.update_errors.size() == 3);
  CHECK(r.update_errors[0].ok());
  CHECK(r.update_errors[0].message.empty());
  CHECK(r.update_errors[1].code == refusal::stale);
  CHECK(r.update_errors[1].message == "stale update from attempt 3; job is on attempt 1");
  CHECK(r.update_errors[2].code == refusal::malformed);
  CHECK(r.update_errors[2].message == "status update to pending is not allowed (only running, completed or failed)");
}

TEST_CASE("cancel, requeue and register refusals") {
  log_fed_table t = one_of_each();
  expect_refused(t, cancel("nope", t0), refusal::not_found, "job not found");
  expect_refused(t, cancel("d", t0), refusal::conflict, "job is already completed");
  expect_refused(t, requeue("nope", "lost", 3, t0), refusal::not_found, "job not found");
  expect_refused(t, requeue("p", "lost", 3, t0), refusal::conflict, "job is pending, not assigned or running");
  expect_refused(t, requeue("d", "lost", 3, t0), refusal::conflict, "job is already completed");
  expect_refused(t, register_worker(0), refusal::malformed, "register_worker: worker_id is 0");
  expect_refused(t, register_worker(3), refusal::conflict, "worker 3 is already registered");
  expect_refused(t, set_draining(0, true), refusal::malformed, "set_worker_draining: worker_id is 0");
}

TEST_CASE("applied commands report no refusal, evictions included") {
  log_fed_table t = one_of_each();
  CHECK(expect_applied(t, evict(t0 + 20)).changes.size() == 1);
  CHECK(expect_applied(t, evict(t0 + 20)).changes.empty());  // nothing left to evict is not a refusal
  CHECK(expect_applied(t, cancel("p", t0)).refused == refusal::none);
}

TEST_CASE("submit_job at max_active is refused as over capacity; finishing or cancelling frees a slot") {
  log_fed_table t;
  expect_applied(t, submit_capped("a", t0, 2));
  expect_applied(t, submit_capped("b", t0 + 1, 2));
  expect_refused(t, submit_capped("c", t0 + 2, 2), refusal::over_capacity,
                 "too many active jobs (2, limit 2); retry later");
  CHECK(t.table.find("c") == nullptr);
  // A submit the leader placed at once is refused the same way, and assigns nothing.
  logpb::Command placed = submit_capped("c", t0 + 2, 2);
  placed.mutable_submit_job()->set_assign_to(1);
  expect_refused(t, placed, refusal::over_capacity, "too many active jobs (2, limit 2); retry later");

  // Assigned and running jobs still count.
  expect_applied(t, assign("a", 1));
  expect_applied(t, running("a", t0 + 3));
  expect_refused(t, submit_capped("c", t0 + 2, 2), refusal::over_capacity,
                 "too many active jobs (2, limit 2); retry later");

  expect_applied(t, cancel("b", t0 + 4));
  expect_applied(t, submit_capped("c", t0 + 5, 2));
  expect_refused(t, submit_capped("d", t0 + 6, 2), refusal::over_capacity,
                 "too many active jobs (2, limit 2); retry later");

  expect_applied(t, finished("a", job_status::completed, 0, t0 + 7));
  expect_applied(t, submit_capped("d", t0 + 8, 2));
  CHECK(t.table.active_count() == 2);

  // The cap is the one each entry carries: a leader with a larger one admits more.
  expect_applied(t, submit_capped("e", t0 + 9, 3));
  expect_refused(t, submit_capped("f", t0 + 10, 3), refusal::over_capacity,
                 "too many active jobs (3, limit 3); retry later");
  // Over the cap already (a smaller cap than active jobs): still refused, with the true count.
  expect_refused(t, submit_capped("f", t0 + 10, 1), refusal::over_capacity,
                 "too many active jobs (3, limit 1); retry later");
}

TEST_CASE("max_active 0 means no cap; a duplicate id at the cap is a conflict, not over capacity") {
  log_fed_table t;
  for (int i = 0; i < 50; ++i) expect_applied(t, submit_capped("j" + std::to_string(i), t0 + i, 0));
  CHECK(t.table.active_count() == 50);
  expect_refused(t, submit_capped("j0", t0, 50), refusal::conflict, "job already exists");
  expect_refused(t, submit_capped("k", t0, 50), refusal::over_capacity,
                 "too many active jobs (50, limit 50); retry later");
}
