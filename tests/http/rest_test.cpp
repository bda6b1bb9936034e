// REST contract tests against a real 3-node cluster (see rest_main.cpp):
// every endpoint, its JSON shape and status codes, and every bad-input case.
// Test cases run in file order and share the cluster; the destructive ones
// (leadership transfer, drain, losing the quorum) come last.
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "local_cluster.hpp"
#include "rest_fixture.hpp"

using namespace troupe::http_test;
using json = nlohmann::json;
using std::chrono::milliseconds;

namespace {

json parse(const http_reply& r) {
  auto j = json::parse(r.body, nullptr, false);
  INFO("body: " << r.body << " error: " << r.error);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

std::string leader_base() { return cluster().node(leader_id()).http_base(); }
std::string follower_base() { return cluster().node(follower_id()).http_base(); }

std::string submit(const std::string& base, const std::string& command) {
  auto r = http("POST", base + "/api/jobs", json{{"command", command}}.dump());
  INFO("POST /api/jobs " << command << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  auto j = parse(r);
  REQUIRE(j["success"] == true);
  return j["job_id"].get<std::string>();
}

json wait_status(const std::string& base, const std::string& id, const std::set<std::string>& wanted,
                 milliseconds timeout = milliseconds(20000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  json last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = http("GET", base + "/api/jobs/" + id);
    if (r.status == 200) {
      last = parse(r);
      if (wanted.count(last["status"].get<std::string>())) return last;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  FAIL("job " << id << " did not reach the wanted status; last: " << last.dump());
  return last;
}

const std::regex rfc3339_ns(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d)");
const std::string unknown_uuid = "6f1c2a4e-0d3b-4c5a-9e8f-123456789abc";

}  // namespace

TEST_CASE("health: live is always 200, ready names the agreed leader on every node") {
  for (auto& n : cluster().nodes()) {
    auto live = http("GET", n.http_base() + "/health/live");
    CHECK(live.status == 200);
    CHECK(parse(live) == json{{"status", "ok"}});
    auto ready = http("GET", n.http_base() + "/health/ready");
    CHECK(ready.status == 200);
    auto j = parse(ready);
    CHECK(j["status"] == "ok");
    CHECK(j["leader_id"] == leader_id());
    CHECK(ready.header("content-type").find("application/json") == 0);
  }
}

TEST_CASE("GET /api/cluster: the spec's shape, on the leader and on a follower") {
  for (auto id : {leader_id(), follower_id()}) {
    auto r = http("GET", cluster().node(id).http_base() + "/api/cluster");
    REQUIRE(r.status == 200);
    auto j = parse(r);
    CHECK(j["node_id"] == id);
    CHECK(j["role"] == (id == leader_id() ? "leader" : "follower"));
    CHECK(j["current_term"].get<std::uint64_t>() >= 1);
    CHECK(j["leader_id"] == leader_id());
    for (const char* k : {"commit_index", "last_applied", "log_length"}) CHECK(j[k].is_number_unsigned());
    REQUIRE(j["nodes"].size() == 3);
    std::set<std::uint64_t> ids;
    for (const auto& n : j["nodes"]) {
      ids.insert(n["node_id"].get<std::uint64_t>());
      CHECK(n["address"].is_string());
      CHECK(n["is_alive"].is_boolean());
      CHECK(n["voter"] == true);  // the seed configuration: three voters
    }
    CHECK(ids == std::set<std::uint64_t>{1, 2, 3});
    CHECK(j["config_committed"] == true);
  }
}

TEST_CASE("POST /api/jobs: all four fields; the job completes with its output and RFC 3339 times") {
  auto r = http("POST", leader_base() + "/api/jobs", R"({"command": "echo hello"})");
  REQUIRE(r.status == 200);
  auto j = parse(r);
  CHECK(j["success"] == true);
  CHECK(j["status"] == "pending");
  CHECK(j["error"].is_null());
  REQUIRE(j["job_id"].is_string());
  auto id = j["job_id"].get<std::string>();
  CHECK(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  auto job = wait_status(leader_base(), id, {"completed", "failed"});
  CHECK(job["status"] == "completed");
  CHECK(job["id"] == id);
  CHECK(job["command"] == "echo hello");
  CHECK(job["output"] == "hello\n");
  CHECK(job["error"].is_null());
  CHECK(job["executed_by"].is_number_unsigned());
  CHECK(std::regex_match(job["created_at"].get<std::string>(), rfc3339_ns));
  CHECK(std::regex_match(job["completed_at"].get<std::string>(), rfc3339_ns));
  CHECK(job["exit_code"] == 0);
  // The same job read through a follower: replicated state, same answer.
  auto via_follower = wait_status(follower_base(), id, {"completed"});
  CHECK(via_follower["output"] == "hello\n");
}

TEST_CASE("POST /api/jobs on a follower is forwarded to the leader") {
  auto id = submit(follower_base(), "echo forwarded");
  auto job = wait_status(follower_base(), id, {"completed", "failed"});
  CHECK(job["status"] == "completed");
  CHECK(job["output"] == "forwarded\n");
}

TEST_CASE("POST /api/jobs: an image is accepted and echoed; unset fields are null, not absent") {
  auto r = http("POST", leader_base() + "/api/jobs", R"({"command": "echo img", "image": "python:3.12-alpine"})");
  REQUIRE(r.status == 200);
  auto id = parse(r)["job_id"].get<std::string>();
  auto g = http("GET", leader_base() + "/api/jobs/" + id);
  REQUIRE(g.status == 200);
  auto j = parse(g);
  CHECK(j["image"] == "python:3.12-alpine");
  for (const char* k : {"error", "completed_at", "executed_by", "exit_code"}) CHECK(j.contains(k));
  wait_status(leader_base(), id, {"completed", "failed", "cancelled"});
}

TEST_CASE("POST /api/jobs: bad input is a JSON 400/413 with a precise error") {
  struct bad_case {
    std::string body;
    int status;
    std::string error_part;
  };
  std::vector<bad_case> cases{
      {"{not json", 400, "malformed JSON"},
      {"", 400, "malformed JSON"},
      {"[1,2]", 400, "must be a JSON object"},
      {R"({"cmd": "echo"})", 400, "missing field \"command\""},
      {R"({"command": 42})", 400, "\"command\" must be a string"},
      {R"({"command": null})", 400, "\"command\" must be a string"},
      {R"({"command": ""})", 400, "must not be empty"},
      {json{{"command", std::string(1025, 'a')}}.dump(), 400, "1025 bytes; the limit is 1024"},
      {R"({"command": "echo x", "image": 7})", 400, "\"image\" must be a string"},
      {R"({"command": "echo x", "timeout_s": -1})", 400, "\"timeout_s\" must be an integer"},
      {R"({"command": "echo x", "timeout_s": 4294967296})", 400, "\"timeout_s\" must be an integer"},
      {R"({"command": "echo x", "timeout_s": 4294967295})", 400, "the limit is 86400"},
      {json{{"command", std::string(70 * 1024, 'a')}}.dump(), 413, "larger than"},
  };
  for (const auto& c : cases) {
    INFO("body: " << c.body.substr(0, 80));
    auto r = http("POST", follower_base() + "/api/jobs", c.body);
    CHECK(r.status == c.status);
    CHECK(r.header("content-type").find("application/json") == 0);
    auto j = parse(r);
    CHECK(j["success"] == false);
    REQUIRE(j["error"].is_string());
    CHECK(j["error"].get<std::string>().find(c.error_part) != std::string::npos);
  }
  // Exactly 1024 bytes is allowed.
  auto ok = http("POST", leader_base() + "/api/jobs", json{{"command", "true " + std::string(1019, 'x')}}.dump());
  CHECK(ok.status == 200);
}

TEST_CASE("DELETE /api/jobs/{id}: cancels a running job, then 400 when already terminal; 404 and 400") {
  auto id = submit(leader_base(), "sleep 60");
  wait_status(leader_base(), id, {"running"});
  auto r = http("DELETE", follower_base() + "/api/jobs/" + id);  // forwarded to the leader
  REQUIRE(r.status == 200);
  CHECK(parse(r) == json{{"success", true}, {"error", nullptr}});
  auto job = wait_status(leader_base(), id, {"cancelled"});
  CHECK(job["status"] == "cancelled");
  CHECK(std::regex_match(job["completed_at"].get<std::string>(), rfc3339_ns));

  auto again = http("DELETE", leader_base() + "/api/jobs/" + id);
  CHECK(again.status == 400);
  CHECK(parse(again) == json{{"success", false}, {"error", "job is already cancelled"}});

  auto missing = http("DELETE", leader_base() + "/api/jobs/" + unknown_uuid);
  CHECK(missing.status == 404);
  CHECK(parse(missing)["success"] == false);
  auto malformed = http("DELETE", leader_base() + "/api/jobs/not-a-uuid");
  CHECK(malformed.status == 400);
  CHECK(parse(malformed)["error"].get<std::string>().find("malformed job id") != std::string::npos);
}

TEST_CASE("GET /api/jobs/{id}: 404 for an unknown job, 400 for a malformed id") {
  auto missing = http("GET", follower_base() + "/api/jobs/" + unknown_uuid);
  CHECK(missing.status == 404);
  CHECK(parse(missing)["error"] == "job " + unknown_uuid + " not found");
  auto malformed = http("GET", follower_base() + "/api/jobs/zzzz");
  CHECK(malformed.status == 400);
}

TEST_CASE("GET /api/jobs: array shape, filters and pagination in headers") {
  std::string marker = "pagetest" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 100000);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(submit(leader_base(), "echo " + marker + " " + std::to_string(i)));
  for (const auto& id : ids) wait_status(leader_base(), id, {"completed"});

  auto all = http("GET", follower_base() + "/api/jobs?command=" + marker);
  REQUIRE(all.status == 200);
  auto arr = parse(all);
  REQUIRE(arr.is_array());
  CHECK(arr.size() == 3);
  CHECK(all.header("x-total-count") == "3");
  for (const auto& j : arr)
    for (const char* k : {"id", "command", "status", "executed_by", "output", "error", "created_at", "completed_at"})
      CHECK(j.contains(k));

  // Case-insensitive command filter, status filter.
  auto upper = marker;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto ci = http("GET", leader_base() + "/api/jobs?status=completed&command=" + upper);
  REQUIRE(ci.status == 200);
  CHECK(parse(ci).size() == 3);
  auto none = http("GET", leader_base() + "/api/jobs?status=failed&command=" + marker);
  CHECK(parse(none).empty());
  CHECK(none.header("x-total-count") == "0");

  // Pages of one, following X-Next-Page-Token, visit every job once.
  std::set<std::string> seen;
  std::string token;
  for (int page = 0; page < 5; ++page) {
    auto r = http("GET", leader_base() + "/api/jobs?page_size=1&command=" + marker + (token.empty() ? "" : "&page_token=" + token));
    REQUIRE(r.status == 200);
    auto p = parse(r);
    REQUIRE(p.size() == 1);
    CHECK(r.header("x-total-count") == "3");
    seen.insert(p[0]["id"].get<std::string>());
    token = r.header("x-next-page-token");
    if (token.empty()) break;
  }
  CHECK(seen == std::set<std::string>(ids.begin(), ids.end()));
  CHECK(token.empty());

  // Time bounds: nothing was created before 1 ms after the epoch; worker filter.
  auto before = http("GET", leader_base() + "/api/jobs?created_before_ms=1&command=" + marker);
  CHECK(parse(before).empty());
  auto after = http("GET", leader_base() + "/api/jobs?created_after_ms=1&command=" + marker);
  CHECK(parse(after).size() == 3);
  auto worker = http("GET", leader_base() + "/api/jobs?worker=999&command=" + marker);
  CHECK(parse(worker).empty());

  for (const std::string q : {"status=bogus", "page_size=abc", "page_size=-1", "worker=x", "created_after_ms=-5",
                              "created_before_ms=soon", "page_token=%00garbage"}) {
    INFO(q);
    auto bad = http("GET", leader_base() + "/api/jobs?" + q);
    CHECK(bad.status == 400);
    CHECK(parse(bad)["error"].is_string());
  }
}

TEST_CASE("unknown routes are JSON 404s; wrong methods are JSON 405s with Allow") {
  auto nf = http("GET", follower_base() + "/api/nothing-here");
  CHECK(nf.status == 404);
  CHECK(parse(nf)["error"] == "no route for GET /api/nothing-here");
  struct m405 {
    std::string method, path, allow;
  };
  for (const auto& c : std::vector<m405>{{"PUT", "/api/jobs", "GET, POST"},
                                         {"POST", "/api/cluster", "GET"},
                                         {"GET", "/api/drain", "POST"},
                                         {"PATCH", "/api/jobs/" + unknown_uuid, "GET, DELETE"},
                                         {"DELETE", "/metrics", "GET"}}) {
    INFO(c.method << " " << c.path);
    auto r = http(c.method, follower_base() + c.path, c.method == "GET" || c.method == "DELETE" ? "" : "{}");
    CHECK(r.status == 405);
    CHECK(r.header("allow") == c.allow);
    CHECK(parse(r)["error"].get<std::string>().find("not allowed") != std::string::npos);
  }
}

TEST_CASE("GET /api/raft/log: entries with index, term, kind, committed flag and the command") {
  auto id = submit(leader_base(), "echo raftlog");
  wait_status(leader_base(), id, {"completed"});
  for (auto base : {leader_base(), follower_base()}) {  // a follower forwards to the leader
    auto r = http("GET", base + "/api/raft/log?start_index=1&limit=1000");
    REQUIRE(r.status == 200);
    auto j = parse(r);
    CHECK(j["commit_index"].get<std::uint64_t>() >= 1);
    CHECK(j["last_log_index"].get<std::uint64_t>() >= j["commit_index"].get<std::uint64_t>());
    bool found = false;
    for (const auto& e : j["entries"]) {
      CHECK(e["index"].is_number_unsigned());
      CHECK(e["term"].is_number_unsigned());
      if (e["kind"] == "command" && e["command"].contains("submit_job") && e["command"]["submit_job"]["job_id"] == id) {
        found = true;
        CHECK(e["is_committed"] == true);
        CHECK(e["command"]["submit_job"]["command"] == "echo raftlog");
      }
    }
    CHECK(found);
  }
  auto limited = http("GET", leader_base() + "/api/raft/log?start_index=1&limit=2");
  CHECK(parse(limited)["entries"].size() <= 2);
  for (const std::string q : {"limit=0", "limit=5000", "limit=x", "start_index=-1"}) {
    INFO(q);
    CHECK(http("GET", leader_base() + "/api/raft/log?" + q).status == 400);
  }
}

TEST_CASE("GET /api/topology: fixed actors with ids, and a job_executor per running job") {
  auto id = submit(leader_base(), "sleep 30");
  auto running = wait_status(leader_base(), id, {"running"});
  auto node = running["executed_by"].get<std::uint64_t>();
  auto r = http("GET", cluster().node(node).http_base() + "/api/topology");
  REQUIRE(r.status == 200);
  auto j = parse(r);
  CHECK(j["node_id"] == node);
  std::set<std::string> names;
  bool executor_found = false;
  for (const auto& a : j["actors"]) {
    names.insert(a["name"].get<std::string>());
    if (a["name"] != "http_gateway") CHECK(a["actor_id"].is_number_unsigned());
    if (a["name"] == "job_executor" && a["detail"] == "job " + id) {
      executor_found = true;
      CHECK(a["parent"].get<std::string>().rfind("job_supervisor#", 0) == 0);
    }
  }
  for (const char* n : {"raft_node", "log_store", "snapshot_writer", "job_table", "job_supervisor", "heartbeat_tracker"})
    CHECK(names.count(n));
  CHECK(executor_found);
  CHECK(http("DELETE", leader_base() + "/api/jobs/" + id).status == 200);
  wait_status(leader_base(), id, {"cancelled"});
}

TEST_CASE("GET /api/events: server-sent events carry committed job changes") {
  std::string text;
  std::thread reader([&] {
    text = read_event_stream(follower_base() + "/api/events", milliseconds(15000), "\"output\":\"sse\\n\"");
  });
  std::this_thread::sleep_for(milliseconds(500));
  auto id = submit(leader_base(), "echo sse");
  reader.join();
  INFO(text.substr(0, 2000));
  CHECK(text.rfind("event: hello\ndata: ", 0) == 0);
  CHECK(text.find("event: job\ndata: {\"index\":") != std::string::npos);
  CHECK(text.find(id) != std::string::npos);
  CHECK(text.find("\"kind\":\"created\"") != std::string::npos);
  CHECK(text.find("\"output\":\"sse\\n\"") != std::string::npos);
}

TEST_CASE("GET /metrics: Prometheus text with raft, job, run time, HTTP and gRPC series") {
  auto id = submit(leader_base(), "echo metrics");
  auto job = wait_status(leader_base(), id, {"completed"});
  auto ran_on = job["executed_by"].get<std::uint64_t>();
  auto r = http("GET", cluster().node(ran_on).http_base() + "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").find("text/plain; version=0.0.4") == 0);
  const auto& m = r.body;
  INFO(m.substr(0, 3000));
  for (const char* s : {"# TYPE troupe_raft_term gauge", "troupe_raft_commit_index ", "troupe_raft_applied_index ",
                        "troupe_raft_role{role=\"leader\"} ", "troupe_raft_proposals_accepted ",
                        "troupe_raft_elections_started ", "troupe_jobs{status=\"completed\"} ",
                        "troupe_job_queue_depth ", "# TYPE troupe_job_run_seconds histogram",
                        "troupe_job_run_seconds_bucket{le=\"+Inf\"} ", "troupe_job_run_seconds_count ",
                        "# TYPE troupe_http_requests_total counter",
                        "troupe_http_requests_total{code=\"200\",method=\"GET\"} "})
    CHECK_MESSAGE(m.find(s) != std::string::npos, s);
  // The submit went through the leader's own SchedulerService (REST shares the gRPC path).
  auto leader_metrics = http("GET", leader_base() + "/metrics").body;
  CHECK(leader_metrics.find("troupe_grpc_requests_total{code=\"OK\",method=\"/scheduler.SchedulerService/SubmitJob\"} ") !=
        std::string::npos);
  CHECK(leader_metrics.find("troupe_http_requests_total{code=\"200\",method=\"POST\"} ") != std::string::npos);
  // The role gauge says exactly one role.
  std::regex role_line(R"(troupe_raft_role\{role="[a-z_]+"\} 1\n)");
  auto ones = std::distance(std::sregex_iterator(m.begin(), m.end(), role_line), std::sregex_iterator());
  CHECK(ones == 1);
}

TEST_CASE("POST /api/leadership/transfer: bad input, then a follower-initiated transfer to itself") {
  for (const std::string body : {R"({"target_node_id": "two"})", R"({"target_node_id": -1})", R"({"target_node_id": 99})",
                                 "[]", "{oops"}) {
    INFO(body);
    auto r = http("POST", leader_base() + "/api/leadership/transfer", body);
    CHECK(r.status == 400);
    CHECK(parse(r)["error"].is_string());
  }
  auto target = follower_id();
  auto r = http("POST", cluster().node(target).http_base() + "/api/leadership/transfer",
                json{{"target_node_id", target}}.dump(), milliseconds(20000));
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = parse(r);
  CHECK(j["success"] == true);
  CHECK(j["new_leader_id"] == target);
  CHECK(cluster().wait_for_leader(milliseconds(10000)) == target);
  refresh_leader();
  CHECK(leader_id() == target);
}

TEST_CASE("POST /api/drain: the node stops taking jobs and says so") {
  auto id = follower_id();
  auto r = http("POST", cluster().node(id).http_base() + "/api/drain", "", milliseconds(80000));
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = parse(r);
  CHECK(j["success"] == true);
  CHECK(j["timed_out"] == false);
  CHECK(j["message"].get<std::string>().find("drained") != std::string::npos);
  auto c = parse(http("GET", cluster().node(id).http_base() + "/api/cluster"));
  CHECK(c["draining"] == true);
  CHECK(http("POST", cluster().node(id).http_base() + "/api/drain", "{bad").status == 400);
}

TEST_CASE("with no leader: writes answer 503 with a JSON error, readiness 503") {
  // Stop both other nodes; the survivor cannot elect a leader.
  auto survivor = leader_id();
  for (auto& n : cluster().nodes())
    if (n.id != survivor) cluster().stop(n.id);
  auto base = cluster().node(survivor).http_base();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  http_reply ready;
  while (std::chrono::steady_clock::now() < deadline) {
    ready = http("GET", base + "/health/ready", {}, milliseconds(2000));
    if (ready.status == 503) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  REQUIRE(ready.status == 503);
  CHECK(parse(ready) == json{{"status", "no_leader"}, {"leader_id", nullptr}});
  auto r = http("POST", base + "/api/jobs", R"({"command": "echo nobody"})", milliseconds(20000));
  CHECK(r.status == 503);
  auto j = parse(r);
  CHECK(j["success"] == false);
  CHECK(j["job_id"].is_null());
  CHECK(j["error"].is_string());
  CHECK(http("GET", base + "/health/live").status == 200);
}
