// ListJobs: order, filters, total_count, page sizes and page tokens, checked
// against a brute-force filter over every job.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>
#include <stdexcept>

#include "commands.hpp"
#include "runtime/jobs/page_token.hpp"

using namespace troupe::jobs;
using namespace troupe::jobs::test;

namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t t0 = 1'769'604'341'000 * ms;

std::vector<job> all_jobs(const job_table& t) {
  std::vector<job> out;
  for (int s = 0; s < job_status_count; ++s) {
    for (const job* j : t.with_status(static_cast<job_status>(s))) out.push_back(*j);
  }
  std::sort(out.begin(), out.end(), [](const job& a, const job& b) {
    return creation_order::less(a.created_at_ns, a.id, b.created_at_ns, b.id);
  });
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The specification of list()'s filters, written the slow obvious way.
std::vector<job> brute_force(const job_table& t, const list_query& q) {
  std::vector<job> out;
  for (const job& j : all_jobs(t)) {
    if (q.status != job_status::unspecified && j.status != q.status) continue;
    if (q.worker != 0 && j.assigned_worker != q.worker && j.executed_by != q.worker) continue;
    if (!q.command_substring.empty() && lower(j.command).find(lower(q.command_substring)) == std::string::npos) continue;
    // Millisecond of creation, rounded down (also before the epoch).
    std::int64_t created_ms = j.created_at_ns / ms - ((j.created_at_ns % ms) < 0 ? 1 : 0);
    if (q.created_after_ms != 0 && created_ms < q.created_after_ms) continue;
    if (q.created_before_ms != 0 && created_ms > q.created_before_ms) continue;
    out.push_back(j);
  }
  return out;
}

std::vector<std::string> ids(const std::vector<job>& jobs) {
  std::vector<std::string> out;
  for (const job& j : jobs) out.push_back(j.id);
  return out;
}

// Follows next_page_token to the end; at most `max_pages` pages.
std::vector<job> walk(const job_table& t, list_query q, int max_pages = 10'000) {
  std::vector<job> out;
  for (int page = 0; page < max_pages; ++page) {
    list_result r = t.list(q);
    out.insert(out.end(), r.jobs.begin(), r.jobs.end());
    if (r.next_page_token.empty()) return out;
    REQUIRE_FALSE(r.jobs.empty());
    REQUIRE(r.jobs.size() == std::min<std::uint32_t>(q.page_size == 0 ? 100 : q.page_size, 1000));
    q.page_token = r.next_page_token;
  }
  FAIL("pagination did not end within " << max_pages << " pages");
  return out;
}

// 120 jobs in a mix of states, workers, commands and creation times (several
// sharing a nanosecond, some before the epoch), submitted out of order.
log_fed_table mixed_table() {
  log_fed_table t;
  for (std::uint64_t w = 1; w <= 4; ++w) t.apply(register_worker(w));
  for (int i = 0; i < 120; ++i) {
    int k = (i * 37) % 120;  // submission order differs from creation order
    std::string id = "job-" + std::to_string(k);
    std::int64_t created = (k % 10 == 0) ? -5 * ms + k : t0 + (k / 3) * ms + (k % 3) * 250'000;
    std::string command = (k % 3 == 0) ? "Build Target " + std::to_string(k) : "run-tests --shard " + std::to_string(k);
    REQUIRE(t.apply(submit(id, command, created)).error.empty());
  }
  for (int k = 0; k < 120; ++k) {
    std::string id = "job-" + std::to_string(k);
    std::uint64_t worker = 1 + k % 4;
    switch (k % 6) {
      case 0: break;  // pending
      case 1: t.apply(assign(id, worker)); break;
      case 2:
        t.apply(assign(id, worker));
        t.apply(running(id, t0 + k, worker));
        break;
      case 3:
        t.apply(assign(id, worker));
        t.apply(finished(id, job_status::completed, 0, t0 + 1000 * ms + k));
        break;
      case 4:
        t.apply(assign(id, worker));
        t.apply(finished(id, job_status::failed, 1, t0 + 2000 * ms + k));
        break;
      case 5: t.apply(cancel(id, t0 + 3000 * ms + k)); break;
    }
  }
  return t;
}

std::vector<list_query> sample_queries() {
  std::vector<list_query> qs;
  list_query q;
  qs.push_back(q);
  for (int s = 1; s < job_status_count; ++s) {
    q = {};
    q.status = static_cast<job_status>(s);
    qs.push_back(q);
  }
  for (std::uint64_t w = 1; w <= 5; ++w) {
    q = {};
    q.worker = w;
    qs.push_back(q);
    q.status = job_status::running;
    qs.push_back(q);
    q.status = job_status::completed;
    qs.push_back(q);
  }
  q = {};
  q.command_substring = "build";
  qs.push_back(q);
  q.command_substring = "SHARD 1";
  qs.push_back(q);
  q.command_substring = "no such command";
  qs.push_back(q);
  q = {};
  q.created_after_ms = t0 / ms + 10;
  qs.push_back(q);
  q.created_before_ms = t0 / ms + 20;
  qs.push_back(q);
  q.status = job_status::pending;
  qs.push_back(q);
  q.worker = 0;
  q.command_substring = "tests";
  qs.push_back(q);
  q = {};
  q.created_before_ms = -1;  // only the pre-epoch jobs
  qs.push_back(q);
  q = {};
  q.created_after_ms = t0 / ms + 30;
  q.created_before_ms = t0 / ms + 20;  // empty range
  qs.push_back(q);
  q = {};
  q.worker = 2;
  q.command_substring = "run";
  q.created_after_ms = t0 / ms + 5;
  qs.push_back(q);
  return qs;
}

}  // namespace

