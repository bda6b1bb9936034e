// [tls], [[auth.tokens]], [limits], [http], [executor.process]: loading,
// validation and the command-line flags.
#include "config/cpu_list.hpp"
#include "config/secret.hpp"
#include "config_test_support.hpp"

#include <vector>

namespace troupe::config::test {

namespace {

const char* members = R"(
[[members]]
id = 1
address = "127.0.0.1:50051"
)";

node_config load(const scratch_dir& dir, const std::string& body) {
  const std::string path = dir.write("node.toml", "[node]\nid = 1\ndata_dir = \"" + (dir / "data") + "\"\n" +
                                                      members + body);
  return load_file(path);
}

std::string load_error(const scratch_dir& dir, const std::string& body) {
  return error_of([&] { load(dir, body); });
}

}  // namespace

TEST_CASE("[tls] paths are relative to the config file and all three are needed") {
  scratch_dir dir;
  dir.write("ca.crt", "x");
  dir.write("n.crt", "x");
  dir.write("n.key", "x");
  const node_config c = load(dir, "[tls]\ncert_file = \"n.crt\"\nkey_file = \"n.key\"\nca_file = \"ca.crt\"\n");
  CHECK(c.tls.enabled());
  CHECK(c.tls.cert_file == dir / "n.crt");
  CHECK(c.tls.ca_file == dir / "ca.crt");
  CHECK(load_error(dir, "[tls]\ncert_file = \"n.crt\"\n").find("[tls].key_file: missing") != std::string::npos);
  CHECK(load_error(dir, "[tls]\ncert_file = \"n.crt\"\nkey_file = \"n.key\"\nca_file = \"nope.crt\"\n")
            .find("[tls].ca_file: cannot read") != std::string::npos);
}

