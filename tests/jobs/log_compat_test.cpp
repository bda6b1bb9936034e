// Entries written by earlier versions still parse and apply: the log is
// storage, and a data dir outlives the binary that wrote it.
#include <doctest/doctest.h>

#include <cstddef>
#include <string>

#include "apply_checks.hpp"

using namespace troupe::jobs;
namespace logpb = troupe::logpb;
using namespace troupe::jobs::test;

namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

logpb::Command parse(const std::string& hex) {
  logpb::Command c;
  REQUIRE(c.ParseFromString(from_hex(hex)));
  return c;
}

}  // namespace

TEST_CASE("a submit_job entry as the previous schema wrote it parses and applies, uncapped") {
  // Command { submit_job (1) = SubmitJobCommand {...} }, 53 bytes of payload:
  const std::string hex =
      "0a35"                      // field 1 (submit_job), length 53
      "0a096f6c642d6a6f622d31"    // 1 job_id = "old-job-1"
      "120b6563686f206c6567616379"  // 2 command = "echo legacy"
      "18efbb8da5c033"            // 3 created_at_ms = 1769604341231
      "2208616c70696e653a33"      // 4 image = "alpine:3"
      "50bbb4c0c0dcb8b9c718"      // 10 created_at_ns = 1769604341231000123
      "581e";                     // 11 timeout_s = 30
  logpb::Command c = parse(hex);
  REQUIRE(c.kind_case() == logpb::Command::kSubmitJob);
  CHECK(c.submit_job().max_active() == 0);

  log_fed_table t;
  for (int i = 0; i < 3; ++i) expect_applied(t, submit("busy" + std::to_string(i), "true", 1));
  // No max_active field: no cap, whatever the number of active jobs.
  apply_result r = expect_applied(t, c);
  REQUIRE(r.changes.size() == 1);
  const job* j = t.table.find("old-job-1");
  REQUIRE(j);
  CHECK(j->command == "echo legacy");
  CHECK(j->image == "alpine:3");
  CHECK(j->created_at_ns == 1'769'604'341'231'000'123);
  CHECK(j->timeout_s == 30);
  CHECK(j->status == job_status::pending);
}

TEST_CASE("a submit_job entry of the original system (ms time only) applies") {
  const std::string hex =
      "0a18"                  // field 1 (submit_job), length 24
      "0a066f7269672d37"      // 1 job_id = "orig-7"
      "1207736c6565702031"    // 2 command = "sleep 1"
      "1880b0def7d32b";       // 3 created_at_ms = 1500000000000
  log_fed_table t;
  expect_applied(t, parse(hex));
  const job* j = t.table.find("orig-7");
  REQUIRE(j);
  CHECK(j->command == "sleep 1");
  CHECK(j->created_at_ns == 1'500'000'000'000'000'000);
  CHECK(j->image.empty());
  CHECK(j->timeout_s == 0);
}

TEST_CASE("an entry holding only the removed field 2 parses with no kind and is refused as malformed") {
  // Command { 2 (the original UpdateJobStatusCommand) = { job_id "old-job-1",
  // status COMPLETED, executed_by 2, exit_code 0 } }
  const std::string hex =
      "1211"                    // field 2, length 17
      "0a096f6c642d6a6f622d31"  // 1 job_id = "old-job-1"
      "1003"                    // 2 status = 3 (COMPLETED)
      "1802"                    // 3 executed_by = 2
      "2000";                   // 4 exit_code = 0
  logpb::Command c = parse(hex);
  CHECK(c.kind_case() == logpb::Command::KIND_NOT_SET);

  log_fed_table t;
  expect_applied(t, submit("old-job-1", "true", 1));
  expect_applied(t, assign("old-job-1", 2));
  expect_refused(t, c, refusal::malformed, "command has no kind set");
  CHECK(t.table.find("old-job-1")->status == job_status::assigned);
}
