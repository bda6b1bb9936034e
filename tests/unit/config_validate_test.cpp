#include "config_test_support.hpp"

#include <filesystem>

#include "config/timeouts.hpp"

namespace troupe::config::test {
namespace fs = std::filesystem;

namespace {

// A valid in-memory config "from" x.toml whose data dir is inside `dir`.
node_config valid_config(const scratch_dir& dir) {
  node_config c;
  c.source = "x.toml";
  c.id = 1;
  c.data_dir = dir / "data";
  c.grpc_listen = "0.0.0.0:50051";
  c.http_listen = "0.0.0.0:8081";
  c.members = {{1, "127.0.0.1:50051", "127.0.0.1:8081", ""},
               {2, "127.0.0.1:50052", "127.0.0.1:8082", ""},
               {3, "127.0.0.1:50053", "127.0.0.1:8083", ""}};
  return c;
}

template <class Edit>
std::string error_after(const scratch_dir& dir, Edit edit) {
  node_config c = valid_config(dir);
  edit(c);
  return error_of([&] { validate(c); });
}

}  // namespace

TEST_CASE("a valid config passes and its data dir is created, probe removed") {
  scratch_dir dir;
  node_config c = valid_config(dir);
  c.data_dir = dir / "a/b/c";
  validate(c);
  REQUIRE(fs::is_directory(c.data_dir));
  CHECK(fs::is_empty(c.data_dir));  // the write probe is gone
  validate(c);                      // an existing dir is fine too
}

TEST_CASE("ids and membership") {
  scratch_dir dir;
  check_error(error_after(dir, [](node_config& c) { c.id = 0; }), "x.toml", "[node].id", "must be > 0");
  check_error(error_after(dir, [](node_config& c) { c.id = 7; }), "x.toml", "[node].id",
              "7 is not the id of any member (member ids: 1, 2, 3)");
  check_error(error_after(dir, [](node_config& c) { c.members.clear(); }), "x.toml", "[[members]]",
              "no members given");
  check_error(error_after(dir, [](node_config& c) { c.members[2].id = 1; }), "x.toml", "[[members]][3].id",
              "1 is also the id of [[members]][1].id");
  check_error(error_after(dir, [](node_config& c) { c.members[1].id = 0; }), "x.toml", "[[members]][2].id",
              "must be > 0");
}

TEST_CASE("the raft wire: its own port, member addresses, with or without TLS") {
  scratch_dir dir;
  {
    node_config c = valid_config(dir);
    c.wire_listen = "0.0.0.0:50061";
    for (auto& m : c.members) m.wire_address = "127.0.0.1:5006" + std::to_string(m.id);
    validate(c);
  }
  check_error(error_after(dir, [](node_config& c) { c.wire_listen = "0.0.0.0:50051"; }), "x.toml", "[listen].wire",
              "port 50051 is also the [listen].grpc port");
  check_error(error_after(dir, [](node_config& c) { c.wire_listen = "0.0.0.0:8081"; }), "x.toml", "[listen].wire",
              "port 8081 is also the [listen].http port");
  check_error(error_after(dir, [](node_config& c) { c.members[1].wire_address = "127.0.0.1:50052"; }), "x.toml",
              "[[members]][2].wire", "port 50052 on host 127.0.0.1 is also used by [[members]][2].address");
  {  // with [tls] the wire is mutual TLS with the same files (transport/wire_tls.hpp)
    node_config c = valid_config(dir);
    c.wire_listen = "0.0.0.0:50061";
    c.tls.cert_file = dir.write("n.crt", "");
    c.tls.key_file = dir.write("n.key", "");
    c.tls.ca_file = dir.write("ca.crt", "");
    validate(c);
  }
}

TEST_CASE("addresses and ports") {
  scratch_dir dir;
  check_error(error_after(dir, [](node_config& c) { c.members[1].address = "127.0.0.1:50051"; }), "x.toml",
              "[[members]][2].address", "\"127.0.0.1:50051\" is also the address of member 1");
  check_error(error_after(dir, [](node_config& c) { c.members[1].address = "127.0.0.1:8081"; }), "x.toml",
              "[[members]][2].address", "port 8081 on host 127.0.0.1 is also used by [[members]][1].http");
  check_error(error_after(dir, [](node_config& c) { c.members[0].http_address = "127.0.0.1:50051"; }), "x.toml",
              "[[members]][1].http", "port 50051 on host 127.0.0.1 is also used by [[members]][1].address");
  // Same port on different hosts is fine.
  {
    node_config c = valid_config(dir);
    c.members[1].address = "10.0.0.2:50051";
    c.members[2].address = "10.0.0.3:50051";
    validate(c);
  }
  check_error(error_after(dir, [](node_config& c) { c.http_listen = "127.0.0.1:50051"; }), "x.toml",
              "[listen].http", "port 50051 is also the [listen].grpc port");
  check_error(error_after(dir, [](node_config& c) { c.grpc_listen = "0.0.0.0:0"; }), "x.toml", "[listen].grpc",
              "port 0 is out of range 1..65535");
  check_error(error_after(dir, [](node_config& c) { c.grpc_listen = "0.0.0.0:65536"; }), "x.toml",
              "[listen].grpc", "port 65536 is out of range 1..65535");
  check_error(error_after(dir, [](node_config& c) { c.http_listen = ":8081"; }), "x.toml", "[listen].http",
              "empty host");
  check_error(error_after(dir, [](node_config& c) { c.members[2].address = "127.0.0.1"; }), "x.toml",
              "[[members]][3].address", "has no port");
  check_error(error_after(dir, [](node_config& c) { c.members[2].address = "0.0.0.0:50053"; }), "x.toml",
              "[[members]][3].address", "listen-on-all address");
  check_error(error_after(dir, [](node_config& c) { c.advertise_addr = "0.0.0.0:50051"; }), "x.toml",
              "[node].advertise_addr", "listen-on-all address");
  check_error(error_after(dir, [](node_config& c) { c.advertise_addr = "host:x"; }), "x.toml",
              "[node].advertise_addr", "is not a number");
}

TEST_CASE("enum values") {
  scratch_dir dir;
  check_error(error_after(dir, [](node_config& c) { c.executor.backend = "podman"; }), "x.toml",
              "[executor].backend", "\"podman\" is not one of \"docker\", \"process\", \"auto\"");
  check_error(error_after(dir, [](node_config& c) { c.log.level = "verbose"; }), "x.toml", "[log].level",
              "\"verbose\" is not one of trace, debug, info, warn, error");
  check_error(error_after(dir, [](node_config& c) { c.executor.sandbox.network = "my net"; }), "x.toml",
              "[executor.sandbox].network", "is not a Docker network name");
  for (const char* backend : {"docker", "process", "auto"}) {
    node_config c = valid_config(dir);
    c.executor.backend = backend;
    validate(c);
  }
}

TEST_CASE("zero, absurd and contradictory timings and limits") {
  scratch_dir dir;
  check_error(error_after(dir, [](node_config& c) { c.worker.dead_after_ms = c.worker.heartbeat_ms; }), "x.toml",
              "[worker].dead_after_ms", "must be greater than [worker].heartbeat_ms (2000)");
  check_error(error_after(dir, [](node_config& c) { c.raft.election_ticks = 2; }), "x.toml",
              "[raft].election_ticks", "2 must be greater than [raft].heartbeat_ticks (2)");
  check_error(error_after(dir, [](node_config& c) { c.raft.commit_deadline_ms = 0; }), "x.toml",
              "[raft].commit_deadline_ms", "0 is out of range 1..3600000");
  check_error(error_after(dir, [](node_config& c) { c.raft.tick_ms = 0; }), "x.toml", "[raft].tick_ms",
              "0 is out of range");
  check_error(error_after(dir, [](node_config& c) { c.raft.status_hold_ms = 1001; }), "x.toml",
              "[raft].status_hold_ms", "1001 is out of range 0..1000");
  check_error(error_after(dir, [](node_config& c) { c.raft.status_hold_busy_ms = 1001; }), "x.toml",
              "[raft].status_hold_busy_ms", "1001 is out of range 0..1000");
  check_error(error_after(dir, [](node_config& c) { c.raft.heartbeat_ticks = 0; }), "x.toml",
              "[raft].heartbeat_ticks", "0 is out of range");
  check_error(error_after(dir, [](node_config& c) { c.raft.snapshot_chunk_bytes = 8u << 20; }), "x.toml",
              "[raft].snapshot_chunk_bytes", "gRPC's default limit is 4 MiB");
  check_error(error_after(dir, [](node_config& c) { c.worker.capacity = 0; }), "x.toml", "[worker].capacity",
              "0 is out of range 1..1024");
  check_error(error_after(dir, [](node_config& c) { c.executor.timeout_s = 0; }), "x.toml", "[executor].timeout_s",
              "0 is out of range");
  check_error(error_after(dir, [](node_config& c) { c.executor.output_inline_bytes = c.executor.output_cap_bytes + 1; }),
              "x.toml", "[executor].output_inline_bytes", "exceeds [executor].output_cap_bytes");
  check_error(error_after(dir, [](node_config& c) { c.executor.sandbox.memory_bytes = 1024; }), "x.toml",
              "[executor.sandbox].memory_bytes", "out of range");
  check_error(error_after(dir, [](node_config& c) { c.executor.sandbox.cpus = 0; }), "x.toml",
              "[executor.sandbox].cpus", "out of range (0, 1024]");
  check_error(error_after(dir, [](node_config& c) { c.jobs.max_command_bytes = 0; }), "x.toml",
              "[jobs].max_command_bytes", "0 is out of range");
  check_error(error_after(dir, [](node_config& c) { c.executor.default_image = ""; }), "x.toml",
              "[executor].default_image", "empty");
}

TEST_CASE("data dir: missing, not creatable, not writable") {
  scratch_dir dir;
  check_error(error_after(dir, [](node_config& c) { c.data_dir.clear(); }), "x.toml", "[node].data_dir", "missing");

  // Tests run as root, which ignores permission bits: a path below a regular
  // file fails for everyone.
  const std::string file = dir.write("file", "not a directory\n");
  const std::string below = file + "/sub";
  check_error(error_after(dir, [&](node_config& c) { c.data_dir = below; }), "x.toml", "[node].data_dir",
              "cannot write data dir " + below + ": Not a directory");
  check_error(error_after(dir, [&](node_config& c) { c.data_dir = file; }), "x.toml", "[node].data_dir",
              "cannot write data dir " + file + ": ");
  CHECK_FALSE(fs::exists(below));
}

TEST_CASE("validation finishes before the data dir is touched") {
  scratch_dir dir;
  node_config c = valid_config(dir);
  c.data_dir = dir / "never";
  c.log.level = "loud";
  CHECK_THROWS_AS(validate(c), config_error);
  CHECK_FALSE(fs::exists(c.data_dir));
}

TEST_CASE("the status hold while jobs wait for a slot is never shorter than the hold, and what waits on it follows") {
  node_config c;
  c.raft.status_hold_ms = 10;
  c.raft.status_hold_busy_ms = 40;
  CHECK(config::status_hold_busy(c) == std::chrono::milliseconds(40));
  CHECK(config::prefetch_window(c) == std::chrono::milliseconds(80));
  CHECK(config::commit_wait(c) - config::commit_deadline(c) - config::tick(c) - config::hop_margin ==
        std::chrono::milliseconds(40));
  c.raft.status_hold_busy_ms = 0;  // never below status_hold_ms
  CHECK(config::status_hold_busy(c) == std::chrono::milliseconds(10));
  CHECK(config::prefetch_window(c) == std::chrono::milliseconds(50));
}

}  // namespace troupe::config::test
