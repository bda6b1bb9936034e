#include "config_test_support.hpp"

#include <filesystem>
#include <sstream>

namespace troupe::config::test {
namespace fs = std::filesystem;

TEST_CASE("flags alone start a node") {
  scratch_dir dir;
  const cli_result r = run_cli({"--node-id", "2", "--port", "50062", "--dashboard-port", "8092", "--peers",
                                "3:127.0.0.1:50063,1:127.0.0.1:50061", "--data-dir", dir / "d", "--image",
                                "busybox:1", "--executor", "process", "--log-level", "debug"});
  CHECK(r.action == cli_action::run);
  const node_config& c = r.config;
  CHECK(c.source == "<flags>");
  CHECK(c.id == 2);
  CHECK(c.grpc_listen == "0.0.0.0:50062");
  CHECK(c.http_listen == "0.0.0.0:8092");
  CHECK(c.data_dir == dir / "d");
  CHECK(fs::is_directory(dir / "d"));
  CHECK(c.executor.default_image == "busybox:1");
  CHECK(c.executor.backend == "process");
  CHECK(c.log.level == "debug");
  REQUIRE(c.members.size() == 3);
  CHECK(c.members[0].id == 1);
  CHECK(c.members[0].address == "127.0.0.1:50061");
  CHECK(c.members[1].id == 2);
  CHECK(c.members[1].address == "127.0.0.1:50062");  // self: 127.0.0.1:<port>
  CHECK(c.members[1].http_address == "127.0.0.1:8092");
  CHECK(c.members[2].id == 3);
  CHECK(c.advertise_addr == "127.0.0.1:50062");
}

TEST_CASE("--flag=value works like --flag value") {
  scratch_dir dir;
  const cli_result r = run_cli({"--node-id=5", "--port=6000", "--dashboard-port=6001", "--peers=6:10.0.0.6:6000",
                                "--advertise-addr=10.0.0.5:6000", "--data-dir=" + (dir / "d")});
  const node_config& c = r.config;
  CHECK(c.id == 5);
  CHECK(c.grpc_listen == "0.0.0.0:6000");
  CHECK(c.http_listen == "0.0.0.0:6001");
  CHECK(c.advertise_addr == "10.0.0.5:6000");
  REQUIRE(c.members.size() == 2);
  CHECK(c.self().address == "10.0.0.5:6000");  // self comes from --advertise-addr
  CHECK(c.self().http_address == "10.0.0.5:6001");
  CHECK(c.find_member(6)->address == "10.0.0.6:6000");
}

TEST_CASE("flags alone without --data-dir use data/node-<id> and make it") {
  scratch_dir dir;
  working_dir cwd(dir.path());
  const cli_result r = run_cli({"--node-id", "4"});
  CHECK(r.config.data_dir == "data/node-4");
  CHECK(fs::is_directory(dir / "data/node-4"));
  REQUIRE(r.config.members.size() == 1);  // a one-node cluster
  CHECK(r.config.members[0].address == "127.0.0.1:50051");
}

TEST_CASE("flags override the config file") {
  scratch_dir dir;
  working_dir cwd(dir.path());
  const std::string path = source_path("deploy/local/node1.toml");

  const cli_result r = run_cli({"--config", path, "--log-level", "warn", "--image", "alpine:3", "--executor",
                                "docker", "--port", "50071", "--data-dir", "elsewhere"});
  const node_config& c = r.config;
  CHECK(c.source == path);
  CHECK(c.id == 1);
  CHECK(c.log.level == "warn");
  CHECK(c.executor.default_image == "alpine:3");
  CHECK(c.executor.backend == "docker");
  CHECK(c.grpc_listen == "0.0.0.0:50071");
  CHECK(c.http_listen == "127.0.0.1:8081");  // not overridden
  CHECK(c.data_dir == "elsewhere");
  CHECK(fs::is_directory(dir / "elsewhere"));
  CHECK(c.members.size() == 3);  // the file's members stand without --peers

  // --node-id picks another member of the file; --peers replaces the members.
  const cli_result other = run_cli({"--config", path, "--node-id", "2", "--dashboard-port", "8090"});
  CHECK(other.config.id == 2);
  CHECK(other.config.self().address == "127.0.0.1:50052");
  CHECK(other.config.advertise_addr == "127.0.0.1:50052");

  const cli_result replaced = run_cli({"--config", path, "--peers", "7:127.0.0.1:50057"});
  REQUIRE(replaced.config.members.size() == 2);
  CHECK(replaced.config.members[0].id == 1);
  CHECK(replaced.config.members[0].address == "127.0.0.1:50051");  // self keeps its file entry
  CHECK(replaced.config.members[0].http_address == "127.0.0.1:8081");
  CHECK(replaced.config.members[1].id == 7);
}

TEST_CASE("the config file's own errors come through the command line") {
  scratch_dir dir;
  const std::string path = dir.write("node.toml", valid_toml(dir) + "[log]\nlevel = \"loud\"\n");
  check_error(error_of([&] { run_cli({"--config", path}); }), path, "[log].level", "\"loud\" is not one of");
  // ...unless a flag fixes the value.
  CHECK(run_cli({"--config", path, "--log-level", "error"}).config.log.level == "error");
}

TEST_CASE("bad flags are refused, naming the flag") {
  scratch_dir dir;
  const std::string d = dir / "d";
  const auto err = [](std::vector<std::string> args) { return error_of([&] { run_cli(std::move(args)); }); };
  check_error(err({"--prot", "1"}), "<flags>", "--prot", "unknown flag (did you mean --port?)");
  check_error(err({"--frobnicate"}), "<flags>", "--frobnicate", "unknown flag");
  check_error(err({"node.toml"}), "<flags>", "\"node.toml\"", "unexpected argument");
  check_error(err({"--node-id"}), "<flags>", "--node-id", "missing value");
  check_error(err({"--node-id", "--port", "1"}), "<flags>", "--node-id", "missing value");
  check_error(err({"--node-id="}), "<flags>", "--node-id", "empty value");
  check_error(err({"--node-id", "1", "--node-id", "2"}), "<flags>", "--node-id", "given more than once");
  check_error(err({"--check-config=yes"}), "<flags>", "--check-config", "takes no value");
  check_error(err({"--port", "1"}), "<flags>", "--node-id", "missing (required when no --config file is given)");
  check_error(err({"--node-id", "abc"}), "<flags>", "--node-id", "expected a positive integer, got \"abc\"");
  check_error(err({"--node-id", "0"}), "<flags>", "--node-id", "must be > 0");
  check_error(err({"--node-id", "1", "--port", "70000"}), "<flags>", "--port", "expected a port 1..65535, got \"70000\"");
  check_error(err({"--node-id", "1", "--dashboard-port", "0"}), "<flags>", "--dashboard-port", "expected a port");
  check_error(err({"--node-id", "1", "--port", "8081"}), "<flags>", "--dashboard-port", "also the --port port");
  check_error(err({"--node-id", "1", "--executor", "podman"}), "<flags>", "--executor",
              "\"podman\" is not one of docker, process, auto");
  check_error(err({"--node-id", "1", "--log-level", "loud"}), "<flags>", "--log-level", "is not one of");
  check_error(err({"--node-id", "1", "--advertise-addr", "0.0.0.0:5"}), "<flags>", "--advertise-addr",
              "listen-on-all");
  check_error(err({"--node-id", "1", "--advertise-addr", "host"}), "<flags>", "--advertise-addr", "has no port");
  check_error(err({"--node-id", "1", "--peers", "1:127.0.0.1:50052"}), "<flags>", "--peers",
              "has this node's own id 1");
  check_error(err({"--node-id", "1", "--peers", "2:h:1,2:h:2"}), "<flags>", "--peers", "member id 2 appears twice");
  check_error(err({"--node-id", "1", "--peers", "127.0.0.1:50052"}), "<flags>", "--peers", "is not a positive integer");
  check_error(err({"--node-id", "1", "--peers", "2:127.0.0.1"}), "<flags>", "--peers", "has no port");
  check_error(err({"--node-id", "1", "--peers", "2:h:1,,3:h:2"}), "<flags>", "--peers", "empty entry");
  check_error(err({"--node-id", "1", "--data-dir", d, "--peers", "2:127.0.0.1:50051"}), "<flags>",
              "--peers (member 2)", "is also the address of member 1");
  check_error(err({"--config", dir / "missing.toml"}), dir / "missing.toml", "cannot read config file",
              "No such file or directory");
}

TEST_CASE("--help documents every flag and skips validation") {
  const cli_result r = run_cli({"--node-id", "not-a-number", "--help"});
  CHECK(r.action == cli_action::help);
  CHECK(r.help_text == usage());
  for (const char* flag : {"--config FILE", "--node-id N", "--port P", "--dashboard-port P", "--peers", "--image IMG",
                           "--data-dir DIR", "--advertise-addr HOST:PORT", "--executor", "--log-level",
                           "--check-config", "--restore FILE", "--help", "--version"}) {
    CAPTURE(flag);
    CHECK(r.help_text.find(flag) != std::string::npos);
  }
  CHECK(run_cli({"-h"}).action == cli_action::help);
  // Fits a terminal: no line wider than 80 columns.
  std::istringstream lines(r.help_text);
  std::string line;
  for (int n = 0; std::getline(lines, line) && n < 1000; ++n) {
    CAPTURE(line);
    CHECK(line.size() <= 80);
  }
}

TEST_CASE("--version and --check-config") {
  const cli_result v = run_cli({"--version"});
  CHECK(v.action == cli_action::version);
  CHECK(v.help_text.rfind("troupe ", 0) == 0);
  CHECK(v.help_text.size() > 7);

  scratch_dir dir;
  const cli_result r = run_cli({"--check-config", "--node-id", "3", "--data-dir", dir / "d"});
  CHECK(r.action == cli_action::check_config);
  const std::string line = summary(r.config);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find("node 3") != std::string::npos);
  CHECK(line.find(dir / "d") != std::string::npos);
}

