// job_table::forget_workers: what a cluster restored from a backup does with
// the old cluster's assignments and drains.
#include <doctest/doctest.h>

#include "commands.hpp"

using namespace troupe::jobs;
using namespace troupe::jobs::test;

namespace {
constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t t0 = 1'769'604'341'000 * ms;
}  // namespace

TEST_CASE("forget_workers: assigned and running jobs go back to pending as a requeue would; terminal jobs unchanged") {
  log_fed_table t;
  t.apply(submit("pending", "echo p", t0));
  t.apply(submit("assigned", "echo a", t0 + 1));
  t.apply(submit("running", "echo r", t0 + 2, "alpine:3", 30));
  t.apply(submit("done", "echo d", t0 + 3));
  t.apply(assign("assigned", 2, t0 + 10));
  t.apply(assign("running", 3, t0 + 11));
  t.apply(running("running", t0 + 12, 3, 1));
  t.apply(assign("done", 1, t0 + 13));
  t.apply(finished("done", job_status::completed, 0, t0 + 14, 1, 1));
  t.apply(set_draining(2, true));
  const job done_before = *t.table.find("done");
  const job pending_before = *t.table.find("pending");
  const job running_before = *t.table.find("running");

  CHECK(t.table.forget_workers() == 2);

  CHECK(*t.table.find("done") == done_before);
  CHECK(*t.table.find("pending") == pending_before);
  for (const char* id : {"assigned", "running"}) {
    const job* j = t.table.find(id);
    REQUIRE(j);
    CHECK(j->status == job_status::pending);
    CHECK(j->assigned_worker == 0);
    CHECK(j->executed_by == 0);
    CHECK(j->assigned_at_ns == 0);
    CHECK_FALSE(j->started_at_ns.has_value());
    CHECK(j->attempts == 1);  // the old attempt still counts towards max_attempts
  }
  const job* r = t.table.find("running");
  CHECK(r->command == running_before.command);
  CHECK(r->image == running_before.image);
  CHECK(r->timeout_s == running_before.timeout_s);
  CHECK(r->created_at_ns == running_before.created_at_ns);
  // The indexes moved with the jobs.
  CHECK(t.table.count(job_status::pending) == 3);
  CHECK(t.table.count(job_status::running) == 0);
  CHECK(t.table.count(job_status::assigned) == 0);
  CHECK(t.table.on_worker(2).empty());
  CHECK(t.table.on_worker(3).empty());
  CHECK(t.table.draining_workers().empty());
  CHECK(t.table.applied_index() == 10);
}

TEST_CASE("forget_workers is deterministic: two tables from the same bytes give the same bytes") {
  log_fed_table t;
  t.apply(submit("a", "echo a", t0));
  t.apply(submit("b", "echo b", t0 + 1));
  t.apply(assign("a", 4, t0 + 2));
  const std::string bytes = t.table.snapshot();
  job_table x, y;
  x.restore(bytes);
  y.restore(bytes);
  CHECK(x.forget_workers() == 1);
  CHECK(y.forget_workers() == 1);
  CHECK(x.snapshot() == y.snapshot());
  job_table z;
  z.restore(x.snapshot());  // and what it writes restores
  CHECK(z.find("a")->status == job_status::pending);
}
