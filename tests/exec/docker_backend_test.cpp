// Against a real, private dockerd (see docker_main.cpp).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "runtime/exec/docker_backend.hpp"
#include "runtime/exec/docker_client.hpp"
#include "runtime/exec/output_store.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using namespace std::chrono_literals;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::seconds_since;

namespace {

std::string socket_path() { return std::getenv("TROUPE_TEST_DOCKER_SOCKET"); }

docker_options test_options() {
  docker_options o;
  o.socket_path = socket_path();
  return o;
}

std::size_t containers_of_job(const std::string& job_id) {
  return docker_client(socket_path()).list_containers("troupe.job=" + job_id).size();
}

}  // namespace

TEST_CASE("docker client: ping and version") {
  docker_client c(socket_path());
  CHECK(c.ping());
  auto v = c.version();
  CHECK(v.value("ApiVersion", "") >= std::string("1.41"));
  CHECK_FALSE(v.value("Version", "").empty());
  CHECK(c.inspect_image("local/busybox:latest").has_value());
  CHECK_FALSE(c.inspect_image("local/never-imported:latest").has_value());

  docker_backend b(test_options());
  CHECK(b.healthy());
  REQUIRE(b.daemon_version().has_value());
  CHECK(b.describe().find("docker " + v.value("Version", "")) == 0);
}

TEST_CASE("docker client: a failed pull throws with the daemon's message") {
  docker_client c(socket_path());
  try {
    c.pull_image("local/not-there:1.0");
    FAIL("pull of a missing image succeeded");
  } catch (const docker_error& e) {
    CHECK_FALSE(e.unreachable());
    CHECK_FALSE(e.daemon_message().empty());
    CHECK(std::string(e.what()).find("pull image local/not-there:1.0: " + e.daemon_message()) == 0);
  }
}

TEST_CASE("docker client: create, start, wait, logs, inspect, remove") {
  docker_client c(socket_path());
  container_config cfg;
  cfg.image = "local/busybox:latest";
  cfg.cmd = {"sh", "-c", "echo one; echo two >&2; echo three; exit 5"};
  cfg.labels = {{"troupe.job", "client-raw"}, {"troupe.node", "901"}};
  std::string id = c.create_container(cfg);
  CHECK(id.size() == 64);
  c.start_container(id);
  auto status = c.wait_container(id, 20s);
  REQUIRE(status.has_value());
  CHECK(*status == 5);
  auto [out, err] = c.logs(id);
  CHECK(out == "one\nthree\n");
  CHECK(err == "two\n");
  auto st = c.inspect_container(id);
  CHECK(st.status == "exited");
  CHECK(st.exit_code == 5);
  CHECK_FALSE(st.oom_killed);
  c.kill_container(id);  // not running: not an error
  c.remove_container(id);
  c.remove_container(id);  // gone: not an error
  CHECK_THROWS_WITH_AS(c.inspect_container(id), doctest::Contains("HTTP 404"), docker_error);
}

TEST_CASE("docker: stdout and stderr both captured, exit 0 completes") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  auto spec = make_spec(dir, "d-ok", "echo hello; echo problem >&2; echo world");
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(spec, cancel);
  MESSAGE("one echo job, create to remove: " << seconds_since(t0) << " s");
  CHECK(r.error == "");
  CHECK(r.result == outcome::completed);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code == 0);
  CHECK(r.stdout_inline == "hello\nworld\n");
  CHECK(r.stderr_inline == "problem\n");
  CHECK(r.stdout_bytes == 12);
  CHECK(r.stderr_bytes == 8);
  stored_output s = read_output(spec.output_dir, "d-ok");
  CHECK(s.found);
  CHECK(s.stdout_data == "hello\nworld\n");
  CHECK(s.stderr_data == "problem\n");
  CHECK(containers_of_job("d-ok") == 0);  // removed after the run
}

TEST_CASE("docker: exit code 3 fails the job with the code") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "d-exit3", "echo partial; exit 3"), cancel);
  CHECK(r.result == outcome::failed);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code == 3);
  CHECK(r.error == "exited with code 3");
  CHECK(r.stdout_inline == "partial\n");
}

TEST_CASE("docker: the job's image is used, not a fixed default") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  job_result def = b->run(make_spec(dir, "d-img-default", "cat /etc/troupe-image"), cancel);
  CHECK(def.result == outcome::completed);
  CHECK(def.stdout_inline == "default\n");
  auto spec = make_spec(dir, "d-img-alt", "cat /etc/troupe-image");
  spec.image = "local/busybox-alt:latest";
  job_result alt = b->run(spec, cancel);
  CHECK(alt.result == outcome::completed);
  CHECK(alt.stdout_inline == "alt\n");
}

