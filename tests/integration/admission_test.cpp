// Admission: jobs.max_active holds under concurrent submits, because the job
// table enforces it when it applies each submit (not a gateway's read-then-
// propose, which races).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

TEST_SUITE("admission") {

TEST_CASE("200 concurrent submits against max_active = 50: never more than 50 active, the rest RESOURCE_EXHAUSTED") {
  constexpr int limit = 50;
  constexpr int n = 200;
  cluster_options o;
  o.max_active = limit;
  cluster c(o);
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto& ls = c.stub(leader);

  // Watch the table while the submits land: one ListJobs answer is one
  // consistent view of it.
  std::atomic<bool> watching{true};
  std::atomic<int> most_active{0};
  std::atomic<int> views{0};
  std::thread watcher([&] {
    while (watching.load()) {
      scheduler::ListJobsRequest q;
      q.set_page_size(1000);
      scheduler::ListJobsResponse r;
      if (list(ls, q, &r, milliseconds(2000)).ok()) {
        int active = 0;
        for (const auto& j : r.jobs())
          if (!is_terminal(j.status())) ++active;
        int prev = most_active.load();
        while (active > prev && !most_active.compare_exchange_weak(prev, active)) {
        }
        ++views;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  });

  auto r = submit_concurrently(ls, std::vector<std::string>(n, "sleep 5"), milliseconds(20000), milliseconds(25000));
  // A last look after every submit is settled.
  std::this_thread::sleep_for(milliseconds(200));
  watching = false;
  watcher.join();
  REQUIRE(r.all_answered);

  std::map<grpc::StatusCode, int> codes;
  for (const auto& st : r.statuses) {
    ++codes[st.error_code()];
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      const auto& m = st.error_message();
      CHECK_MESSAGE(m.rfind("too many active jobs (", 0) == 0, m);
      CHECK_MESSAGE(m.find(", limit 50); retry later") != std::string::npos, m);
    }
  }
  CAPTURE(codes[grpc::StatusCode::OK]);
  CHECK(codes[grpc::StatusCode::OK] > 0);
  CHECK(codes[grpc::StatusCode::OK] <= limit);
  CHECK(codes[grpc::StatusCode::OK] + codes[grpc::StatusCode::RESOURCE_EXHAUSTED] == n);
  CHECK(views.load() > 0);
  CHECK_MESSAGE(most_active.load() <= limit, "the table showed " << most_active.load() << " active jobs");

  // Exactly the admitted jobs are in the table.
  scheduler::ListJobsRequest q;
  q.set_page_size(1000);
  CHECK(static_cast<int>(list_all(ls, q).size()) == codes[grpc::StatusCode::OK]);
}

}  // TEST_SUITE
