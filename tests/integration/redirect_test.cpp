// A follower redirects SubmitJob; the CLI follows the redirect.
#include <doctest/doctest.h>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

TEST_SUITE("redirect") {

TEST_CASE("a follower redirects and `troupe job submit --wait` follows it to the output") {
  cluster c;
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto follower = c.some_follower(leader);

  grpc::ClientContext ctx;
  set_deadline(ctx, milliseconds(5000));
  scheduler::SubmitJobRequest req;
  req.set_command("echo direct");
  scheduler::SubmitJobResponse resp;
  auto st = c.stub(follower).SubmitJob(&ctx, req, &resp);
  CHECK(st.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(st.error_message().rfind("Not the leader", 0) == 0);
  CHECK(resp.job_id().empty());

  auto r = run_process({cli_binary(), "-a", c.grpc_address(follower), "job", "submit", "--wait", "echo redirected-ok"},
                       milliseconds(30000));
  CHECK_MESSAGE(r.exit_code == 0, r.output);
  CHECK_MESSAGE(r.output.find("redirected-ok") != std::string::npos, r.output);

  // The job exists exactly once, on the leader's table.
  scheduler::ListJobsRequest q;
  q.set_command_filter("redirected-ok");
  scheduler::ListJobsResponse l;
  REQUIRE(list(c.stub(leader), q, &l).ok());
  CHECK(l.total_count() == 1);

  // --wait exits with the job's exit code.
  auto failing = run_process({cli_binary(), "-a", c.grpc_address(follower), "job", "submit", "--wait", "exit 5"},
                             milliseconds(30000));
  CHECK_MESSAGE(failing.exit_code == 5, failing.output);
}

}  // TEST_SUITE