TEST_CASE("docker: a missing image fails fast, naming the image and quoting the daemon") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  auto spec = make_spec(dir, "d-noimage", "echo never");
  spec.image = "local/does-not-exist:v9";
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(spec, cancel);
  CHECK(seconds_since(t0) < 15.0);
  CHECK(r.result == outcome::failed);
  CHECK_FALSE(r.exit_code.has_value());
  const std::string prefix = "image local/does-not-exist:v9 not found: ";
  CHECK(r.error.find(prefix) == 0);
  CHECK(r.error.size() > prefix.size() + 5);  // the daemon's own words follow
  MESSAGE("missing image error: " << r.error);
  CHECK(containers_of_job("d-noimage") == 0);
}

TEST_CASE("docker: cancel of sleep 100 is quick and leaves no container") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  auto spec = make_spec(dir, "d-cancel", "echo started; sleep 100", 120s);
  job_result r;
  std::thread runner([&] { r = b->run(spec, cancel); });
  struct cancel_and_join {  // even if a check below throws
    cancel_token& c;
    std::thread& t;
    ~cancel_and_join() {
      c.cancel();
      if (t.joinable()) t.join();
    }
  } guard{cancel, runner};
  // Wait (bounded) until the container is running.
  docker_client c(socket_path());
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    for (const auto& s : c.list_containers("troupe.job=d-cancel")) running = running || s.state == "running";
    if (!running) std::this_thread::sleep_for(25ms);
  }
  CHECK(running);
  auto t0 = std::chrono::steady_clock::now();
  cancel.cancel();
  runner.join();
  double took = seconds_since(t0);
  MESSAGE("cancel took " << took << " s");
  CHECK(took < 3.0);
  CHECK(r.result == outcome::cancelled);
  CHECK_FALSE(r.timed_out);
  CHECK(r.stdout_inline == "started\n");
  CHECK(containers_of_job("d-cancel") == 0);
}

TEST_CASE("docker: cancel before start creates nothing") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  cancel.cancel();
  job_result r = b->run(make_spec(dir, "d-precancel", "echo never"), cancel);
  CHECK(r.result == outcome::cancelled);
  CHECK(containers_of_job("d-precancel") == 0);
}

TEST_CASE("docker: a 1 s timeout on sleep 10 kills it and reports the timeout") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(make_spec(dir, "d-timeout", "echo started; sleep 10", 1s), cancel);
  double took = seconds_since(t0);
  MESSAGE("timeout run took " << took << " s");
  CHECK(took >= 1.0);
  CHECK(took < 6.0);
  CHECK(r.result == outcome::failed);
  CHECK(r.timed_out);
  CHECK(r.error == "timed out after 1 s");
  CHECK(r.stdout_inline == "started\n");
  CHECK(containers_of_job("d-timeout") == 0);
}

TEST_CASE("docker: exceeding the memory limit is reported as out of memory") {
  scratch_dir dir;
  docker_options opts = test_options();
  opts.sandbox.memory_bytes = 16ll << 20;
  auto b = make_docker_backend(opts);
  cancel_token cancel;
  // tail must hold the whole newline-free 200 MB stream: it is OOM-killed.
  job_result r = b->run(make_spec(dir, "d-oom", "head -c 200m /dev/zero | tail"), cancel);
  CHECK(r.result == outcome::failed);
  CHECK(r.oom_killed);
  CHECK(r.error == "out of memory (killed, limit 16777216 bytes)");
}

TEST_CASE("docker: output over the cap is truncated and reported with the true size") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  auto spec = make_spec(dir, "d-cap", "head -c 3000000 /dev/zero; echo small >&2");
  spec.output_cap_bytes = 1 << 20;
  spec.inline_limit = 100;
  job_result r = b->run(spec, cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.truncated);
  CHECK(r.stdout_bytes == 3000000);
  CHECK(r.stderr_bytes == 6);
  CHECK(r.stdout_inline.size() == 100);
  stored_output s = read_output(spec.output_dir, "d-cap");
  CHECK(s.truncated);
  CHECK(s.stdout_data.size() == (1u << 20));
  CHECK(s.stderr_data == "small\n");
}

TEST_CASE("docker: the sandbox is applied (read-only rootfs, no capabilities, no network)") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  cancel_token cancel;
  job_result r = b->run(
      make_spec(dir, "d-sandbox",
                "grep CapEff /proc/self/status; ls /sys/class/net; touch /etc/x 2>&1 || echo readonly"),
      cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline.find("CapEff:\t0000000000000000\n") == 0);
  CHECK(r.stdout_inline.find("lo\n") != std::string::npos);
  CHECK(r.stdout_inline.find("eth0") == std::string::npos);
  CHECK(r.stdout_inline.find("Read-only file system") != std::string::npos);
  CHECK(r.stdout_inline.find("readonly\n") != std::string::npos);
}

