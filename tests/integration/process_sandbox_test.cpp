// The process executor's sandbox on a real cluster (issue 11): a job runs as
// an unprivileged user, with none of the node's environment, in its own
// directory outside the data dir that is gone afterwards; nothing it starts
// (setsid, double fork) survives cancel, timeout or completion; a fork bomb
// and a huge file fail the job, not the node; a timeout above the limit is
// refused; an evicted job's stored output is deleted.
#include <doctest/doctest.h>

#include "tests/exec/proc_probe.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;
using namespace std::chrono_literals;

using troupe::exec::test::count_processes;
using troupe::exec::test::slurp;

namespace {

constexpr const char* secret_name = "TROUPE_TEST_SECRET";
constexpr const char* secret_value = "node-only-7f3a9c";


// `setsid sleep A &`, `(setsid sh -c 'sleep B' &)` and a double-fork
// `sleep C`: each leaves the job's process group, the last two its parent.
std::string escaping(int a, int b, int c, const std::string& tail) {
  return "setsid sleep " + std::to_string(a) + " & (setsid sh -c 'sleep " + std::to_string(b) + "' &) ; sh -c '(sleep " +
         std::to_string(c) + " &) &' ; " + tail;
}

bool started(int a, int b, int c) {
  return count_processes({"sleep", std::to_string(a)}) == 1 && count_processes({"sleep", std::to_string(b)}) == 1 &&
         count_processes({"sleep", std::to_string(c)}) == 1;
}

bool none_left(int a, int b, int c) {
  return count_processes({"sleep", std::to_string(a)}) == 0 && count_processes({"sleep", std::to_string(b)}) == 0 &&
         count_processes({"sleep", std::to_string(c)}) == 0;
}

std::string submit_ok(scheduler::SchedulerService::Stub& s, const std::string& command, std::uint32_t timeout_s = 0) {
  scheduler::SubmitJobRequest req;
  req.set_command(command);
  req.set_timeout_s(timeout_s);
  scheduler::SubmitJobResponse resp;
  grpc::ClientContext ctx;
  set_deadline(ctx, 10000ms);
  auto st = s.SubmitJob(&ctx, req, &resp);
  REQUIRE_MESSAGE(st.ok(), st.error_message());
  return resp.job_id();
}

// A directory the job user can reach (enter, not list), for work_dir.
struct reachable_dir {
  std::string path;
  reachable_dir() {
    std::string tmpl = "/tmp/troupe-sandbox-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    ::chmod(tmpl.c_str(), 0711);
    path = tmpl;
  }
  ~reachable_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

cluster_options sandbox_options(const std::string& work_dir) {
  cluster_options o;
  o.executor_backend = "process";
  o.extra_toml = "[jobs]\nretention_s = 4\n\n[executor.process]\nwork_dir = \"" + work_dir +
                 "\"\nmax_processes = 64\nmax_file_bytes = 1048576\n";
  return o;
}

}  // namespace

TEST_SUITE("process_sandbox") {

TEST_CASE("process jobs: unprivileged, no node environment, private directory, nothing survives, limits hold") {
  reachable_dir work;
  const std::string work_dir = work.path + "/jobs";
  // The nodes inherit this: a job must not see it.
  ::setenv(secret_name, secret_value, 1);
  cluster c(sandbox_options(work_dir));
  c.start_all();
  ::unsetenv(secret_name);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto& s = c.stub(leader);

  {
    INFO("identity, environment and working directory");
    auto id = submit_ok(s, "id -u; pwd; env");
    auto r = wait_for_job(s, id, 20000ms);
    REQUIRE(r.status() == scheduler::JOB_STATUS_COMPLETED);
    std::istringstream out(r.output());
    std::string uid, pwd;
    std::getline(out, uid);
    std::getline(out, pwd);
    if (::geteuid() == 0) CHECK(uid == "65534");
    CHECK(uid != "0");
    CHECK(pwd.rfind(work_dir + "/node-" + std::to_string(r.executed_by()) + "/slot-", 0) == 0);
    CHECK(pwd.find(c.dir()) == std::string::npos);  // not in any data dir
    CHECK(r.output().find(secret_name) == std::string::npos);
    CHECK(r.output().find(secret_value) == std::string::npos);
    CHECK(r.output().find("TROUPE_JOB_ID=" + id + "\n") != std::string::npos);
    CHECK(r.output().find("PATH=/usr/local/bin:/usr/bin:/bin\n") != std::string::npos);
    std::size_t vars = 0;
    for (std::string line; std::getline(out, line);) {
      ++vars;
      auto name = line.substr(0, line.find('='));
      CHECK_MESSAGE((name == "PATH" || name == "HOME" || name == "LANG" || name == "TROUPE_JOB_ID" ||
                     name == "TMPDIR" || name == "PWD"),
                    line);
    }
    CHECK(vars >= 5);
    // Emptied after the job and the node's while idle (a reused slot).
    struct stat st;
    REQUIRE(::lstat(pwd.c_str(), &st) == 0);
    CHECK(st.st_uid == ::geteuid());
    CHECK(std::filesystem::is_empty(pwd));
  }

  {
    INFO("setsid and double-fork escapes do not survive cancel");
    auto id = submit_ok(s, escaping(4101, 4102, 4103, "sleep 120"));
    REQUIRE(wait_until(15000ms, [] { return started(4101, 4102, 4103); }, 20ms));
    grpc::Status st = cancel(s, id);
    REQUIRE_MESSAGE(st.ok(), st.error_message());
    CHECK(wait_until(2000ms, [] { return none_left(4101, 4102, 4103); }, 20ms));
    CHECK(wait_for_job(s, id, 10000ms).status() == scheduler::JOB_STATUS_CANCELLED);
  }

  {
    INFO("... nor a timeout");
    auto id = submit_ok(s, escaping(4201, 4202, 4203, "sleep 120"), 3);
    REQUIRE(wait_until(15000ms, [] { return started(4201, 4202, 4203); }, 20ms));
    auto r = wait_for_job(s, id, 20000ms);
    CHECK(r.status() == scheduler::JOB_STATUS_FAILED);
    CHECK(r.error() == "timed out after 3 s");
    CHECK(wait_until(2000ms, [] { return none_left(4201, 4202, 4203); }, 20ms));
  }

  {
    INFO("... nor completion");
    auto id = submit_ok(s, escaping(4301, 4302, 4303, "sleep 2; echo done"));
    CHECK(wait_until(15000ms, [] { return started(4301, 4302, 4303); }, 20ms));
    auto r = wait_for_job(s, id, 20000ms);
    CHECK(r.status() == scheduler::JOB_STATUS_COMPLETED);
    CHECK(wait_until(2000ms, [] { return none_left(4301, 4302, 4303); }, 20ms));
  }

  if (::geteuid() == 0) {
    INFO("a fork bomb hits max_processes; the node stays healthy");
    auto id = submit_ok(s, "for i in $(seq 1000); do sleep 4401 & done; echo looped");
    auto r = wait_for_job(s, id, 30000ms);
    CHECK(r.status() == scheduler::JOB_STATUS_FAILED);
    CHECK(r.stderr().find("fork") != std::string::npos);
    CHECK(wait_until(2000ms, [] { return count_processes({"sleep", "4401"}) == 0; }, 20ms));
  }

  {
    INFO("a file beyond max_file_bytes fails the job; the node stays healthy");
    auto id = submit_ok(s, "head -c 2G /dev/zero > big");
    auto r = wait_for_job(s, id, 30000ms);
    CHECK(r.status() == scheduler::JOB_STATUS_FAILED);
    CHECK_MESSAGE(r.error().find("SIGXFSZ") != std::string::npos, r.error());
  }

  {
    INFO("timeout_s above [executor] max_timeout_s is INVALID_ARGUMENT");
    scheduler::SubmitJobRequest req;
    req.set_command("true");
    req.set_timeout_s(4294967295u);
    scheduler::SubmitJobResponse resp;
    grpc::ClientContext ctx;
    set_deadline(ctx, 10000ms);
    auto st = s.SubmitJob(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message() == "timeout_s is 4294967295; the limit is 86400 ([executor] max_timeout_s); 0 means the default");
  }

  {
    INFO("every node is still up and runs jobs");
    for (auto id : c.ids()) CHECK(c.running(id));
    auto id = submit_ok(s, "echo still-fine");
    auto r = wait_for_job(s, id, 20000ms);
    CHECK(r.status() == scheduler::JOB_STATUS_COMPLETED);
    CHECK(r.output() == "still-fine\n");
  }

  {
    INFO("a node killed with SIGKILL takes its jobs' processes with it (the reaper sees its pipe close)");
    auto id = submit_ok(s, "touch left-behind; " + escaping(4501, 4502, 4503, "sleep 120"));
    REQUIRE(wait_until(15000ms, [] { return started(4501, 4502, 4503); }, 20ms));
    auto r = wait_for_job(s, id, 10000ms, scheduler::JOB_STATUS_RUNNING);
    REQUIRE(r.assigned_worker() != 0);
    const std::string job_dirs = work_dir + "/node-" + std::to_string(r.assigned_worker());
    c.kill9(r.assigned_worker());
    CHECK(wait_until(2000ms, [] { return none_left(4501, 4502, 4503); }, 20ms));
    // ... and empties its working directory (a reused slot): the reaper does
    // it when the node cannot.
    auto slots_empty = [&] {
      std::error_code ec;
      for (const auto& slot : std::filesystem::directory_iterator(job_dirs, ec))
        if (!std::filesystem::is_empty(slot.path(), ec)) return false;
      return true;
    };
    CHECK(wait_until(2000ms, slots_empty, 20ms));
  }
}

TEST_CASE("an evicted job's stored output is deleted on the node that ran it") {
  reachable_dir work;
  cluster c(sandbox_options(work.path + "/jobs"));  // retention_s = 4
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto& s = c.stub(leader);
  auto id = submit_ok(s, "echo kept-for-a-while");
  auto r = wait_for_job(s, id, 20000ms);
  REQUIRE(r.status() == scheduler::JOB_STATUS_COMPLETED);
  const std::string out_dir = c.data_dir(r.executed_by()) + "/outputs/" + id;
  CHECK(std::filesystem::exists(out_dir + "/stdout"));
  // Evicted a few seconds after it finished; then its files go too.
  CHECK(wait_until(20000ms, [&] { return !std::filesystem::exists(out_dir); }, 100ms));
  scheduler::GetJobStatusResponse gone;
  CHECK(job_status(s, id, &gone).error_code() == grpc::StatusCode::NOT_FOUND);
}

}  // TEST_SUITE
