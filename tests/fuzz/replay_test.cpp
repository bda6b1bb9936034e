// Replays every checked-in fuzz input (fuzz/corpus/<target>/ and
// fuzz/regressions/<target>/) through the harnesses, compiled by g++ without
// libFuzzer. A harness aborts on a broken contract, which fails this test.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz/targets.hpp"

namespace {

namespace fs = std::filesystem;
using harness = void (*)(const std::uint8_t*, std::size_t);

// Returns how many inputs ran.
int replay(const std::string& target, harness run) {
  int ran = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(TROUPE_FUZZ_DIR) / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& f : fs::directory_iterator(dir)) {
      if (!f.is_regular_file()) continue;
      std::ifstream in(f.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      INFO("input ", f.path().string());
      run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++ran;
    }
  }
  return ran;
}

}  // namespace

// Every target has seeds; an empty replay would pass without testing anything.
TEST_CASE("record decoder and segment scan") { CHECK(replay("record", troupe::fuzz::record_one) >= 5); }
TEST_CASE("snapshot decoder and restore") { CHECK(replay("snapshot", troupe::fuzz::snapshot_one) >= 3); }
TEST_CASE("config loader") { CHECK(replay("config", troupe::fuzz::config_one) >= 2); }
TEST_CASE("REST request parsing") { CHECK(replay("rest", troupe::fuzz::rest_one) >= 8); }
TEST_CASE("HTTP/1.1 request parser, whole and in pieces") { CHECK(replay("http", troupe::fuzz::http_one) >= 6); }
TEST_CASE("Raft core under the simulation checker") { CHECK(replay("raft", troupe::fuzz::raft_one) >= 2); }
TEST_CASE("raft wire framing and admission") { CHECK(replay("wire", troupe::fuzz::wire_one) >= 4); }
TEST_CASE("state and backup files, the configuration's encoding") { CHECK(replay("state", troupe::fuzz::state_one) >= 7); }
TEST_CASE("job table fed a log, snapshots and listings") { CHECK(replay("apply", troupe::fuzz::apply_one) >= 4); }
