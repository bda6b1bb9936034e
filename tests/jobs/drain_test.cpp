// Replicated drain: set_worker_draining and its effect on assignment.
#include <doctest/doctest.h>

#include "apply_checks.hpp"

using namespace troupe::jobs;
namespace logpb = troupe::logpb;
using namespace troupe::jobs::test;

namespace {

constexpr std::int64_t t0 = 1'769'604'341'000'000'000;

}  // namespace

TEST_CASE("set_worker_draining drains and undrains, reporting each real change") {
  log_fed_table t;
  CHECK(t.table.draining_workers().empty());
  apply_result r = expect_applied(t, set_draining(4, true));
  CHECK(r.changes.empty());
  REQUIRE(r.workers.size() == 1);
  CHECK(r.workers[0].index == 1);
  CHECK(r.workers[0].worker_id == 4);
  CHECK(r.workers[0].draining);
  CHECK(t.table.is_draining(4));
  CHECK_FALSE(t.table.is_draining(2));

  expect_applied(t, set_draining(2, true));
  CHECK(t.table.draining_workers() == std::set<std::uint64_t>{2, 4});

  r = expect_applied(t, set_draining(4, false));
  REQUIRE(r.workers.size() == 1);
  CHECK(r.workers[0].index == 3);
  CHECK(r.workers[0].worker_id == 4);
  CHECK_FALSE(r.workers[0].draining);
  CHECK(t.table.draining_workers() == std::set<std::uint64_t>{2});
  // Drain is a table fact of its own: it does not register the worker.
  CHECK(t.table.workers().empty());
}

TEST_CASE("repeating a drain or an undrain applies and changes nothing") {
  log_fed_table t;
  expect_applied(t, set_draining(5, true));
  apply_result r = expect_applied(t, set_draining(5, true));
  CHECK(r.workers.empty());
  CHECK(t.table.draining_workers() == std::set<std::uint64_t>{5});
  // The same table as one drained once, at the same applied index.
  job_table once;
  once.apply(1, set_draining(5, true));
  once.apply(2, logpb::Command{});
  CHECK(once.snapshot() == t.table.snapshot());

  expect_applied(t, set_draining(5, false));
  r = expect_applied(t, set_draining(5, false));
  CHECK(r.workers.empty());
  r = expect_applied(t, set_draining(9, false));  // never drained
  CHECK(r.workers.empty());
  CHECK(t.table.draining_workers().empty());
}

TEST_CASE("set_worker_draining for worker 0 is malformed") {
  log_fed_table t;
  expect_applied(t, set_draining(3, true));
  expect_refused(t, set_draining(0, true), refusal::malformed, "set_worker_draining: worker_id is 0");
  expect_refused(t, set_draining(0, false), refusal::malformed, "set_worker_draining: worker_id is 0");
  CHECK(t.table.draining_workers() == std::set<std::uint64_t>{3});
}

TEST_CASE("assign_job to a draining worker is refused; after undrain it is accepted") {
  log_fed_table t;
  expect_applied(t, submit("j1", "true", t0));
  expect_applied(t, set_draining(5, true));
  expect_refused(t, assign("j1", 5, t0 + 1), refusal::conflict, "worker 5 is draining");
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::pending);
  CHECK(j->attempts == 0);
  CHECK(t.table.on_worker(5).empty());

  // Other workers are unaffected.
  expect_applied(t, submit("j2", "true", t0 + 2));
  expect_applied(t, assign("j2", 6, t0 + 3));

  expect_applied(t, set_draining(5, false));
  apply_result r = expect_applied(t, assign("j1", 5, t0 + 4));
  CHECK(r.changes.at(0).after.assigned_worker == 5);
  CHECK(j->status == job_status::assigned);
  CHECK(j->attempts == 1);
}

TEST_CASE("a submit placed on a draining worker applies and leaves the job pending") {
  log_fed_table t;
  expect_applied(t, set_draining(5, true));
  logpb::Command c = submit("j1", "true", t0);
  c.mutable_submit_job()->set_assign_to(5);
  apply_result r = expect_applied(t, c);
  REQUIRE(r.changes.size() == 1);
  CHECK(r.changes[0].kind == change_kind::created);
  const job* j = t.table.find("j1");
  CHECK(j->status == job_status::pending);
  CHECK(j->attempts == 0);
  CHECK(t.table.on_worker(5).empty());
}

TEST_CASE("a draining worker finishes the jobs it already holds") {
  log_fed_table t;
  expect_applied(t, submit("j1", "true", t0));
  expect_applied(t, submit("j2", "true", t0 + 1));
  expect_applied(t, assign("j1", 5));
  expect_applied(t, assign("j2", 5));
  expect_applied(t, set_draining(5, true));
  expect_applied(t, running("j1", t0 + 10, 5, 1));
  expect_applied(t, finished("j1", job_status::completed, 0, t0 + 20, 5, 1));
  expect_applied(t, finished("j2", job_status::failed, 1, t0 + 21, 5, 1));
  CHECK(t.table.on_worker(5).empty());
  CHECK(t.table.is_draining(5));
}

TEST_CASE("a job's own state is reported before the worker's drain") {
  log_fed_table t;
  expect_applied(t, submit("j1", "true", t0));
  expect_applied(t, assign("j1", 4));
  expect_applied(t, set_draining(5, true));
  expect_refused(t, assign("j1", 5), refusal::conflict, "job is assigned, not pending");
  expect_refused(t, assign("nope", 5), refusal::not_found, "job not found");
}