TEST_CASE("list orders by creation time then id and counts everything") {
  log_fed_table t = mixed_table();
  list_result r = t.table.list({});
  CHECK(r.total_count == 120);
  CHECK(r.jobs.size() == 100);  // default page size
  CHECK_FALSE(r.next_page_token.empty());
  std::vector<job> expected = all_jobs(t.table);
  expected.resize(100);
  CHECK(ids(r.jobs) == ids(expected));
  for (std::size_t i = 1; i < r.jobs.size(); ++i) {
    CHECK(creation_order::less(r.jobs[i - 1].created_at_ns, r.jobs[i - 1].id, r.jobs[i].created_at_ns, r.jobs[i].id));
  }
  // Full copies of the jobs, not just ids.
  CHECK(r.jobs[0] == *t.table.find(r.jobs[0].id));
}

TEST_CASE("every filter and combination matches brute force, with total_count") {
  log_fed_table t = mixed_table();
  for (const list_query& q : sample_queries()) {
    CAPTURE(static_cast<int>(q.status));
    CAPTURE(q.worker);
    CAPTURE(q.command_substring);
    CAPTURE(q.created_after_ms);
    CAPTURE(q.created_before_ms);
    std::vector<job> expected = brute_force(t.table, q);
    list_query one_page = q;
    one_page.page_size = 1000;
    list_result r = t.table.list(one_page);
    CHECK(r.total_count == expected.size());
    CHECK(ids(r.jobs) == ids(expected));
    CHECK(r.next_page_token.empty());
  }
}

TEST_CASE("the brute-force reference is not vacuous") {
  log_fed_table t = mixed_table();
  list_query q;
  q.worker = 1;
  auto on1 = brute_force(t.table, q);
  CHECK(std::any_of(on1.begin(), on1.end(),
                    [](const job& j) { return j.status == job_status::running && j.executed_by == 1; }));
  q = {};
  q.command_substring = "BUILD";
  CHECK(brute_force(t.table, q).size() == 40);
  q = {};
  q.created_before_ms = -1;
  CHECK(brute_force(t.table, q).size() == 12);
}

// Only the assigned worker may report (issue 11), so through the log both
// fields name the same node; the filter still matches either, for jobs of
// snapshots written before that rule.
TEST_CASE("the worker filter matches assigned_worker or executed_by") {
  log_fed_table t;
  t.apply(submit("a", "true", t0));
  t.apply(submit("b", "true", t0 + 1));
  t.apply(assign("a", 1));
  CHECK(!t.apply(running("a", t0, 2)).error.empty());  // assigned to 1: node 2's report is refused
  t.apply(running("a", t0, 1));
  t.apply(assign("b", 2));
  list_query q;
  q.worker = 1;
  CHECK(ids(t.table.list(q).jobs) == std::vector<std::string>{"a"});
  q.worker = 2;
  CHECK(ids(t.table.list(q).jobs) == std::vector<std::string>{"b"});
  q.worker = 3;
  CHECK(t.table.list(q).jobs.empty());
  CHECK(t.table.list(q).total_count == 0);
}

