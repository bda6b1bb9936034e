// kill -9 of the leader: a new leader, no acknowledged job lost, jobs in
// flight still finish, and the killed node rejoins after a restart. How fast
// the new leader comes is a benchmark's (bench/failover.sh), not a bound here:
// a loaded CI machine is no measure of it. SIGTERM of the leader: it hands
// leadership to a follower before it stops.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include <sys/wait.h>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

TEST_SUITE("failover") {

TEST_CASE("leader failover loses no committed job and the old leader rejoins") {
  cluster c;
  c.start_all();
  auto old_leader = c.wait_for_leader();
  REQUIRE(old_leader != 0);
  auto& ls = c.stub(old_leader);

  std::vector<std::string> quick, slow;
  for (int i = 0; i < 10; ++i) {
    scheduler::SubmitJobResponse r;
    REQUIRE(submit(ls, "echo quick-" + std::to_string(i), &r).ok());
    quick.push_back(r.job_id());
  }
  for (const auto& id : quick) REQUIRE(wait_for_job(ls, id, milliseconds(20000)).status() == scheduler::JOB_STATUS_COMPLETED);
  for (int i = 0; i < 4; ++i) {
    scheduler::SubmitJobResponse r;
    REQUIRE(submit(ls, "sleep 2; echo slow-" + std::to_string(i), &r).ok());
    slow.push_back(r.job_id());
  }

  c.kill9(old_leader);
  auto killed_at = std::chrono::steady_clock::now();
  std::uint64_t new_leader = 0;
  wait_until(milliseconds(10000), [&] { return (new_leader = c.agreed_leader()) != 0; }, milliseconds(20));
  auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - killed_at);
  MESSAGE("new leader " << new_leader << " elected " << took.count() << " ms after kill -9 of node " << old_leader);
  REQUIRE(new_leader != 0);
  CHECK(new_leader != old_leader);

  // Every acknowledged job is still there; the finished ones kept their result.
  auto& ns = c.stub(new_leader);
  for (const auto& id : quick) {
    scheduler::GetJobStatusResponse j;
    REQUIRE(job_status(ns, id, &j).ok());
    CHECK(j.status() == scheduler::JOB_STATUS_COMPLETED);
  }
  // Jobs in flight at the kill finish (rerun elsewhere if they ran on the dead node).
  for (const auto& id : slow) {
    auto j = wait_for_job(ns, id, milliseconds(30000));
    CHECK_MESSAGE(j.status() == scheduler::JOB_STATUS_COMPLETED, id << " ended " << scheduler::JobStatus_Name(j.status()));
  }
  // The new leader commits new work.
  scheduler::SubmitJobResponse after;
  REQUIRE(submit(ns, "echo after-failover", &after).ok());
  CHECK(wait_for_job(ns, after.job_id(), milliseconds(20000)).status() == scheduler::JOB_STATUS_COMPLETED);

  // Restart the old leader: it follows the new one and has the same jobs.
  c.start(old_leader);
  auto& os = c.stub(old_leader);
  auto leader_jobs = [&] {
    std::map<std::string, int> m;
    for (const auto& j : list_all(ns, {})) m[j.job_id()] = j.status();
    return m;
  };
  auto expected = leader_jobs();
  CHECK(expected.size() == quick.size() + slow.size() + 1);
  bool rejoined = wait_until(milliseconds(15000), [&] {
    scheduler::GetClusterStatusResponse s;
    if (!c.status(old_leader, s) || s.leader_id() != new_leader) return false;
    try {
      std::map<std::string, int> m;
      for (const auto& j : list_all(os, {})) m[j.job_id()] = j.status();
      return m == expected;
    } catch (const std::exception&) {
      return false;
    }
  }, milliseconds(200));
  CHECK(rejoined);
  scheduler::GetClusterStatusResponse s;
  bool alive = wait_until(milliseconds(5000), [&] {
    if (!c.status(new_leader, s)) return false;
    for (const auto& n : s.nodes())
      if (n.node_id() == old_leader) return n.is_alive();
    return false;
  });
  CHECK(alive);
}

