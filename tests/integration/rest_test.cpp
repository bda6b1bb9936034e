// REST smoke test: health, submission through a follower, cancel of a finished job.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;
using json = nlohmann::json;

TEST_SUITE("rest") {

TEST_CASE("health, POST /api/jobs through a follower, DELETE of a completed job") {
  cluster c;
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto follower = c.some_follower(leader);
  auto base = "http://" + c.http_address(follower);

  auto live = http("GET", base + "/health/live");
  CHECK_MESSAGE(live.code == 200, live.error);
  CHECK(json::parse(live.body, nullptr, false) == json{{"status", "ok"}});

  auto ready = http("GET", base + "/health/ready");
  CHECK(ready.code == 200);
  auto rj = json::parse(ready.body, nullptr, false);
  CHECK(rj["status"] == "ok");
  CHECK(rj["leader_id"] == leader);

  auto post = http("POST", base + "/api/jobs", R"({"command": "echo via-rest"})");
  REQUIRE_MESSAGE(post.code == 200, post.body << post.error);
  auto pj = json::parse(post.body, nullptr, false);
  REQUIRE(pj.is_object());
  CHECK(pj["success"] == true);
  CHECK(pj["status"] == "pending");
  CHECK(pj.contains("error"));
  CHECK(pj["error"].is_null());
  REQUIRE(pj["job_id"].is_string());
  auto id = pj["job_id"].get<std::string>();
  CHECK(looks_like_uuid(id));

  auto done = wait_for_job(c.stub(leader), id, milliseconds(20000));
  REQUIRE(done.status() == scheduler::JOB_STATUS_COMPLETED);
  CHECK(done.output() == "via-rest\n");

  auto jobs = http("GET", base + "/api/jobs");
  CHECK(jobs.code == 200);
  auto jj = json::parse(jobs.body, nullptr, false);
  REQUIRE(jj.is_array());
  bool listed = false;
  for (const auto& j : jj)
    if (j["id"] == id) {
      listed = true;
      CHECK(j["command"] == "echo via-rest");
      CHECK(j["output"] == "via-rest\n");
    }
  CHECK(listed);

  auto del = http("DELETE", base + "/api/jobs/" + id);
  CHECK(del.code == 400);
  CHECK(json::parse(del.body, nullptr, false) == json{{"success", false}, {"error", "job is already completed"}});

  auto bad = http("POST", base + "/api/jobs", R"({"command": ""})");
  CHECK(bad.code == 400);
}

}  // TEST_SUITE