TEST_CASE("created_after_ms and created_before_ms are inclusive at millisecond granularity") {
  log_fed_table t;
  t.apply(submit("before", "true", 9 * ms + 999'999));
  t.apply(submit("start", "true", 10 * ms));
  t.apply(submit("end", "true", 12 * ms + 999'999));
  t.apply(submit("after", "true", 13 * ms));
  list_query q;
  q.created_after_ms = 10;
  q.created_before_ms = 12;
  CHECK(ids(t.table.list(q).jobs) == std::vector<std::string>{"start", "end"});
  q.created_before_ms = 0;  // no upper bound
  CHECK(ids(t.table.list(q).jobs) == std::vector<std::string>{"start", "end", "after"});
  q.created_after_ms = 0;
  q.created_before_ms = 9;
  CHECK(ids(t.table.list(q).jobs) == std::vector<std::string>{"before"});
  CHECK(t.table.list(q).total_count == 1);
}

TEST_CASE("pagination visits every matching job exactly once, in order") {
  log_fed_table t = mixed_table();
  for (std::uint32_t page_size : {1u, 3u, 7u, 50u}) {
    for (list_query q : sample_queries()) {
      q.page_size = page_size;
      CAPTURE(page_size);
      CAPTURE(static_cast<int>(q.status));
      CAPTURE(q.worker);
      CAPTURE(q.command_substring);
      std::vector<job> got = walk(t.table, q);
      CHECK(ids(got) == ids(brute_force(t.table, q)));
    }
  }
}

TEST_CASE("every page reports the total of the whole filtered set") {
  log_fed_table t = mixed_table();
  list_query q;
  q.status = job_status::pending;
  q.page_size = 4;
  const std::size_t expected = brute_force(t.table, q).size();
  REQUIRE(expected > 8);
  for (int page = 0; page < 3; ++page) {
    list_result r = t.table.list(q);
    CHECK(r.total_count == expected);
    q.page_token = r.next_page_token;
  }
}

TEST_CASE("page_size 0 means 100 and sizes above 1000 are capped") {
  log_fed_table t;
  for (int i = 0; i < 1500; ++i) t.apply(submit("j" + std::to_string(i), "true", t0 + i));
  list_query q;
  q.page_size = 0;
  CHECK(t.table.list(q).jobs.size() == 100);
  q.page_size = 5000;
  list_result r = t.table.list(q);
  CHECK(r.jobs.size() == 1000);
  CHECK(r.total_count == 1500);
  q.page_token = r.next_page_token;
  r = t.table.list(q);
  CHECK(r.jobs.size() == 500);
  CHECK(r.next_page_token.empty());
  list_query all;
  all.page_size = 0;
  CHECK(walk(t.table, all).size() == 1500);
}

TEST_CASE("a page exactly filling the rest has no next token; an exact multiple ends cleanly") {
  log_fed_table t;
  for (int i = 0; i < 6; ++i) t.apply(submit("j" + std::to_string(i), "true", t0 + i));
  list_query q;
  q.page_size = 3;
  list_result r = t.table.list(q);
  REQUIRE_FALSE(r.next_page_token.empty());
  q.page_token = r.next_page_token;
  r = t.table.list(q);
  CHECK(r.jobs.size() == 3);
  CHECK(r.next_page_token.empty());
  // Same with a residual filter (the scanning path).
  q = {};
  q.page_size = 3;
  q.command_substring = "TRUE";
  r = t.table.list(q);
  q.page_token = r.next_page_token;
  r = t.table.list(q);
  CHECK(r.jobs.size() == 3);
  CHECK(r.next_page_token.empty());
}

TEST_CASE("a bad page token is rejected with invalid_argument") {
  log_fed_table t = mixed_table();
  for (const char* token : {"garbage", "8000", "zz00000000000000aa", "800000000000000061a"}) {
    list_query q;
    q.page_token = token;
    CHECK_THROWS_WITH_AS(t.table.list(q), "invalid page_token", std::invalid_argument);
  }
  list_query q;
  q.status = static_cast<job_status>(17);
  CHECK_THROWS_AS(t.table.list(q), std::invalid_argument);
}

TEST_CASE("a token past the end or before the range behaves as a position") {
  log_fed_table t = mixed_table();
  list_query q;
  q.page_token = encode_page_token({std::numeric_limits<std::int64_t>::max(), "~"});
  CHECK(t.table.list(q).jobs.empty());
  CHECK(t.table.list(q).total_count == 120);
  q.command_substring = "build";
  CHECK(t.table.list(q).jobs.empty());
  q = {};
  q.page_size = 1000;
  q.created_after_ms = t0 / ms;
  q.page_token = encode_page_token({std::numeric_limits<std::int64_t>::min(), "a"});
  CHECK(ids(t.table.list(q).jobs) == ids(brute_force(t.table, q)));
  q.created_before_ms = t0 / ms + 5;
  q.page_token = encode_page_token({t0 + 100 * ms, "a"});
  CHECK(t.table.list(q).jobs.empty());
}

TEST_CASE("pagination continues after the cursor even when jobs are evicted between pages") {
  for (std::uint32_t page_size : {1u, 4u, 9u}) {
    for (bool filtered : {false, true}) {
      CAPTURE(page_size);
      CAPTURE(filtered);
      log_fed_table t = mixed_table();
      list_query q;
      q.page_size = page_size;
      if (filtered) q.command_substring = "run-tests";
      const std::vector<job> at_start = brute_force(t.table, q);
      std::vector<std::string> seen;
      std::int64_t cutoff = t0 + 1000 * ms;
      for (int page = 0; page < 1000; ++page) {
        list_result r = t.table.list(q);
        for (const job& j : r.jobs) seen.push_back(j.id);
        if (r.next_page_token.empty()) break;
        q.page_token = r.next_page_token;
        // Evict a few more finished jobs, including (often) the cursor's own job.
        cutoff += 700 * ms;
        t.apply(evict(cutoff));
        // And a new job created before the cursor must not show up in later pages.
        t.apply(submit("late-" + std::to_string(page), "run-tests late", -100 * ms));
      }
      std::set<std::string> unique(seen.begin(), seen.end());
      CHECK(unique.size() == seen.size());  // nothing twice
      for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].rfind("late-", 0) != 0);
      // Everything still present at the end was returned exactly once.
      for (const job& j : at_start) {
        if (t.table.find(j.id)) CHECK(unique.count(j.id) == 1);
      }
      // Evictions really happened during the walk.
      CHECK(t.table.with_status(job_status::completed).empty());
    }
  }
}
