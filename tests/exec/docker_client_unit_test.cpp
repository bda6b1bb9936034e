// Docker client pieces that need no daemon: request bodies, image references,
// and behaviour when the daemon is not there at all.
#include <doctest/doctest.h>

#include <chrono>

#include "runtime/exec/docker_backend.hpp"
#include "runtime/exec/docker_client.hpp"
#include "runtime/exec/output_store.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;

TEST_CASE("image references split into repository and tag") {
  using P = std::pair<std::string, std::string>;
  CHECK(split_image_reference("local/busybox:latest") == P{"local/busybox", "latest"});
  CHECK(split_image_reference("alpine") == P{"alpine", "latest"});
  CHECK(split_image_reference("registry:5000/team/app") == P{"registry:5000/team/app", "latest"});
  CHECK(split_image_reference("registry:5000/team/app:1.2") == P{"registry:5000/team/app", "1.2"});
  CHECK(split_image_reference("app@sha256:abcd") == P{"app@sha256:abcd", ""});
}

TEST_CASE("container create body carries command, labels and the sandbox") {
  container_config c;
  c.image = "local/busybox:latest";
  c.cmd = {"sh", "-c", "echo hi"};
  c.labels = {{"troupe.job", "j1"}, {"troupe.node", "3"}};
  c.sandbox.memory_bytes = 1 << 24;
  auto b = container_create_body(c);
  CHECK(b["Image"] == "local/busybox:latest");
  CHECK(b["Cmd"] == nlohmann::json({"sh", "-c", "echo hi"}));
  CHECK(b["Labels"]["troupe.job"] == "j1");
  CHECK(b["Labels"]["troupe.node"] == "3");
  CHECK(b["Tty"] == false);
  const auto& h = b["HostConfig"];
  CHECK(h["NetworkMode"] == "none");
  CHECK(h["Memory"] == 1 << 24);
  CHECK(h["MemorySwap"] == 1 << 24);
  CHECK(h["NanoCpus"] == 500000000);
  CHECK(h["PidsLimit"] == 256);
  CHECK(h["CapDrop"] == nlohmann::json({"ALL"}));
  CHECK(h["SecurityOpt"] == nlohmann::json({"no-new-privileges"}));
  CHECK(h["ReadonlyRootfs"] == true);

  c.sandbox.drop_all_capabilities = false;
  c.sandbox.no_new_privileges = false;
  c.sandbox.read_only_rootfs = false;
  auto relaxed = container_create_body(c)["HostConfig"];
  CHECK_FALSE(relaxed.contains("CapDrop"));
  CHECK_FALSE(relaxed.contains("SecurityOpt"));
  CHECK(relaxed["ReadonlyRootfs"] == false);
}

TEST_CASE("url_encode escapes JSON filter values") {
  CHECK(url_encode(R"({"label":["troupe.node=1"]})") == "%7B%22label%22%3A%5B%22troupe.node%3D1%22%5D%7D");
  CHECK(url_encode("a-b_c.d~e") == "a-b_c.d~e");
}

TEST_CASE("daemon down: socket absent -> healthy() false, run() fails fast with a clear error") {
  scratch_dir dir;
  docker_options opts;
  opts.socket_path = dir.path() + "/no-such-docker.sock";
  auto b = make_docker_backend(opts);
  CHECK(b->name() == "docker");
  CHECK_FALSE(b->healthy());

  cancel_token cancel;
  auto spec = make_spec(dir, "job-down", "echo hi");
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(spec, cancel);
  CHECK(troupe::exec::test::seconds_since(t0) < 5.0);
  CHECK(r.result == outcome::failed);
  CHECK_FALSE(r.exit_code.has_value());
  CHECK(r.error.find("docker daemon unreachable at " + opts.socket_path) == 0);
  CHECK(r.error.find("socket file does not exist") != std::string::npos);
  // The failure is recorded with the output like any other.
  CHECK(read_output(spec.output_dir, "job-down").found);

  auto* d = dynamic_cast<docker_backend*>(b.get());
  REQUIRE(d != nullptr);
  CHECK_FALSE(d->daemon_version().has_value());
  CHECK(d->describe().find("unreachable") != std::string::npos);
  CHECK_THROWS_AS(b->orphaned_jobs(7), docker_error);
  docker_client client(opts.socket_path);
  CHECK_FALSE(client.ping());
  CHECK_THROWS_WITH_AS(client.version(), doctest::Contains("unreachable"), docker_error);
}

TEST_CASE("daemon down: a socket path that is not a docker daemon is reported, not misparsed") {
  scratch_dir dir;
  docker_options opts;
  opts.socket_path = dir.path();  // a directory: connect fails
  auto b = make_docker_backend(opts);
  CHECK_FALSE(b->healthy());
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "job-dir", "echo hi"), cancel);
  CHECK(r.result == outcome::failed);
  CHECK(r.error.find("docker daemon unreachable") == 0);
}

TEST_CASE("docker backend: invalid specs are refused before touching the daemon") {
  scratch_dir dir;
  docker_options opts;
  opts.socket_path = dir.path() + "/absent.sock";
  auto b = make_docker_backend(opts);
  cancel_token cancel;
  auto spec = make_spec(dir, "job-noimage", "echo hi");
  spec.image.clear();
  CHECK(b->run(spec, cancel).error == "job job-noimage has no image");
  spec = make_spec(dir, "job-nocmd", "");
  CHECK(b->run(spec, cancel).error == "job job-nocmd has an empty command");
}
