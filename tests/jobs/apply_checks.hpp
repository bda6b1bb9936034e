// Checks shared by the tests of refusals, admission and drain: a command
// either applies, or is refused with a code and a message and changes nothing
// but the applied index.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "commands.hpp"

namespace troupe::jobs::test {

inline apply_result expect_applied(log_fed_table& t, const logpb::Command& c) {
  apply_result r = t.apply(c);
  INFO("error: " << r.error);
  REQUIRE(r.refused == refusal::none);
  REQUIRE(r.error.empty());
  return r;
}

inline void expect_refused(log_fed_table& t, const logpb::Command& c, refusal code, const std::string& message) {
  const std::string before = t.table.snapshot();
  const std::uint64_t index = t.next_index;
  apply_result r = t.apply(c);
  CHECK(r.refused == code);
  CHECK(r.error == message);
  CHECK(r.changes.empty());
  CHECK(r.workers.empty());
  CHECK(t.table.applied_index() == index);
  // The same table apart from the applied index (a command with no kind only
  // advances it).
  job_table expected;
  expected.restore(before);
  expected.apply(index, logpb::Command{});
  CHECK(expected.snapshot() == t.table.snapshot());
}

}  // namespace troupe::jobs::test
