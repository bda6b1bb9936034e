// A worker whose wall clock is off: its job reports are still taken, once,
// with their times moved to the leader's clock (transport/peer_validation's
// align_report_times). Until then the leader refused every report of a node
// whose clock ran more than 5 minutes ahead, and its jobs ran a second time
// elsewhere. The skewed node runs under libfaketime (wall clock only: its
// timers and Raft use the monotonic clock, which stays true).
//
// Only ahead: libfaketime moves what clock_gettime says, not the kernel's
// clock, so a wait gRPC (abseil) bounds by an absolute wall-clock deadline
// ends 10 minutes late on the skewed node (harmless here: the node starts
// last and needs no gRPC timer) and, behind, at once, spinning two cores.
// A report from behind the leader's clock is moved the same way
// (peer_validation_tests, transport_tests: 1970 through the gRPC service).
#include <doctest/doctest.h>

#include <map>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

TEST_SUITE("clock") {

TEST_CASE("a worker whose clock runs 10 minutes ahead: its jobs complete once, timed by the leader's clock") {
  // The skewed node joins after the other two elected a leader among
  // themselves, so the leader's clock is the true one.
  constexpr std::uint64_t skewed = 3;
  cluster_options o;
  const auto env = faketime_env("+600s");
  o.node_env = [=](std::uint64_t id) { return id == skewed ? env : std::vector<std::string>{}; };
  cluster c(o);
  c.start(1);
  c.start(2);
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  REQUIRE(leader != skewed);
  c.start(skewed);
  REQUIRE(c.wait_for_leader() == leader);
  auto& s = c.stub(leader);

  // Rounds of quick jobs until the skewed node has run a few (placement
  // spreads them over the nodes with free slots; bounded).
  std::map<std::uint64_t, int> ran;
  int submitted = 0;
  for (int round = 0; round < 10 && ran[skewed] < 3; ++round) {
    const std::int64_t from_ms = now_ms();
    std::vector<std::string> ids;
    for (int i = 0; i < 12; ++i, ++submitted) {
      scheduler::SubmitJobResponse r;
      REQUIRE(submit(s, "echo skew-" + std::to_string(submitted), &r).ok());
      ids.push_back(r.job_id());
    }
    for (const auto& id : ids) {
      auto j = wait_for_job(s, id, milliseconds(30000));
      INFO("job " << id << " status " << j.status() << " on node " << j.executed_by() << ": " << j.error());
      REQUIRE(j.status() == scheduler::JOB_STATUS_COMPLETED);
      CHECK(j.attempts() == 1);  // a refused report re-ran the job: attempt 2 on another node
      CHECK(j.output().rfind("skew-", 0) == 0);
      // The leader's time, whichever node ran it; a start moved with its end.
      CHECK(j.completed_at_ms() >= from_ms - 1000);
      CHECK(j.completed_at_ms() <= now_ms() + 1000);
      if (j.has_started_at_ms()) {
        CHECK(j.started_at_ms() >= from_ms - 1000);
        CHECK(j.started_at_ms() <= j.completed_at_ms());
      }
      ++ran[j.executed_by()];
    }
  }
  REQUIRE_MESSAGE(ran[skewed] >= 3, "node " << skewed << " ran " << ran[skewed] << " of " << submitted << " jobs");
  CHECK(c.log_text(leader).find("node 3 reported job times 600 s ahead of this leader's clock") != std::string::npos);
}

}  // TEST_SUITE