TEST_CASE("--restore FILE: a validated config and the file, or a clear refusal") {
  scratch_dir dir;
  const cli_result r = run_cli({"--restore", dir / "backup.db", "--node-id", "3", "--data-dir", dir / "d"});
  CHECK(r.action == cli_action::restore);
  CHECK(r.restore_file == dir / "backup.db");
  CHECK(r.config.id == 3);
  const auto err = [](std::vector<std::string> args) { return error_of([&] { run_cli(std::move(args)); }); };
  check_error(err({"--restore", dir / "b.db", "--check-config", "--node-id", "3", "--data-dir", dir / "d"}), "<flags>",
              "--restore", "cannot be combined with --check-config");
  check_error(err({"--restore"}), "<flags>", "--restore", "missing value");
}

}  // namespace troupe::config::test

namespace troupe::config::test {

TEST_CASE("join: [node] join = true or --join; --check-config says so; the node must still list itself") {
  scratch_dir dir;
  std::string toml = valid_toml(dir);
  toml.replace(toml.find("id = 1\n"), 7, "id = 1\njoin = true\n");
  const std::string file = dir.write("join.toml", toml);
  const cli_result r = run_cli({"--config", file, "--check-config"});
  CHECK(r.action == cli_action::check_config);
  CHECK(r.config.join);
  CHECK(summary(r.config).find("joining a running cluster") != std::string::npos);

  const std::string plain = dir.write("plain.toml", valid_toml(dir));
  CHECK_FALSE(run_cli({"--config", plain}).config.join);
  CHECK(summary(run_cli({"--config", plain}).config).find("joining") == std::string::npos);
  const cli_result flag = run_cli({"--config", plain, "--join"});
  CHECK(flag.config.join);
  CHECK(error_of([&] { run_cli({"--config", plain, "--join=yes"}); }).find("takes no value") != std::string::npos);

  std::string bad = toml;
  bad.replace(bad.find("join = true"), 11, "join = \"yes\"");
  CHECK(error_of([&] { run_cli({"--config", dir.write("bad.toml", bad)}); }).find("boolean") != std::string::npos);

  std::string stranger = toml;
  stranger.replace(stranger.find("id = 1\n"), 7, "id = 9\n");  // [node].id only: not among [[members]]
  CHECK(error_of([&] { run_cli({"--config", dir.write("stranger.toml", stranger)}); }).find("a joining node lists itself") !=
        std::string::npos);

  // A joining node with flags only: --peers names the members it can reach, and itself is added.
  const cli_result flags = run_cli({"--node-id", "4", "--port", "50064", "--peers", "1:127.0.0.1:50061", "--join",
                                    "--data-dir", dir / "d4"});
  CHECK(flags.config.join);
  CHECK(flags.config.find_member(4) != nullptr);
}

}  // namespace troupe::config::test
