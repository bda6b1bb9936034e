#include "config/closest_match.hpp"
#include "config_test_support.hpp"

namespace troupe::config::test {

TEST_CASE("split_host_port accepts names, IPv4 and bracketed IPv6") {
  CHECK(split_host_port("127.0.0.1:50051") == std::make_pair(std::string("127.0.0.1"), std::uint16_t{50051}));
  CHECK(split_host_port("node-2.example:1") == std::make_pair(std::string("node-2.example"), std::uint16_t{1}));
  CHECK(split_host_port("[::1]:65535") == std::make_pair(std::string("::1"), std::uint16_t{65535}));
  CHECK(join_host_port("::1", 80) == "[::1]:80");
  CHECK(join_host_port("10.0.0.1", 80) == "10.0.0.1:80");
}

TEST_CASE("split_host_port names the problem with malformed input") {
  const auto problem = [](const std::string& s) { return error_of([&] { split_host_port(s); }); };
  CHECK(problem("") == "empty address (expected host:port)");
  CHECK(problem(":50051").find("empty host") != std::string::npos);
  CHECK(problem("localhost").find("has no port") != std::string::npos);
  CHECK(problem("localhost:").find("empty port") != std::string::npos);
  CHECK(problem("localhost:0").find("port 0 is out of range 1..65535") != std::string::npos);
  CHECK(problem("localhost:65536").find("port 65536 is out of range 1..65535") != std::string::npos);
  CHECK(problem("localhost:123456").find("out of range") != std::string::npos);
  CHECK(problem("localhost:80a").find("is not a number") != std::string::npos);
  CHECK(problem("localhost:-1").find("is not a number") != std::string::npos);
  CHECK(problem("::1:80").find("IPv6 host must be in brackets") != std::string::npos);
  CHECK(problem("[::1]").find("has no port") != std::string::npos);
  CHECK(problem("[]:80").find("empty host") != std::string::npos);
  CHECK(problem("local host:80").find("whitespace") != std::string::npos);
  CHECK(problem("a/b:80").find("contains '/'") != std::string::npos);
}

TEST_CASE("wildcard hosts are recognised") {
  CHECK(is_wildcard_host("0.0.0.0"));
  CHECK(is_wildcard_host("::"));
  CHECK_FALSE(is_wildcard_host("127.0.0.1"));
}

TEST_CASE("closest_match suggests only near names") {
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("same", "same") == 0);
  CHECK(closest_match("tick_sm", {"tick_ms", "heartbeat_ticks"}) == "tick_ms");
  CHECK(closest_match("banana", {"tick_ms", "heartbeat_ticks"}).empty());
}

}  // namespace troupe::config::test
