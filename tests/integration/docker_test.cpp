// A 3-node cluster whose nodes run jobs in real Docker containers, on the
// private dockerd of the ctest fixture exec_dockerd (scripts/test-dockerd.sh;
// images local/busybox:latest and local/busybox-alt:latest, whose
// /etc/troupe-image holds "default" and "alt"). Its socket arrives in
// TROUPE_TEST_DOCKER_SOCKET. When that daemon could not start at all, every
// case prints why and the binary exits 77 (ctest: skipped), as tests/exec does.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <curl/curl.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

namespace {

using steady = std::chrono::steady_clock;

constexpr char default_image[] = "local/busybox:latest";
constexpr char alt_image[] = "local/busybox-alt:latest";

long ms_since(steady::time_point t0) {
  return static_cast<long>(std::chrono::duration_cast<milliseconds>(steady::now() - t0).count());
}

void skip(const std::string& why) {
  std::fprintf(stderr,
               "##########################################################################\n"
               "# SKIPPING DOCKER E2E TEST \"%s\": %s\n"
               "##########################################################################\n",
               doctest::getContextOptions()->currentTest ? doctest::getContextOptions()->currentTest->m_name : "?",
               why.c_str());
  note_skipped_test();
}

std::size_t collect(char* p, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// GET `path` from the Docker Engine API on the unix socket `sock`. Returns the
// HTTP status (0: no answer) and fills `body`.
long docker_get(const std::string& sock, const std::string& path, std::string& body) {
  body.clear();
  CURL* c = curl_easy_init();
  if (!c) return 0;
  std::string url = "http://localhost" + path;
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  return code;
}

// Containers (running or not) labelled troupe.job=<job_id>; -1 when the
// daemon did not answer with a JSON array.
int containers_of_job(const std::string& sock, const std::string& job_id) {
  std::string filters = nlohmann::json{{"label", {"troupe.job=" + job_id}}}.dump();
  char* enc = curl_easy_escape(nullptr, filters.c_str(), static_cast<int>(filters.size()));
  if (!enc) return -1;
  std::string path = std::string("/v1.41/containers/json?all=1&filters=") + enc;
  curl_free(enc);
  std::string body;
  if (docker_get(sock, path, body) != 200) return -1;
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_array() ? static_cast<int>(j.size()) : -1;
}

// The test dockerd's socket, or "" after a loud skip (daemon unavailable).
// A daemon that started but does not answer is a failure, not a skip.
std::string docker_socket_or_skip() {
  const char* env = std::getenv("TROUPE_TEST_DOCKER_SOCKET");
  if (!env || !*env) {
    skip("TROUPE_TEST_DOCKER_SOCKET is not set (run through ctest, or start scripts/test-dockerd.sh start DIR "
         "and export DIR/docker.sock)");
    return "";
  }
  std::string sock(env);
  std::ifstream unavailable(sock.substr(0, sock.rfind('/')) + "/unavailable");
  if (unavailable) {
    std::ostringstream why;
    why << unavailable.rdbuf();
    std::string reason = why.str();
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    skip("dockerd could not start: " + reason);
    return "";
  }
  std::string body;
  long code = docker_get(sock, "/_ping", body);
  REQUIRE_MESSAGE(code == 200, "the test dockerd at " << sock << " does not answer GET /_ping (HTTP " << code << ")");
  return sock;
}

// A running 3-node cluster on the Docker backend with an agreed leader.
struct docker_cluster {
  cluster c;
  std::uint64_t leader = 0;
  std::uint64_t follower = 0;
  explicit docker_cluster(const std::string& sock) : c(options(sock)) {
    auto t0 = steady::now();
    c.start_all();
    leader = c.wait_for_leader();
    REQUIRE_MESSAGE(leader != 0, "no leader within 15 s");
    follower = c.some_follower(leader);
    REQUIRE(follower != 0);
    std::fprintf(stderr, "[docker_e2e] cluster up, leader %llu, in %ld ms\n",
                 static_cast<unsigned long long>(leader), ms_since(t0));
  }
  static cluster_options options(const std::string& sock) {
    cluster_options o;
    o.executor_backend = "docker";
    o.docker_socket = sock;
    o.default_image = default_image;
    return o;
  }
};

// Submits through the `troupe` CLI pointed at `node` only (a follower answers
// "Not the leader" and the CLI follows the redirect). Returns the job id.
std::string cli_submit(docker_cluster& dc, std::uint64_t node, const std::string& command,
                       const std::string& image = "") {
  std::vector<std::string> argv = {cli_binary(), "-a", dc.c.grpc_address(node), "-o", "json", "job", "submit", command};
  if (!image.empty()) {
    argv.push_back("--image");
    argv.push_back(image);
  }
  auto r = run_process(argv, milliseconds(30000));
  REQUIRE_MESSAGE(r.exit_code == 0, "troupe job submit: " << r.output);
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("job_id") && j["job_id"].is_string()) {
      std::string id = j["job_id"].get<std::string>();
      REQUIRE_MESSAGE(looks_like_uuid(id), r.output);
      return id;
    }
  }
  FAIL("no job id in the CLI's output: " << r.output);
  return "";
}

