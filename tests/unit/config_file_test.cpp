#include "config_test_support.hpp"

#include <filesystem>
#include <sstream>

namespace troupe::config::test {
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The error load_file reports for `toml` written to a file in `dir`.
std::string load_error(const scratch_dir& dir, const std::string& toml) {
  const std::string path = dir.write("node.toml", toml);
  return error_of([&] { load_file(path); });
}

}  // namespace

TEST_CASE("the local 3-node example configs load and agree with each other") {
  scratch_dir dir;
  working_dir cwd(dir.path());  // their data dirs are relative
  for (std::uint64_t n = 1; n <= 3; ++n) {
    const std::string path = source_path("deploy/local/node" + std::to_string(n) + ".toml");
    const node_config c = load_file(path);
    CAPTURE(path);
    CHECK(c.source == path);
    CHECK(c.id == n);
    CHECK(c.data_dir == "data/node-" + std::to_string(n));
    CHECK(fs::is_directory(dir / ("data/node-" + std::to_string(n))));
    CHECK(c.grpc_listen == "127.0.0.1:" + std::to_string(50050 + n));
    CHECK(c.http_listen == "127.0.0.1:" + std::to_string(8080 + n));
    CHECK(c.executor.backend == "auto");
    CHECK(c.executor.default_image == "local/busybox:latest");
    REQUIRE(c.members.size() == 3);
    for (std::uint64_t m = 1; m <= 3; ++m) {
      CHECK(c.members[m - 1].id == m);
      CHECK(c.members[m - 1].address == "127.0.0.1:" + std::to_string(50050 + m));
      CHECK(c.members[m - 1].http_address == "127.0.0.1:" + std::to_string(8080 + m));
    }
    CHECK(c.self().id == n);
    CHECK(c.advertise_addr == c.self().address);
  }
}

