// Entry point of the docker tests. They need the private dockerd started by
// scripts/test-dockerd.sh (ctest fixture exec_dockerd), whose socket arrives in
// TROUPE_TEST_DOCKER_SOCKET. When that daemon could not start at all, the tests
// are skipped loudly (exit 77, which ctest shows as skipped) with the reason.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/exec/docker_client.hpp"

namespace {

int skip(const std::string& why) {
  std::fprintf(stderr,
               "##########################################################################\n"
               "# SKIPPING ALL DOCKER EXEC TESTS: %s\n"
               "##########################################################################\n",
               why.c_str());
  return 77;
}

}  // namespace

int main(int argc, char** argv) {
  const char* sock = std::getenv("TROUPE_TEST_DOCKER_SOCKET");
  if (!sock || !*sock) return skip("TROUPE_TEST_DOCKER_SOCKET is not set (run through ctest, or start "
                                   "scripts/test-dockerd.sh start DIR and export DIR/docker.sock)");
  std::string path(sock);
  std::string dir = path.substr(0, path.rfind('/'));
  std::ifstream unavailable(dir + "/unavailable");
  if (unavailable) {
    std::ostringstream why;
    why << unavailable.rdbuf();
    std::string reason = why.str();
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    return skip("dockerd could not start: " + reason);
  }
  if (!troupe::exec::docker_client(path).ping()) {
    std::fprintf(stderr, "docker exec tests: the test dockerd at %s does not answer GET /_ping\n", path.c_str());
    return 1;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