std::string grpc_submit(docker_cluster& dc, const std::string& command, const std::string& image = "") {
  grpc::ClientContext ctx;
  set_deadline(ctx, milliseconds(10000));
  scheduler::SubmitJobRequest req;
  req.set_command(command);
  if (!image.empty()) req.set_image(image);
  scheduler::SubmitJobResponse resp;
  auto st = dc.c.stub(dc.leader).SubmitJob(&ctx, req, &resp);
  REQUIRE_MESSAGE(st.ok(), "SubmitJob(" << command << "): " << st.error_message());
  return resp.job_id();
}

std::string describe(const scheduler::GetJobStatusResponse& r) {
  std::ostringstream s;
  s << "status " << r.status() << ", executed_by " << r.executed_by() << ", attempts " << r.attempts()
    << ", exit " << (r.has_exit_code() ? std::to_string(r.exit_code()) : "-") << ", error \"" << r.error()
    << "\", stdout \"" << r.output() << "\", stderr \"" << r.stderr() << "\"";
  return s.str();
}

}  // namespace

TEST_SUITE("docker_e2e") {

TEST_CASE("a job submitted on a follower runs in the default image, with stdout and stderr captured") {
  auto sock = docker_socket_or_skip();
  if (sock.empty()) return;
  docker_cluster dc(sock);

  auto t0 = steady::now();
  auto id = cli_submit(dc, dc.follower, "cat /etc/troupe-image; echo out; echo err >&2");
  auto done = wait_for_job(dc.c.stub(dc.leader), id, milliseconds(60000));
  long took = ms_since(t0);
  std::fprintf(stderr, "[docker_e2e] default image job: submit to COMPLETED in %ld ms\n", took);
  REQUIRE_MESSAGE(done.status() == scheduler::JOB_STATUS_COMPLETED, describe(done));
  CHECK(done.output() == "default\nout\n");
  CHECK(done.stderr() == "err\n");
  REQUIRE(done.has_exit_code());
  CHECK(done.exit_code() == 0);

  // It ran on a live member, in a container of the default image: that node's
  // job supervisor logged the docker backend and the image for this job.
  auto by = done.executed_by();
  REQUIRE_MESSAGE(by >= 1, describe(done));
  REQUIRE_MESSAGE(by <= dc.c.size(), describe(done));
  CHECK(dc.c.running(by));
  auto log = dc.c.log_text(by);
  auto line_at = log.find("for job " + id);
  REQUIRE_MESSAGE(line_at != std::string::npos, "node " << by << "'s log does not mention job " << id);
  auto line = log.substr(line_at, log.find('\n', line_at) - line_at);
  CHECK_MESSAGE(line.find(std::string("image ") + default_image) != std::string::npos, line);
  CHECK_MESSAGE(line.find("backend docker") != std::string::npos, line);

  // The follower it was submitted on has the same result replicated.
  auto on_follower = wait_for_job(dc.c.stub(dc.follower), id, milliseconds(5000));
  CHECK(on_follower.status() == scheduler::JOB_STATUS_COMPLETED);
  CHECK(on_follower.output() == "default\nout\n");
  CHECK(on_follower.executed_by() == by);
}

TEST_CASE("SubmitJobRequest.image overrides the default image") {
  auto sock = docker_socket_or_skip();
  if (sock.empty()) return;
  docker_cluster dc(sock);

  auto t0 = steady::now();
  auto id = cli_submit(dc, dc.follower, "cat /etc/troupe-image", alt_image);
  auto done = wait_for_job(dc.c.stub(dc.leader), id, milliseconds(60000));
  std::fprintf(stderr, "[docker_e2e] image override job: submit to COMPLETED in %ld ms\n", ms_since(t0));
  REQUIRE_MESSAGE(done.status() == scheduler::JOB_STATUS_COMPLETED, describe(done));
  CHECK(done.output() == "alt\n");
  CHECK(done.stderr().empty());
  CHECK(done.image() == alt_image);
}

TEST_CASE("a missing image fails the job with an error naming the image") {
  auto sock = docker_socket_or_skip();
  if (sock.empty()) return;
  docker_cluster dc(sock);

  auto t0 = steady::now();
  auto id = grpc_submit(dc, "echo never", "local/nope:1");
  auto done = wait_for_job(dc.c.stub(dc.leader), id, milliseconds(60000));
  std::fprintf(stderr, "[docker_e2e] missing image job: submit to FAILED in %ld ms (%u attempts): %s\n",
               ms_since(t0), done.attempts(), done.error().c_str());
  REQUIRE_MESSAGE(done.status() == scheduler::JOB_STATUS_FAILED, describe(done));
  CHECK_MESSAGE(done.error().find("local/nope:1") != std::string::npos, describe(done));
  CHECK(done.output().empty());
  CHECK_FALSE(done.has_exit_code());
  CHECK(containers_of_job(sock, id) == 0);
}

TEST_CASE("CancelJob kills and removes the job's container") {
  auto sock = docker_socket_or_skip();
  if (sock.empty()) return;
  docker_cluster dc(sock);
  auto& leader = dc.c.stub(dc.leader);

  auto id = grpc_submit(dc, "sleep 100");
  auto running = wait_for_job(leader, id, milliseconds(30000), scheduler::JOB_STATUS_RUNNING);
  REQUIRE_MESSAGE(running.status() == scheduler::JOB_STATUS_RUNNING, describe(running));
  // The container exists (so the label query below can see one).
  int before = -1;
  bool seen = wait_until(milliseconds(20000), [&] { return (before = containers_of_job(sock, id)) == 1; },
                         milliseconds(100));
  REQUIRE_MESSAGE(seen, "no container labelled troupe.job=" << id << " (last count " << before << ")");

  auto t0 = steady::now();
  scheduler::CancelJobResponse cr;
  auto st = cancel(leader, id, &cr);
  REQUIRE_MESSAGE(st.ok(), st.error_message());
  CHECK(cr.success());
  auto done = wait_for_job(leader, id, milliseconds(10000));
  long to_cancelled = ms_since(t0);
  CHECK_MESSAGE(done.status() == scheduler::JOB_STATUS_CANCELLED, describe(done));
  CHECK_MESSAGE(to_cancelled < 5000, "CANCELLED after " << to_cancelled << " ms");

  int left = -1;
  bool removed = wait_until(milliseconds(15000), [&] { return (left = containers_of_job(sock, id)) == 0; },
                            milliseconds(100));
  long to_removed = ms_since(t0);
  std::fprintf(stderr, "[docker_e2e] cancel of sleep 100: CANCELLED after %ld ms, container gone after %ld ms\n",
               to_cancelled, to_removed);
  CHECK_MESSAGE(removed, left << " container(s) labelled troupe.job=" << id << " remain " << to_removed
                              << " ms after CancelJob");
  // And the job stays cancelled (the killed container is not reported as a failure).
  scheduler::GetJobStatusResponse later;
  REQUIRE(job_status(leader, id, &later).ok());
  CHECK(later.status() == scheduler::JOB_STATUS_CANCELLED);
}

TEST_CASE("jobs run sandboxed without a network: only lo") {
  auto sock = docker_socket_or_skip();
  if (sock.empty()) return;
  docker_cluster dc(sock);

  auto id = grpc_submit(dc, "ls /sys/class/net");
  auto done = wait_for_job(dc.c.stub(dc.leader), id, milliseconds(60000));
  REQUIRE_MESSAGE(done.status() == scheduler::JOB_STATUS_COMPLETED, describe(done));
  CHECK(done.output() == "lo\n");
}

}  // TEST_SUITE