TEST_CASE("config/examples/full.toml sets every key to its default") {
  scratch_dir dir;
  working_dir cwd(dir.path());
  const std::string path = source_path("config/examples/full.toml");
  const node_config c = load_file(path);
  const node_config d;
  CHECK(c.id == 1);
  CHECK(c.grpc_listen == d.grpc_listen);
  CHECK(c.http_listen == d.http_listen);
  CHECK(c.raft.tick_ms == d.raft.tick_ms);
  CHECK(c.raft.election_ticks == d.raft.election_ticks);
  CHECK(c.raft.heartbeat_ticks == d.raft.heartbeat_ticks);
  CHECK(c.raft.commit_deadline_ms == d.raft.commit_deadline_ms);
  CHECK(c.raft.max_pending_proposals == d.raft.max_pending_proposals);
  CHECK(c.raft.status_hold_ms == d.raft.status_hold_ms);
  CHECK(c.raft.status_hold_busy_ms == d.raft.status_hold_busy_ms);
  CHECK(c.raft.snapshot_every == d.raft.snapshot_every);
  CHECK(c.raft.max_entries_per_append == d.raft.max_entries_per_append);
  CHECK(c.raft.snapshot_chunk_bytes == d.raft.snapshot_chunk_bytes);
  CHECK(c.raft.pre_vote == d.raft.pre_vote);
  CHECK(c.raft.check_quorum == d.raft.check_quorum);
  CHECK(c.worker.heartbeat_ms == d.worker.heartbeat_ms);
  CHECK(c.worker.dead_after_ms == d.worker.dead_after_ms);
  CHECK(c.worker.capacity == d.worker.capacity);
  CHECK(c.worker.prefetch == d.worker.prefetch);
  CHECK(c.worker.max_attempts == d.worker.max_attempts);
  CHECK(c.worker.running_report_hold_ms == d.worker.running_report_hold_ms);
  CHECK(c.executor.backend == d.executor.backend);
  CHECK(c.executor.docker_socket == d.executor.docker_socket);
  CHECK(c.executor.default_image == d.executor.default_image);
  CHECK(c.executor.timeout_s == d.executor.timeout_s);
  CHECK(c.executor.output_cap_bytes == d.executor.output_cap_bytes);
  CHECK(c.executor.output_inline_bytes == d.executor.output_inline_bytes);
  CHECK(c.executor.sandbox.network == d.executor.sandbox.network);
  CHECK(c.executor.sandbox.memory_bytes == d.executor.sandbox.memory_bytes);
  CHECK(c.executor.sandbox.cpus == d.executor.sandbox.cpus);
  CHECK(c.executor.sandbox.pids_limit == d.executor.sandbox.pids_limit);
  CHECK(c.executor.sandbox.drop_all_capabilities == d.executor.sandbox.drop_all_capabilities);
  CHECK(c.executor.sandbox.no_new_privileges == d.executor.sandbox.no_new_privileges);
  CHECK(c.executor.sandbox.read_only_rootfs == d.executor.sandbox.read_only_rootfs);
  CHECK(c.jobs.retention_s == d.jobs.retention_s);
  CHECK(c.jobs.max_active == d.jobs.max_active);
  CHECK(c.jobs.max_command_bytes == d.jobs.max_command_bytes);
  CHECK(c.log.level == d.log.level);
  CHECK(c.raft.max_append_bytes == d.raft.max_append_bytes);
  CHECK(c.executor.max_timeout_s == d.executor.max_timeout_s);
  CHECK(c.executor.process.user == d.executor.process.user);
  CHECK(c.executor.process.work_dir == d.executor.process.work_dir);
  CHECK(c.executor.process.max_processes == d.executor.process.max_processes);
  CHECK(c.executor.process.max_file_bytes == d.executor.process.max_file_bytes);
  CHECK(c.executor.process.cpu_s == d.executor.process.cpu_s);
  CHECK(c.executor.process.nice == d.executor.process.nice);
  CHECK(!c.tls.enabled());
  CHECK(!c.auth.enabled());
  CHECK(c.limits.client_message_bytes == d.limits.client_message_bytes);
  CHECK(c.limits.stream_subscribers == d.limits.stream_subscribers);
  CHECK(c.limits.http_connections == d.limits.http_connections);
  CHECK(c.limits.http_header_bytes == d.limits.http_header_bytes);
  CHECK(c.limits.http_headers == d.limits.http_headers);
  CHECK(c.limits.http_request_timeout_ms == d.limits.http_request_timeout_ms);
  CHECK(c.limits.http_idle_timeout_ms == d.limits.http_idle_timeout_ms);
  CHECK(c.http.allowed_hosts.empty());

  // "Every key": each one the loader knows appears in the file.
  const std::string text = read_text(path);
  for (const char* key :
       {"id =", "data_dir =", "advertise_addr =", "grpc =", "http =", "wire =", "address =", "tick_ms =", "election_ticks =",
        "heartbeat_ticks =", "commit_deadline_ms =", "max_pending_proposals =", "status_hold_ms =", "status_hold_busy_ms =",
        "snapshot_every =",
        "max_entries_per_append =", "snapshot_chunk_bytes =", "pre_vote =", "check_quorum =", "heartbeat_ms =",
        "dead_after_ms =", "capacity =", "prefetch =", "max_attempts =", "running_report_hold_ms =", "backend =", "docker_socket =", "default_image =",
        "timeout_s =", "output_cap_bytes =", "output_inline_bytes =", "network =", "memory_bytes =", "cpus =",
        "pids_limit =", "drop_all_capabilities =", "no_new_privileges =", "read_only_rootfs =", "retention_s =",
        "max_active =", "max_command_bytes =", "level =", "max_append_bytes =", "max_timeout_s =", "user =",
        "work_dir =", "max_processes =", "max_file_bytes =", "cpu_s =", "nice =", "cert_file =", "key_file =", "ca_file =",
        "token =", "role =", "client_message_bytes =", "stream_subscribers =", "http_connections =",
        "http_header_bytes =", "http_headers =", "http_request_timeout_ms =", "http_idle_timeout_ms =",
        "allowed_hosts ="}) {
    CAPTURE(key);
    CHECK(text.find(key) != std::string::npos);
  }
}

TEST_CASE("absent sections keep their defaults; members come back sorted by id") {
  scratch_dir dir;
  const std::string path = dir.write("node.toml",
                                     "[node]\nid = 2\ndata_dir = \"" + (dir / "d") +
                                         "\"\n"
                                         "[[members]]\nid = 3\naddress = \"10.0.0.3:7000\"\n"
                                         "[[members]]\nid = 2\naddress = \"10.0.0.2:7000\"\n"
                                         "[[members]]\nid = 1\naddress = \"10.0.0.1:7000\"\n"
                                         "[executor.sandbox]\ncpus = 2\n");
  const node_config c = load_file(path);
  const node_config d;
  CHECK(c.grpc_listen == "0.0.0.0:50051");
  CHECK(c.http_listen == "0.0.0.0:8081");
  CHECK(c.raft.tick_ms == 100);
  CHECK(c.raft.election_ticks == 4);
  CHECK(c.worker.dead_after_ms == 5000);
  CHECK(c.executor.backend == "docker");
  CHECK(c.executor.sandbox.cpus == 2.0);  // an integer is accepted for a float
  CHECK(c.executor.sandbox.memory_bytes == d.executor.sandbox.memory_bytes);
  CHECK(c.jobs.max_command_bytes == 1024);
  CHECK(c.log.level == "info");
  REQUIRE(c.members.size() == 3);
  CHECK(c.members[0].id == 1);
  CHECK(c.members[1].id == 2);
  CHECK(c.members[2].id == 3);
  CHECK(c.self().address == "10.0.0.2:7000");
  CHECK(c.advertise_addr == "10.0.0.2:7000");
  CHECK(c.find_member(3)->address == "10.0.0.3:7000");
  CHECK(c.find_member(9) == nullptr);
}