// SIGTERM, unlike kill -9, lets the leader hand leadership to a follower
// before its gateways close (node/bootstrap.cpp): the node it names leads
// the survivors, one term later, and new work commits there. A follower
// stopped the same way hands nothing and leaves leader and term alone.
TEST_CASE("a leader stopped by SIGTERM hands leadership to a follower first") {
  cluster c;
  c.start_all();
  const auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  scheduler::SubmitJobResponse r;
  REQUIRE(submit(c.stub(leader), "echo before-stop", &r).ok());
  REQUIRE(wait_for_job(c.stub(leader), r.job_id(), milliseconds(20000)).status() == scheduler::JOB_STATUS_COMPLETED);
  scheduler::GetClusterStatusResponse before;
  REQUIRE(c.status(leader, before));
  const std::string handed = "leadership handed to node ";

  // A follower: nothing to hand; the other two keep leader and term.
  const auto follower = c.some_follower(leader);
  REQUIRE(follower != 0);
  int st = c.terminate(follower);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(c.log_text(follower).find("leadership") == std::string::npos);
  scheduler::GetClusterStatusResponse s;
  REQUIRE(c.status(leader, s));
  CHECK(s.leader_id() == leader);
  CHECK(s.current_term() == before.current_term());
  c.start(follower);
  REQUIRE(wait_until(milliseconds(15000), [&] { return c.status(follower, s) && s.leader_id() == leader; }));

  // The leader: it names its successor before it exits, cleanly.
  st = c.terminate(leader);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  const auto log = c.log_text(leader);
  const auto at = log.find(handed);
  REQUIRE_MESSAGE(at != std::string::npos, "node " << leader << " stopped without handing leadership away");
  const auto successor = std::stoull(log.substr(at + handed.size()));
  MESSAGE("node " << leader << ": " << log.substr(at, log.find('\n', at) - at));
  CHECK(successor != leader);
  CHECK(log.find("leadership not handed away") == std::string::npos);

  std::uint64_t new_leader = 0;
  REQUIRE(wait_until(milliseconds(10000), [&] { return (new_leader = c.agreed_leader()) != 0; }, milliseconds(20)));
  CHECK(new_leader == successor);
  REQUIRE(c.status(new_leader, s));
  CHECK(s.current_term() == before.current_term() + 1);
  REQUIRE(submit(c.stub(new_leader), "echo after-stop", &r).ok());
  CHECK(wait_for_job(c.stub(new_leader), r.job_id(), milliseconds(20000)).status() == scheduler::JOB_STATUS_COMPLETED);
}

TEST_CASE("the last node of a cluster stopped one by one does not wait for a hand-off it cannot make") {
  cluster c;
  c.start_all();
  const auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  // The followers first, then the leader at once, as a whole cluster's stop
  // goes: the leader's tracker and Raft still count the followers alive, but
  // it reaches neither, so it stops without trying to hand over.
  for (std::uint64_t id = 1; id <= 3; ++id) {
    if (id == leader) continue;
    const int st = c.terminate(id);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
  const int st = c.terminate(leader);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  const auto log = c.log_text(leader);
  CHECK(log.find("leadership handed to node") == std::string::npos);
  CHECK(log.find("leadership not handed away within") == std::string::npos);
  // Unless it had already stepped down (it lost its quorum an election
  // timeout before), it says why it handed nothing over.
  const auto at = log.find("leadership not handed away");
  if (at != std::string::npos) {
    CHECK(log.find("no other voter is reachable", at) != std::string::npos);
    MESSAGE("node " << leader << ": " << log.substr(at, log.find('\n', at) - at));
  } else {
    MESSAGE("node " << leader << " no longer led when it was stopped");
  }
}

}  // TEST_SUITE