TEST_CASE("docker: leftover containers of a node are listed as orphans and removed") {
  docker_client c(socket_path());
  container_config cfg;
  cfg.image = "local/busybox:latest";
  cfg.cmd = {"sh", "-c", "sleep 100"};
  cfg.labels = {{"troupe.job", "orphan-a"}, {"troupe.node", "4242"}};
  std::string a = c.create_container(cfg);
  c.start_container(a);  // a running leftover
  cfg.labels = {{"troupe.job", "orphan-b"}, {"troupe.node", "4242"}};
  c.create_container(cfg);  // a never-started leftover
  cfg.labels = {{"troupe.job", "other-node-job"}, {"troupe.node", "4243"}};
  std::string other = c.create_container(cfg);

  auto b = make_docker_backend(test_options());
  CHECK(b->orphaned_jobs(4242) == std::vector<std::string>{"orphan-a", "orphan-b"});
  CHECK(b->orphaned_jobs(4243) == std::vector<std::string>{"other-node-job"});
  CHECK(b->orphaned_jobs(4244).empty());
  b->remove_job_artifacts("orphan-a");
  b->remove_job_artifacts("orphan-b");
  CHECK(b->orphaned_jobs(4242).empty());
  CHECK(containers_of_job("orphan-a") == 0);
  b->remove_job_artifacts("other-node-job");
  CHECK(b->orphaned_jobs(4243).empty());
  b->remove_job_artifacts("never-existed");  // nothing to remove: not an error
}

TEST_CASE("docker: a node's orphans never include the containers of a node with the same id elsewhere") {
  // Two clusters on one daemon, each with a node 4245: one running job each.
  auto owned_by = [](const std::string& owner) {
    auto o = test_options();
    o.owner = owner;
    return o;
  };
  docker_backend mine(owned_by("/var/lib/troupe-a")), theirs(owned_by("/var/lib/troupe-b"));
  scratch_dir dir;
  auto spec = [&](const std::string& id) {
    auto s = make_spec(dir, id, "sleep 100", std::chrono::seconds(60));
    s.node_id = 4245;
    return s;
  };
  cancel_token stop_mine, stop_theirs;
  std::thread a([&] { mine.run(spec("owned-a"), stop_mine); });
  std::thread b([&] { theirs.run(spec("owned-b"), stop_theirs); });
  struct cancel_and_join {  // even if a check below throws
    cancel_token &ca, &cb;
    std::thread &ta, &tb;
    ~cancel_and_join() {
      ca.cancel();
      cb.cancel();
      if (ta.joinable()) ta.join();
      if (tb.joinable()) tb.join();
    }
  } guard{stop_mine, stop_theirs, a, b};
  for (int i = 0; i < 1200 && (containers_of_job("owned-a") == 0 || containers_of_job("owned-b") == 0); ++i)
    std::this_thread::sleep_for(25ms);
  REQUIRE(containers_of_job("owned-a") == 1);
  REQUIRE(containers_of_job("owned-b") == 1);
  // And one left by a build before the owner label: anyone's with that id.
  docker_client c(socket_path());
  container_config cfg;
  cfg.image = "local/busybox:latest";
  cfg.cmd = {"sh", "-c", "sleep 100"};
  cfg.labels = {{"troupe.job", "unowned"}, {"troupe.node", "4245"}};
  c.create_container(cfg);
  CHECK(mine.orphaned_jobs(4245) == std::vector<std::string>{"owned-a", "unowned"});
  CHECK(theirs.orphaned_jobs(4245) == std::vector<std::string>{"owned-b", "unowned"});
  stop_mine.cancel();
  stop_theirs.cancel();
  a.join();
  b.join();
  mine.remove_job_artifacts("unowned");
  CHECK(mine.orphaned_jobs(4245).empty());
  CHECK(theirs.orphaned_jobs(4245).empty());
}

TEST_CASE("docker: concurrent jobs on one backend stay separate") {
  scratch_dir dir;
  auto b = make_docker_backend(test_options());
  job_result r1, r2;
  cancel_token c1, c2;
  std::thread t1([&] { r1 = b->run(make_spec(dir, "d-par-1", "echo first"), c1); });
  std::thread t2([&] { r2 = b->run(make_spec(dir, "d-par-2", "echo second >&2; exit 4"), c2); });
  t1.join();
  t2.join();
  CHECK(r1.result == outcome::completed);
  CHECK(r1.stdout_inline == "first\n");
  CHECK(r2.result == outcome::failed);
  CHECK(r2.stderr_inline == "second\n");
  CHECK(r2.exit_code == std::optional<int>(4));
}