TEST_CASE("file problems: missing, a directory, unparsable") {
  scratch_dir dir;
  const std::string missing = dir / "nope.toml";
  CHECK(error_of([&] { load_file(missing); }) == missing + ": cannot read config file: No such file or directory");

  CHECK(error_of([&] { load_file(dir.path()); }) == dir.path() + ": cannot read config file: Is a directory");

  const std::string path = dir.write("bad.toml", "[node]\nid = 1\ndata_dir = \"x\n");
  const std::string e = error_of([&] { load_file(path); });
  INFO(e);
  CHECK(e.rfind(path + ":3:", 0) == 0);  // line:column of the bad string
  CHECK(e.find("invalid TOML") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
}

TEST_CASE("unknown sections and keys are refused, with a suggestion when one is near") {
  scratch_dir dir;
  const std::string base = valid_toml(dir);
  const std::string path = dir / "node.toml";

  check_error(load_error(dir, base + "[nod]\nid = 1\n"), path, "[nod]", "unknown section (did you mean [node]?)");
  check_error(load_error(dir, base + "[banana]\nx = 1\n"), path, "[banana]", "unknown section");
  check_error(load_error(dir, base + "[raft]\ntick_sm = 5\n"), path, "[raft].tick_sm",
              "unknown key (did you mean \"tick_ms\"?)");
  check_error(load_error(dir, base + "[worker]\ntick_ms = 5\n"), path, "[worker].tick_ms",
              "unknown key (it belongs in [raft])");
  check_error(load_error(dir, base + "[executor.sandbox]\nnetwrok = \"none\"\n"), path,
              "[executor.sandbox].netwrok", "did you mean \"network\"?");
  check_error(load_error(dir, base + "[executor.sanbox]\nnetwork = \"none\"\n"), path, "[executor].sanbox",
              "did you mean \"sandbox\"?");
  check_error(load_error(dir, base + "[[members]]\nid = 4\naddres = \"127.0.0.1:1\"\n"), path,
              "[[members]][4].addres", "did you mean \"address\"?");
  check_error(load_error(dir, "log_level = \"info\"\n" + base), path, "log_level", "unknown top-level key");
  check_error(load_error(dir, "tick_ms = 5\n" + base), path, "tick_ms", "did you mean [raft].tick_ms?");
}

TEST_CASE("values of the wrong type are refused, naming the expected type") {
  scratch_dir dir;
  const std::string path = dir / "node.toml";
  const auto with = [&](const std::string& section_text) {
    return load_error(dir, valid_toml(dir) + section_text);
  };
  // The exact message from the config contract.
  std::string toml = valid_toml(dir);
  toml.replace(toml.find("grpc = \"127.0.0.1:50051\""), 24, "grpc = 50051");
  CHECK(load_error(dir, toml) == path + ": [listen].grpc: expected a string \"host:port\", got integer");

  check_error(with("[raft]\npre_vote = \"yes\"\n"), path, "[raft].pre_vote", "expected a boolean (true or false), got string");
  check_error(with("[raft]\ntick_ms = 1.5\n"), path, "[raft].tick_ms", "expected an integer, got float");
  check_error(with("[raft]\ntick_ms = -5\n"), path, "[raft].tick_ms", "expected an integer in 0..4294967295, got -5");
  check_error(with("[raft]\ntick_ms = 4294967296\n"), path, "[raft].tick_ms", "got 4294967296");
  check_error(with("[executor.sandbox]\ncpus = \"half\"\n"), path, "[executor.sandbox].cpus", "expected a number, got string");
  check_error(with("[log]\nlevel = 3\n"), path, "[log].level", "expected a string, got integer");
  check_error(load_error(dir, "raft = 5\n" + valid_toml(dir)), path, "[raft]", "expected a table, got integer");
  check_error(load_error(dir, "members = [1, 2]\n" + valid_toml(dir).substr(0, valid_toml(dir).find("[[members]]"))),
              path, "[[members]]", "expected an array of tables");
  check_error(with("[executor]\nsandbox = 1\n"), path, "[executor].sandbox", "expected a table, got integer");
}

TEST_CASE("[node].id and member fields must be present") {
  scratch_dir dir;
  const std::string path = dir / "node.toml";
  std::string toml = valid_toml(dir);
  toml.erase(toml.find("id = 1\n"), 7);  // the [node] id
  check_error(load_error(dir, toml), path, "[node].id", "missing");

  check_error(load_error(dir, valid_toml(dir) + "[[members]]\naddress = \"127.0.0.1:50054\"\n"), path,
              "[[members]][4].id", "missing");
  check_error(load_error(dir, valid_toml(dir) + "[[members]]\nid = 4\n"), path, "[[members]][4].address", "missing");
}

}  // namespace troupe::config::test
