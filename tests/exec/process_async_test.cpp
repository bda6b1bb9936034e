// The process backend's asynchronous side: backend::start on one event loop
// (many jobs at once, cancel, timeouts, splice with caps), the job shim
// (found at startup or a clear error), nice, and the grouped start records.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <dirent.h>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/exec/output_store.hpp"
#include "runtime/exec/process_backend.hpp"
#include "runtime/exec/start_journal.hpp"
#include "proc_probe.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using namespace std::chrono_literals;
using troupe::exec::test::count_processes;
using troupe::exec::test::slurp;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::eventually;
using troupe::exec::test::seconds_since;
using troupe::exec::test::options_in;
using troupe::exec::test::results;

namespace {

// The constructor's error, "" when it started.
std::string startup_error(const process_options& o) {
  try {
    process_backend b(o);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("process async: 200 jobs at once on one event loop, each with its own output") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  results got;
  constexpr int n = 200;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    std::string id = "many-" + std::to_string(i);
    auto spec = make_spec(dir, id, "echo $TROUPE_JOB_ID; echo err-" + std::to_string(i) + " >&2; exit " +
                                       std::to_string(i % 3));
    // Half of them cut inline, so stored (and synced) beside the others.
    if (i % 2) spec.inline_limit = 0;
    b.start(spec, std::make_shared<cancel_token>(), got.for_job(id));
  }
  REQUIRE(got.wait_for(n, 60s));
  INFO("200 jobs took " << seconds_since(t0) << " s");
  for (int i = 0; i < n; ++i) {
    std::string id = "many-" + std::to_string(i);
    job_result r = got.get(id);
    CHECK(r.stdout_inline == (i % 2 ? "" : id + "\n"));
    CHECK(r.stderr_inline == (i % 2 ? "" : "err-" + std::to_string(i) + "\n"));
    REQUIRE(r.exit_code.has_value());
    CHECK(*r.exit_code == i % 3);
    CHECK(r.result == (i % 3 == 0 ? outcome::completed : outcome::failed));
    auto stored = read_output(dir.path() + "/outputs", id);
    CHECK(stored.found == (i % 2 == 1));
    if (i % 2) CHECK(stored.stdout_data == id + "\n");
  }
}

TEST_CASE("process async: cancel and timeout of some jobs leave the others alone") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  results got;
  auto cancel = std::make_shared<cancel_token>();
  b.start(make_spec(dir, "a-cancel", "echo c; sleep 3601", 60s), cancel, got.for_job("a-cancel"));
  b.start(make_spec(dir, "a-timeout", "echo t; sleep 3602", 1s), std::make_shared<cancel_token>(),
          got.for_job("a-timeout"));
  b.start(make_spec(dir, "a-slow", "sleep 2; echo slow-done", 30s), std::make_shared<cancel_token>(),
          got.for_job("a-slow"));
  REQUIRE(eventually([] { return count_processes({"sleep", "3601"}) == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  cancel->cancel();
  REQUIRE(got.wait_for(1, 5s));
  CHECK(seconds_since(t0) < 1.0);
  job_result c = got.get("a-cancel");
  CHECK(c.result == outcome::cancelled);
  CHECK(c.error == "cancelled");
  CHECK(c.stdout_inline == "c\n");
  REQUIRE(got.wait_for(3, 10s));
  job_result t = got.get("a-timeout");
  CHECK(t.timed_out);
  CHECK(t.error == "timed out after 1 s");
  CHECK(t.stdout_inline == "t\n");
  job_result s = got.get("a-slow");
  CHECK(s.result == outcome::completed);
  CHECK(s.stdout_inline == "slow-done\n");
  CHECK(eventually([] { return count_processes({"sleep", "3601"}) == 0 && count_processes({"sleep", "3602"}) == 0; }));
}

TEST_CASE("process async: spliced output keeps the cap, the inline prefix and the true sizes, byte for byte") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  // Lines of distinct numbers: any byte lost, doubled or reordered between
  // the inline part (read) and the spliced part shows in the comparison.
  std::string expected;
  for (int i = 1; i <= 400000; ++i) expected += std::to_string(i) + "\n";
  for (std::size_t cap : {std::size_t(1) << 20, std::size_t(5000), expected.size() + 10}) {
    CAPTURE(cap);
    auto spec = make_spec(dir, "splice-" + std::to_string(cap), "seq 1 400000; seq 1 400000 >&2");
    spec.output_cap_bytes = cap;
    spec.inline_limit = 1000;
    cancel_token cancel;
    job_result r = b.run(spec, cancel);
    CHECK(r.result == outcome::completed);
    CHECK(r.stdout_bytes == expected.size());
    CHECK(r.stderr_bytes == expected.size());
    CHECK(r.truncated == (cap < expected.size()));
    CHECK(r.stdout_inline == expected.substr(0, 1000));
    CHECK(r.stderr_inline == expected.substr(0, 1000));
    stored_output s = read_output(spec.output_dir, spec.job_id);
    REQUIRE(s.found);
    CHECK(s.truncated == (cap < expected.size()));
    CHECK(s.stdout_data == expected.substr(0, cap));
    CHECK(s.stderr_data == expected.substr(0, cap));
    CHECK(s.stdout_bytes == expected.size());
  }
}

TEST_CASE("process async: jobs run at the configured nice value") {
  scratch_dir dir;
  for (int nice : {10, 0, 19}) {
    CAPTURE(nice);
    process_options o = options_in(dir);
    o.nice = nice;
    process_backend b(o);
    cancel_token cancel;
    // Field 19 of /proc/<pid>/stat is the nice value of the job's shell.
    job_result r = b.run(make_spec(dir, "nice-" + std::to_string(nice), "nice; cut -d' ' -f19 /proc/$$/stat"), cancel);
    CHECK(r.result == outcome::completed);
    CHECK(r.stdout_inline == std::to_string(nice) + "\n" + std::to_string(nice) + "\n");
  }
  process_options bad = options_in(dir);
  bad.nice = 20;
  CHECK(startup_error(bad).find("nice 20 is not 0-19") != std::string::npos);
}

TEST_CASE("process async: the backend refuses to start without a usable job shim") {
  scratch_dir dir;
  process_options o = options_in(dir);
  o.shim_path = dir.path() + "/no-such-shim";
  CHECK(startup_error(o).find("the job shim " + o.shim_path + " cannot be used") != std::string::npos);
  // A shim others could replace would run as the node's user: refused.
  std::string writable = dir.path() + "/writable-shim";
  {
    std::ofstream f(writable);
    f << "#!/bin/sh\n";
  }
  ::chmod(writable.c_str(), 0777);
  o.shim_path = writable;
  CHECK(startup_error(o).find("writable by other users") != std::string::npos);
  // Found without configuration (the build tree's, for this test program).
  process_backend found(options_in(dir));
  CHECK(found.shim_path().find("troupe-job-shim") != std::string::npos);
  CHECK(locate_shim("") == found.shim_path());
}

TEST_CASE("process async: start records the attempt durably before the job runs") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  results got;
  auto spec = make_spec(dir, "rec-1", "");
  spec.attempt = 3;
  spec.journal = std::make_shared<start_journal>(spec.output_dir);
  // The job reads the journal (made readable to the job's user here): its
  // own record is there before it runs.
  ::chmod(spec.journal->path().c_str(), 0644);
  spec.command = "cat " + spec.journal->path();
  b.start(spec, std::make_shared<cancel_token>(), got.for_job("rec-1"));
  REQUIRE(got.wait_for(1, 20s));
  CHECK(got.get("rec-1").stdout_inline == "3 rec-1\n");
  CHECK(spec.journal->recorded("rec-1") == 3u);

  // A start that cannot be recorded does not run.
  auto bad = make_spec(dir, "rec bad", "touch " + dir.path() + "/ran");
  bad.journal = spec.journal;
  b.start(bad, std::make_shared<cancel_token>(), got.for_job("rec bad"));
  REQUIRE(got.wait_for(2, 20s));
  job_result r = got.get("rec bad");
  CHECK(r.result == outcome::failed);
  CHECK(r.error.find("cannot record the job's start: ") == 0);
  CHECK(::access((dir.path() + "/ran").c_str(), F_OK) != 0);
  CHECK_FALSE(spec.journal->recorded("rec bad"));
}

TEST_CASE("process async: destroying the backend stops its running jobs and reports them") {
  scratch_dir dir;
  results got;
  {
    process_backend b(options_in(dir));
    for (int i = 0; i < 5; ++i) {
      std::string id = "stop-" + std::to_string(i);
      b.start(make_spec(dir, id, "sleep 3603", 60s), std::make_shared<cancel_token>(), got.for_job(id));
    }
    REQUIRE(eventually([] { return count_processes({"sleep", "3603"}) == 5; }));
  }
  CHECK(got.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(got.get("stop-" + std::to_string(i)).result == outcome::cancelled);
  CHECK(eventually([] { return count_processes({"sleep", "3603"}) == 0; }));
}
