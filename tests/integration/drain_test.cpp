// The replicated drain: once DrainNode returns, no new job runs on the drained
// node, whether it was a follower or the leader, and after every node
// restarted; UndrainNode returns it to service.
#include <doctest/doctest.h>

#include <set>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

namespace {

constexpr int batch = 50;

scheduler::DrainNodeResponse drain(cluster& c, std::uint64_t id) {
  grpc::ClientContext ctx;
  set_deadline(ctx, milliseconds(30000));
  scheduler::DrainNodeResponse resp;
  auto st = c.stub(id).DrainNode(&ctx, {}, &resp);
  REQUIRE_MESSAGE(st.ok(), "DrainNode on node " << id << ": " << st.error_message());
  CHECK(resp.success());
  CHECK_FALSE(resp.timed_out());
  return resp;
}

// Submits `batch` quick jobs tagged `tag` on node `via`, waits until every
// one is terminal, and returns the nodes they were assigned to or ran on.
std::multiset<std::uint64_t> run_batch(cluster& c, std::uint64_t via, const std::string& tag) {
  auto& s = c.stub(via);
  for (int i = 0; i < batch; ++i) {
    auto st = submit(s, "echo " + tag + "-" + std::to_string(i));
    REQUIRE_MESSAGE(st.ok(), "SubmitJob on node " << via << ": " << st.error_message());
  }
  scheduler::ListJobsRequest q;
  q.set_command_filter(tag + "-");
  std::vector<scheduler::JobInfo> jobs;
  bool done = wait_until(milliseconds(60000), [&] {
    jobs = list_all(s, q);
    if (jobs.size() != batch) return false;
    for (const auto& j : jobs)
      if (!is_terminal(j.status())) return false;
    return true;
  }, milliseconds(200));
  REQUIRE_MESSAGE(done, "the " << tag << " jobs did not all finish");
  std::multiset<std::uint64_t> nodes;
  for (const auto& j : jobs) {
    CHECK_MESSAGE(j.status() == scheduler::JOB_STATUS_COMPLETED, j.job_id() << " " << j.status());
    nodes.insert(j.assigned_worker());
    if (j.executed_by() != 0 && j.executed_by() != j.assigned_worker()) nodes.insert(j.executed_by());
  }
  return nodes;
}

}  // namespace

TEST_SUITE("drain") {

TEST_CASE("after DrainNode returns, no new job runs on the drained node; across restarts; until UndrainNode") {
  cluster_options o;
  o.worker_capacity = 8;
  cluster c(o);
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto follower = c.some_follower(leader);

  // A drained follower.
  drain(c, follower);
  auto first = run_batch(c, leader, "after-follower-drain");
  CHECK_MESSAGE(first.count(follower) == 0, first.count(follower) << " jobs on drained node " << follower);

  // A drained leader hands leadership to the only node not draining.
  auto resp = drain(c, leader);
  CHECK_MESSAGE(resp.message().find("leadership handed to node") != std::string::npos, resp.message());
  auto now_leader = c.wait_for_leader(milliseconds(10000));
  REQUIRE(now_leader != 0);
  CHECK(now_leader != leader);
  CHECK(now_leader != follower);
  auto second = run_batch(c, now_leader, "after-leader-drain");
  CHECK(second.count(leader) == 0);
  CHECK(second.count(follower) == 0);

  // The drain is in the log and the snapshot: it survives every node restarting.
  for (auto id : c.ids()) c.terminate(id);
  for (auto id : c.ids()) c.start(id);
  auto after_restart = c.wait_for_leader(milliseconds(20000));
  REQUIRE(after_restart != 0);
  // Whoever leads accepts jobs, drained or not: the table places them elsewhere.
  auto third = run_batch(c, after_restart, "after-restart");
  CHECK(third.count(leader) == 0);
  CHECK(third.count(follower) == 0);

  // UndrainNode: the node receives work again.
  {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(20000));
    scheduler::UndrainNodeResponse u;
    auto st = c.stub(follower).UndrainNode(&ctx, {}, &u);
    REQUIRE_MESSAGE(st.ok(), st.error_message());
    CHECK(u.success());
  }
  scheduler::GetClusterStatusResponse s;
  REQUIRE(c.status(follower, s));
  for (const auto& n : s.nodes()) CHECK(n.draining() == (n.node_id() == leader));
  auto fourth = run_batch(c, c.wait_for_leader(), "after-undrain");
  CHECK(fourth.count(follower) > 0);
  CHECK(fourth.count(leader) == 0);
}

}  // TEST_SUITE