TEST_CASE("[[auth.tokens]]: token, token_sha256 or token_file, and a role") {
  scratch_dir dir;
  dir.write("t.txt", "from-a-file\n");
  const node_config c = load(dir, R"(
[[auth.tokens]]
name = "ci"
token = "s3cret-ci"
role = "submit"

[[auth.tokens]]
name = "ops"
token_sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
role = "admin"

[[auth.tokens]]
name = "dash"
token_file = "t.txt"
role = "read"
)");
  REQUIRE(c.auth.tokens.size() == 3);
  CHECK(c.auth.tokens[0].token_sha256 == sha256_hex("s3cret-ci"));
  CHECK(c.auth.tokens[0].grants == role::submit);
  CHECK(c.auth.tokens[1].token_sha256 == "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  CHECK(c.auth.tokens[2].token_sha256 == sha256_hex("from-a-file"));
  CHECK(c.auth.tokens[2].grants == role::read);

  CHECK(load_error(dir, "[[auth.tokens]]\nname = \"a\"\nrole = \"root\"\ntoken = \"x\"\n").find("is not one of") !=
        std::string::npos);
  CHECK(load_error(dir, "[[auth.tokens]]\nname = \"a\"\nrole = \"read\"\n").find("exactly one of") !=
        std::string::npos);
  CHECK(load_error(dir, "[[auth.tokens]]\nname = \"a\"\nrole = \"read\"\ntoken = \"x\"\ntoken_file = \"t.txt\"\n")
            .find("exactly one of") != std::string::npos);
  CHECK(load_error(dir, "[[auth.tokens]]\nname = \"a\"\nrole = \"read\"\ntoken_sha256 = \"12\"\n").find("64 hex") !=
        std::string::npos);
  CHECK(load_error(dir, "[[auth.tokens]]\nname = \"a\"\nrole = \"read\"\ntoken = \"x\"\n"
                        "[[auth.tokens]]\nname = \"a\"\nrole = \"read\"\ntoken = \"y\"\n")
            .find("is used twice") != std::string::npos);
  CHECK(load_error(dir, "[[auth.tokens]]\nname = \"a\"\nrole = \"read\"\ntoken = \"x\"\n"
                        "[[auth.tokens]]\nname = \"b\"\nrole = \"admin\"\ntoken = \"x\"\n")
            .find("the same token") != std::string::npos);
  CHECK(load_error(dir, "[[auth.tokens]]\nname = \"a\"\nrole = \"read\"\ntoken_file = \"none.txt\"\n")
            .find("cannot read token file") != std::string::npos);
}

TEST_CASE("[executor] max_timeout_s bounds timeout_s; [executor.process] stays outside the data dir") {
  scratch_dir dir;
  CHECK(load(dir, "[executor]\nmax_timeout_s = 60\ntimeout_s = 60\n").executor.max_timeout_s == 60);
  CHECK(load_error(dir, "[executor]\nmax_timeout_s = 60\ntimeout_s = 61\n").find("[executor].timeout_s") !=
        std::string::npos);
  CHECK(load_error(dir, "[executor.process]\nwork_dir = \"" + (dir / "data/jobs") + "\"\n")
            .find("is inside the data dir") != std::string::npos);
  CHECK(load(dir, "[executor.process]\nwork_dir = \"jobs\"\n").executor.process.work_dir == dir / "jobs");
  CHECK(load_error(dir, "[executor.process]\nuser = \"a b\"\n").find("not a user name") != std::string::npos);
  const node_config c = load(dir, "[executor.process]\nuser = \"nobody\"\nmax_processes = 32\n");
  CHECK(c.executor.process.user == "nobody");
  CHECK(c.executor.process.max_processes == 32);
}

TEST_CASE("[executor.process] nice: 0-19, default 10") {
  scratch_dir dir;
  CHECK(load(dir, "").executor.process.nice == 10);
  CHECK(load(dir, "[executor.process]\nnice = 0\n").executor.process.nice == 0);
  CHECK(load(dir, "[executor.process]\nnice = 19\n").executor.process.nice == 19);
  CHECK(load_error(dir, "[executor.process]\nnice = 20\n").find("[executor.process].nice") != std::string::npos);
  CHECK(load_error(dir, "[executor.process]\nnice = -1\n").find("nice") != std::string::npos);
}

TEST_CASE("[executor.process] cpus: a CPU list, default any") {
  scratch_dir dir;
  CHECK(load(dir, "").executor.process.cpus.empty());
  CHECK(load(dir, "[executor.process]\ncpus = \"1,4-6\"\n").executor.process.cpus == "1,4-6");
  for (const char* bad : {"x", "1,", "3-1", "-1", "1024", "1-2-3", "0x1"}) {
    CAPTURE(bad);
    const std::string e = load_error(dir, std::string("[executor.process]\ncpus = \"") + bad + "\"\n");
    CHECK(e.find("[executor.process].cpus") != std::string::npos);
    CHECK(e.find("is not a CPU list") != std::string::npos);
  }
  CHECK(load_error(dir, "[executor.process]\ncpus = \"3-1\"\n").find("the range \"3-1\" runs backwards") != std::string::npos);
  CHECK(load_error(dir, "[executor.process]\ncpus = 1\n").find("cpus") != std::string::npos);
}

TEST_CASE("parse_cpu_list: the kernel's CPU list syntax, ascending and without repeats") {
  std::string error;
  using list = std::vector<unsigned>;
  CHECK(troupe::config::parse_cpu_list("0", error) == list{0});
  CHECK(troupe::config::parse_cpu_list(" 6 , 1,1-2,4-4", error) == list{1, 2, 4, 6});
  CHECK(troupe::config::parse_cpu_list("1023", error) == list{1023});
  for (const char* bad : {"", " ", ",", "1,,2", "1-", "-", "+1", "1 2", "2-1", "1024", "0-1024", "99999999999"}) {
    CAPTURE(bad);
    error.clear();
    CHECK_FALSE(troupe::config::parse_cpu_list(bad, error).has_value());
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("[limits] and [http]") {
  scratch_dir dir;
  const node_config c = load(dir, "[limits]\nhttp_headers = 50\n[http]\nallowed_hosts = [\"troupe.example\"]\n");
  CHECK(c.limits.http_headers == 50);
  CHECK(c.http.allowed_hosts == std::vector<std::string>{"troupe.example"});
  CHECK(load_error(dir, "[limits]\nclient_message_bytes = 1024\n").find("[limits].client_message_bytes") !=
        std::string::npos);
  CHECK(load_error(dir, "[http]\nallowed_hosts = [\"a b\"]\n").find("is not a host") != std::string::npos);
  CHECK(load_error(dir, "[raft]\nmax_append_bytes = 10\n").find("[raft].max_append_bytes") != std::string::npos);
}

TEST_CASE("--tls-* and --auth-token flags") {
  scratch_dir dir;
  dir.write("ca.crt", "x");
  dir.write("n.crt", "x");
  dir.write("n.key", "x");
  dir.write("tok", "file-token\n");
  const std::vector<std::string> args{"troupe-node", "--node-id", "1", "--data-dir", dir / "data",
                                      "--tls-cert", dir / "n.crt", "--tls-key", dir / "n.key", "--tls-ca",
                                      dir / "ca.crt", "--auth-token", "ci:submit:abc,ops:admin:@" + (dir / "tok")};
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  const cli_result r = parse_command_line(static_cast<int>(argv.size()), argv.data());
  CHECK(r.config.tls.enabled());
  REQUIRE(r.config.auth.tokens.size() == 2);
  CHECK(r.config.auth.tokens[0].name == "ci");
  CHECK(r.config.auth.tokens[0].token_sha256 == sha256_hex("abc"));
  CHECK(r.config.auth.tokens[1].grants == role::admin);
  CHECK(r.config.auth.tokens[1].token_sha256 == sha256_hex("file-token"));

  const std::vector<std::string> bad{"troupe-node", "--node-id", "1", "--data-dir", dir / "data", "--auth-token",
                                     "ci:root:abc"};
  std::vector<const char*> bad_argv;
  for (const auto& a : bad) bad_argv.push_back(a.c_str());
  CHECK(error_of([&] { parse_command_line(static_cast<int>(bad_argv.size()), bad_argv.data()); })
            .find("role must be read, submit or admin") != std::string::npos);
}

}  // namespace troupe::config::test
