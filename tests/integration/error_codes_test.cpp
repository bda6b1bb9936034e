// Every error code of the SubmitJob and CancelJob tables, each for its stated reason.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

namespace {
std::string trailer(const grpc::ClientContext& ctx, const std::string& key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  return it == md.end() ? std::string("<absent>") : std::string(it->second.data(), it->second.size());
}
constexpr char unknown_uuid[] = "0b7e4a6c-1d2f-4c3b-9a8e-5f6d7c8b9a01";
}  // namespace

TEST_SUITE("errors") {

TEST_CASE("not-leader, argument, not-found, terminal and draining errors") {
  cluster c;
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto follower = c.some_follower(leader);
  auto& ls = c.stub(leader);
  auto& fs = c.stub(follower);
  auto leader_addr = c.grpc_address(leader);

  SUBCASE("FAILED_PRECONDITION on a follower names the leader, in text and trailing metadata") {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(5000));
    scheduler::SubmitJobRequest req;
    req.set_command("echo x");
    scheduler::SubmitJobResponse resp;
    auto st = fs.SubmitJob(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK_MESSAGE(st.error_message().rfind("Not the leader", 0) == 0, st.error_message());
    CHECK_MESSAGE(st.error_message().find("node " + std::to_string(leader)) != std::string::npos, st.error_message());
    CHECK_MESSAGE(st.error_message().find(leader_addr) != std::string::npos, st.error_message());
    CHECK(trailer(ctx, "leader-id") == std::to_string(leader));
    CHECK(trailer(ctx, "leader-address") == leader_addr);

    grpc::ClientContext cctx;
    set_deadline(cctx, milliseconds(5000));
    scheduler::CancelJobRequest creq;
    creq.set_job_id(unknown_uuid);
    scheduler::CancelJobResponse cresp;
    auto cs = fs.CancelJob(&cctx, creq, &cresp);
    CHECK(cs.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK_MESSAGE(cs.error_message().rfind("Not the leader", 0) == 0, cs.error_message());
    CHECK(trailer(cctx, "leader-id") == std::to_string(leader));
    CHECK(trailer(cctx, "leader-address") == leader_addr);
  }
  SUBCASE("INVALID_ARGUMENT for an empty or over-long command; 1024 bytes is accepted") {
    CHECK(submit(ls, "").error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    std::string max_cmd = "echo " + std::string(1019, 'x');
    REQUIRE(max_cmd.size() == 1024);
    auto ok = submit(ls, max_cmd);
    CHECK_MESSAGE(ok.ok(), ok.error_message());
    auto too_long = submit(ls, max_cmd + "y");
    CHECK(too_long.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_MESSAGE(too_long.error_message().find("1024") != std::string::npos, too_long.error_message());
    // Argument errors come before the leader check: a follower reports them too.
    CHECK(submit(fs, "").error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  SUBCASE("INVALID_ARGUMENT for a malformed job id, NOT_FOUND for an unknown one") {
    for (std::string bad : {"", "not-a-uuid", "0b7e4a6c-1d2f-4c3b-9a8e-5f6d7c8b9a0", "0b7e4a6c1d2f4c3b9a8e5f6d7c8b9a01zzzz"}) {
      CAPTURE(bad);
      scheduler::GetJobStatusResponse js;
      CHECK(job_status(ls, bad, &js).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK(cancel(ls, bad).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
    scheduler::GetJobStatusResponse js;
    CHECK(job_status(ls, unknown_uuid, &js).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(job_status(fs, unknown_uuid, &js).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(cancel(ls, unknown_uuid).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  SUBCASE("FAILED_PRECONDITION for cancelling a completed job") {
    scheduler::SubmitJobResponse sub;
    REQUIRE(submit(ls, "echo done", &sub).ok());
    REQUIRE(wait_for_job(ls, sub.job_id(), milliseconds(20000)).status() == scheduler::JOB_STATUS_COMPLETED);
    scheduler::CancelJobResponse cr;
    auto st = cancel(ls, sub.job_id(), &cr);
    CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(st.error_message() == "job is already completed");
  }
  SUBCASE("UNAVAILABLE on a draining node") {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(30000));
    scheduler::DrainNodeResponse resp;
    REQUIRE(fs.DrainNode(&ctx, {}, &resp).ok());
    auto st = submit(fs, "echo refused");
    CHECK(st.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK_MESSAGE(st.error_message().find("draining") != std::string::npos, st.error_message());
  }
}

TEST_CASE("RESOURCE_EXHAUSTED beyond max_pending_proposals, DEADLINE_EXCEEDED without a quorum, then step-down") {
  // The commit deadline (1 s) is shorter than the election timeout (2-4 s),
  // so the leader still leads when the uncommitted entries time out; then
  // CheckQuorum makes it step down.
  cluster_options o;
  o.max_pending_proposals = 4;
  o.commit_deadline_ms = 1000;
  o.election_ticks = 40;
  cluster c(o);
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto& ls = c.stub(leader);
  scheduler::SubmitJobResponse warm;
  REQUIRE(submit(ls, "echo warm", &warm).ok());
  // Let the warm-up job's own entries (assign, running, completed) commit
  // first: pending internal proposals would take queue slots below.
  REQUIRE(wait_for_job(ls, warm.job_id(), milliseconds(10000)).status() == scheduler::JOB_STATUS_COMPLETED);
  for (auto id : c.ids())
    if (id != leader) c.kill9(id);

  constexpr int n = 12;
  std::vector<std::string> commands;
  for (int i = 0; i < n; ++i) commands.push_back("echo " + std::to_string(i));
  auto start = std::chrono::steady_clock::now();
  auto r = submit_concurrently(ls, commands, milliseconds(10000), milliseconds(15000));
  REQUIRE(r.all_answered);
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::map<grpc::StatusCode, int> codes;
  for (const auto& st : r.statuses) {
    ++codes[st.error_code()];
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
      CHECK_MESSAGE(st.error_message().find("proposal queue is full") != std::string::npos, st.error_message());
  }
  CHECK(codes[grpc::StatusCode::OK] == 0);
  CHECK(codes[grpc::StatusCode::DEADLINE_EXCEEDED] == 4);
  CHECK(codes[grpc::StatusCode::RESOURCE_EXHAUSTED] == n - 4);
  CHECK(elapsed >= milliseconds(900));  // the deadline is the configured 1 s, not earlier

  // Without a quorum the leader steps down (CheckQuorum) within a few election timeouts.
  scheduler::GetClusterStatusResponse s;
  bool stepped_down = wait_until(milliseconds(15000), [&] { return c.status(leader, s) && s.role() != "leader"; });
  CHECK_MESSAGE(stepped_down, "role still " << s.role());
  CHECK(submit(ls, "echo after").error_code() == grpc::StatusCode::FAILED_PRECONDITION);
}

}  // TEST_SUITE
