// Issue 11 on real troupe-node processes: one data dir, one process; StreamJobs
// subscribers capped with bounded memory; invalid UTF-8 in job output never
// breaks a read.
#include <doctest/doctest.h>

#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

namespace {

// Resident set size of a process in KiB (VmRSS), 0 when unreadable.
long rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

const std::string fffd = "\xEF\xBF\xBD";

}  // namespace

TEST_SUITE("bounds") {

TEST_CASE("a second troupe-node on the same data dir exits non-zero, naming the holder's pid") {
  cluster_options o;
  o.nodes = 1;
  cluster c(o);
  c.start_all();
  REQUIRE(c.wait_for_leader() == 1);
  const pid_t holder = c.pid(1);
  auto second = run_process({node_binary(), "--config", c.dir() + "/node-1.toml"}, milliseconds(20000));
  CHECK(second.exit_code != 0);
  CHECK(second.exit_code != -1);  // it exited by itself, promptly
  const std::string want = "data dir " + c.data_dir(1) + " is in use by pid " + std::to_string(holder) +
                           " (another troupe-node); refusing to start";
  CHECK_MESSAGE(second.output.find(want) != std::string::npos, second.output);
  // The first one is untouched: still running, still the leader, still serving.
  CHECK(c.running(1));
  CHECK(c.wait_for_leader(milliseconds(5000)) == 1);
  scheduler::SubmitJobResponse r;
  CHECK(submit(c.stub(1), "true", &r).ok());
  // Once the holder is gone the lock goes with it: a restart takes the dir.
  CHECK(c.terminate(1) == 0);
  c.start(1);
  CHECK(c.wait_for_leader() == 1);
}

TEST_CASE("invalid UTF-8 in a job's output: GetJobStatus, ListJobs and StreamJobs all succeed, with U+FFFD") {
  cluster c;
  c.start_all();
  const auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  const auto follower = c.some_follower(leader);

  grpc::ClientContext sctx;
  set_deadline(sctx, milliseconds(60000));
  auto reader = c.stub(follower).StreamJobs(&sctx, scheduler::StreamJobsRequest{});
  std::mutex mu;
  std::vector<scheduler::JobInfo> streamed;
  std::thread t([&] {
    scheduler::JobInfo j;
    while (reader->Read(&j)) {
      std::lock_guard<std::mutex> g(mu);
      streamed.push_back(j);
    }
  });

  scheduler::SubmitJobResponse sub;
  REQUIRE(submit(c.stub(leader), "printf '\\377\\376valid text'; printf '\\355\\240\\200err' >&2", &sub).ok());
  auto done = wait_for_job(c.stub(follower), sub.job_id(), milliseconds(30000));
  REQUIRE(done.status() == scheduler::JOB_STATUS_COMPLETED);
  CHECK(done.output() == fffd + fffd + "valid text");
  CHECK(done.stderr() == fffd + fffd + fffd + "err");
  for (auto id : c.ids()) {
    scheduler::GetJobStatusResponse r;
    auto st = job_status(c.stub(id), sub.job_id(), &r);
    CHECK_MESSAGE(st.ok(), "node " << id << ": " << st.error_message());
    CHECK(r.output().find("valid text") != std::string::npos);
    scheduler::ListJobsResponse l;
    auto ls = list(c.stub(id), scheduler::ListJobsRequest{}, &l);
    CHECK_MESSAGE(ls.ok(), "node " << id << ": " << ls.error_message());
    CHECK(l.jobs_size() == 1);
  }
  bool seen = wait_until(milliseconds(10000), [&] {
    std::lock_guard<std::mutex> g(mu);
    for (const auto& j : streamed)
      if (j.job_id() == sub.job_id() && j.status() == scheduler::JOB_STATUS_COMPLETED) return true;
    return false;
  });
  sctx.TryCancel();
  t.join();
  CHECK(seen);
  CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);  // ended by us, not by a parse error
}

TEST_CASE("300 StreamJobs subscribers that never read: capped, memory bounded, leader keeps leading") {
  cluster c;
  c.start_all();
  const auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto& stub = c.stub(leader);

  // A clean subscriber, there before the flood, must keep getting events.
  grpc::ClientContext clean_ctx;
  set_deadline(clean_ctx, milliseconds(120000));
  auto clean = stub.StreamJobs(&clean_ctx, scheduler::StreamJobsRequest{});
  std::mutex mu;
  std::set<std::string> clean_done;
  std::thread t([&] {
    scheduler::JobInfo j;
    while (clean->Read(&j)) {
      std::lock_guard<std::mutex> g(mu);
      if (is_terminal(j.status())) clean_done.insert(j.job_id());
    }
  });
  std::this_thread::sleep_for(milliseconds(500));
  const long rss_before = rss_kib(c.pid(leader));

  // Their own channel, so the flood shares no connection with the checks.
  auto flood_stub = make_stub(c.grpc_address(leader));
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<scheduler::JobInfo>>> idle;
  for (int i = 0; i < 300; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    set_deadline(*ctxs.back(), milliseconds(120000));
    idle.push_back(flood_stub->StreamJobs(ctxs.back().get(), scheduler::StreamJobsRequest{}));
  }
  // One more, read: the cap answers at once.
  {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(10000));
    auto extra = stub.StreamJobs(&ctx, scheduler::StreamJobsRequest{});
    scheduler::JobInfo j;
    CHECK_FALSE(extra->Read(&j));
    auto st = extra->Finish();
    CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(st.error_message() == "too many StreamJobs subscribers (limit 64); retry later");
  }

  // Job churn while the idle subscribers hold their slots.
  std::vector<std::string> ids;
  for (int i = 0; i < 120; ++i) {
    scheduler::SubmitJobResponse r;
    auto st = submit(stub, "echo churn-" + std::to_string(i) + " $(seq 1 200)", &r);
    if (st.ok()) ids.push_back(r.job_id());
  }
  CHECK(ids.size() == 120);
  bool all_done = wait_until(milliseconds(60000), [&] {
    std::lock_guard<std::mutex> g(mu);
    for (const auto& id : ids)
      if (!clean_done.count(id)) return false;
    return true;
  });
  CHECK_MESSAGE(all_done, "the clean subscriber missed events");
  const long rss_during = rss_kib(c.pid(leader));
  MESSAGE("leader RSS: " << rss_before / 1024 << " MB before, " << rss_during / 1024
                          << " MB with 300 idle subscribers");
  CHECK(rss_during - rss_before < 100 * 1024);  // issue 11: +440 MB
  scheduler::GetClusterStatusResponse cs;
  CHECK(c.status(leader, cs));
  CHECK(c.agreed_leader() == leader);  // no missed heartbeats, no election

  for (auto& ctx : ctxs) ctx->TryCancel();
  for (auto& r : idle) r->Finish();
  idle.clear();
  ctxs.clear();
  clean_ctx.TryCancel();
  t.join();
  clean->Finish();
  // After the clients left, the node serves new subscribers again.
  bool accepted = wait_until(milliseconds(10000), [&] {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(1000));
    auto again = stub.StreamJobs(&ctx, scheduler::StreamJobsRequest{});
    scheduler::JobInfo j;
    const bool got = again->Read(&j);  // the snapshot's first job
    ctx.TryCancel();
    again->Finish();
    return got;
  }, milliseconds(200));
  CHECK(accepted);
  MESSAGE("leader RSS after the subscribers left: " << rss_kib(c.pid(leader)) / 1024 << " MB");
}

}  // TEST_SUITE
