// Starts a 3-node cluster on free loopback ports, runs the REST test cases
// against it, and stops every node by its pid (also when a case fails).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <curl/curl.h>

#include <iostream>
#include <memory>

#include "rest_fixture.hpp"

namespace troupe::http_test {
namespace {
std::unique_ptr<local_cluster> the_cluster;
std::uint64_t the_leader = 0;
}  // namespace

local_cluster& cluster() { return *the_cluster; }
std::uint64_t leader_id() { return the_leader; }
std::uint64_t follower_id() { return the_leader == 1 ? 2 : 1; }
void refresh_leader() { the_leader = the_cluster->wait_for_leader(std::chrono::milliseconds(15000)); }

}  // namespace troupe::http_test

int main(int argc, char** argv) {
  using namespace troupe::http_test;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 1;
  try {
    the_cluster = std::make_unique<local_cluster>(TROUPE_NODE_BINARY, 3);
    refresh_leader();
    std::cerr << "cluster in " << the_cluster->dir() << ", leader is node " << leader_id() << "\n";
    doctest::Context ctx(argc, argv);
    rc = ctx.run();
    if (rc != 0)
      for (auto& n : the_cluster->nodes()) std::cerr << "---- node " << n.id << " log tail:\n" << the_cluster->log_tail(n.id, 3000);
  } catch (const std::exception& e) {
    std::cerr << "http_rest_tests: " << e.what() << "\n";
    rc = 1;
  }
  the_cluster.reset();
  curl_global_cleanup();
  return rc;
}
