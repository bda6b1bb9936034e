// A million jobs: filtered page queries return the right page and total, and
// stay fast. Prints the time per query (doctest MESSAGE).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "commands.hpp"
#include "runtime/jobs/page_token.hpp"
#include "runtime/jobs/uuid.hpp"

using namespace troupe::jobs;
namespace logpb = troupe::logpb;
using namespace troupe::jobs::test;

namespace {

constexpr int job_count = 1'000'000;
constexpr std::int64_t t0 = 1'769'604'341'000'000'000;
constexpr std::uint64_t worker_count = 16;

struct expected_job {
  std::int64_t created_at_ns;
  std::string id;
  job_status status;
  std::uint64_t worker;
  bool render;  // command contains "Render"
};

// Job i: created mostly in submission order, 40% pending, 20% assigned, 10%
// running, 20% completed, 10% failed, on worker 1 + i % 16; every 7th job's
// command mentions "Render".
job_status status_of(int i) {
  switch (i % 10) {
    case 4: case 5: return job_status::assigned;
    case 6: return job_status::running;
    case 7: case 8: return job_status::completed;
    case 9: return job_status::failed;
    default: return job_status::pending;
  }
}

struct fixture {
  job_table table;
  std::vector<expected_job> expected;  // sorted by (created_at_ns, id)
  double build_seconds = 0;
};

fixture& million() {
  static fixture f = [] {
    fixture f;
    auto start = std::chrono::steady_clock::now();
    std::uint64_t index = 0;
    logpb::Command c;
    auto* s = c.mutable_submit_job();
    f.expected.reserve(job_count);
    for (int i = 0; i < job_count; ++i) {
      // As a leader stamps them: increasing, 1 us apart, but with every 16th
      // job stamped up to 30 us late (clock skew between successive leaders),
      // so creation order differs from submission order.
      std::int64_t created = t0 + static_cast<std::int64_t>(i) * 1000 + (i % 16 == 0 ? -(i % 31) * 1000 - 1 : 0);
      std::string id = make_uuid_v4(static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL, static_cast<std::uint64_t>(i));
      bool render = i % 7 == 0;
      s->set_job_id(id);
      s->set_command(render ? "blender --Render scene-" + std::to_string(i) : "make -j4 target-" + std::to_string(i));
      s->set_created_at_ns(created);
      REQUIRE(f.table.apply(++index, c).error.empty());
      f.expected.push_back({created, id, status_of(i), 1 + static_cast<std::uint64_t>(i) % worker_count, render});
    }
    for (int i = 0; i < job_count; ++i) {
      const expected_job& e = f.expected[static_cast<std::size_t>(i)];
      if (e.status == job_status::pending) continue;
      f.table.apply(++index, assign(e.id, e.worker));
      if (e.status == job_status::running) f.table.apply(++index, running(e.id, t0 + i));
      if (is_terminal(e.status)) f.table.apply(++index, finished(e.id, e.status, 0, t0 + i));
    }
    std::sort(f.expected.begin(), f.expected.end(), [](const expected_job& a, const expected_job& b) {
      return creation_order::less(a.created_at_ns, a.id, b.created_at_ns, b.id);
    });
    f.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return f;
  }();
  return f;
}

// Runs `q` against the table and against the expected set (filtered by
// `keep`), compares the first page and the total, and reports the time.
void check_query(const char* name, const list_query& q, const std::function<bool(const expected_job&)>& keep) {
  fixture& f = million();
  std::vector<std::string> want;
  std::uint32_t want_total = 0;
  list_cursor after;
  std::optional<list_cursor> cursor = q.page_token.empty() ? std::nullopt : decode_page_token(q.page_token);
  for (const expected_job& e : f.expected) {
    if (!keep(e)) continue;
    ++want_total;
    if (cursor && !creation_order::less(cursor->created_at_ns, cursor->id, e.created_at_ns, e.id)) continue;
    if (want.size() < q.page_size) want.push_back(e.id);
  }
  constexpr int repeats = 5;
  list_result r;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) r = f.table.list(q);
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / repeats;
  MESSAGE(std::string(name) << ": " << us << " us/query, total " << r.total_count);
  CAPTURE(name);
  REQUIRE(want_total > 0);
  CHECK(r.total_count == want_total);
  std::vector<std::string> got;
  for (const job& j : r.jobs) got.push_back(j.id);
  CHECK(got == want);
  CHECK(r.next_page_token.empty() == (want.size() < q.page_size || want_total == want.size()));
}

}  // namespace

TEST_CASE("a million jobs: building the table") {
  fixture& f = million();
  MESSAGE("applied " << f.table.applied_index() << " commands for " << job_count << " jobs in " << f.build_seconds
                     << " s");
  CHECK(f.table.size() == static_cast<std::size_t>(job_count));
  CHECK(f.table.with_status(job_status::running).size() == job_count / 10);
  CHECK(f.table.active_count() == static_cast<std::size_t>(job_count) * 7 / 10);
}

TEST_CASE("a million jobs: filtered page queries are correct") {
  list_query q;
  q.page_size = 100;
  q.status = job_status::running;
  check_query("status=running", q, [](const expected_job& e) { return e.status == job_status::running; });

  // Deep into the running jobs via a token from the middle.
  fixture& f = million();
  std::vector<const expected_job*> running_jobs;
  for (const expected_job& e : f.expected)
    if (e.status == job_status::running) running_jobs.push_back(&e);
  const expected_job* mid = running_jobs[running_jobs.size() / 2];
  q.page_token = encode_page_token({mid->created_at_ns, mid->id});
  check_query("status=running, page from the middle", q,
              [](const expected_job& e) { return e.status == job_status::running; });

  q = {};
  q.status = job_status::completed;
  q.worker = 3;
  check_query("status=completed worker=3", q,
              [](const expected_job& e) { return e.status == job_status::completed && e.worker == 3; });

  q = {};
  q.worker = 5;
  check_query("worker=5", q, [](const expected_job& e) { return e.worker == 5 && e.status != job_status::pending; });

  q = {};
  q.status = job_status::pending;
  q.command_substring = "render";
  check_query("status=pending command~render", q,
              [](const expected_job& e) { return e.status == job_status::pending && e.render; });

  q = {};
  const std::int64_t lo_ms = (t0 + 250'000'000) / 1'000'000, hi_ms = (t0 + 260'000'000) / 1'000'000;
  q.created_after_ms = lo_ms;
  q.created_before_ms = hi_ms;
  check_query("created in a 10 ms window", q, [&](const expected_job& e) {
    return e.created_at_ns >= lo_ms * 1'000'000 && e.created_at_ns < (hi_ms + 1) * 1'000'000;
  });

  q = {};
  check_query("unfiltered first page", q, [](const expected_job&) { return true; });
}
