#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "runtime/jobs/rfc3339.hpp"

using namespace troupe::jobs;

namespace {
constexpr std::int64_t s = 1'000'000'000;
}

TEST_CASE("format_rfc3339_ns at the epoch and its neighbours") {
  CHECK(format_rfc3339_ns(0) == "1970-01-01T00:00:00.000000000+00:00");
  CHECK(format_rfc3339_ns(1) == "1970-01-01T00:00:00.000000001+00:00");
  CHECK(format_rfc3339_ns(-1) == "1969-12-31T23:59:59.999999999+00:00");
  CHECK(format_rfc3339_ns(-s) == "1969-12-31T23:59:59.000000000+00:00");
  CHECK(format_rfc3339_ns(-s - 1) == "1969-12-31T23:59:58.999999999+00:00");
  CHECK(format_rfc3339_ns(-86'400 * s) == "1969-12-31T00:00:00.000000000+00:00");
}

TEST_CASE("format_rfc3339_ns pads the fraction to nine digits") {
  CHECK(format_rfc3339_ns(1769604341LL * s + 231558433) == "2026-01-28T12:45:41.231558433+00:00");
  CHECK(format_rfc3339_ns(1769604341LL * s + 1000) == "2026-01-28T12:45:41.000001000+00:00");
  CHECK(format_rfc3339_ns(1769604341LL * s + 500'000'000) == "2026-01-28T12:45:41.500000000+00:00");
}

TEST_CASE("format_rfc3339_ns gets leap years right") {
  CHECK(format_rfc3339_ns(1709164800LL * s) == "2024-02-29T00:00:00.000000000+00:00");
  CHECK(format_rfc3339_ns(951868800LL * s - 1) == "2000-02-29T23:59:59.999999999+00:00");  // 400-year rule
  CHECK(format_rfc3339_ns(-2203891200LL * s) == "1900-03-01T00:00:00.000000000+00:00");   // 1900 is not leap
  CHECK(format_rfc3339_ns(-2203977600LL * s) == "1900-02-28T00:00:00.000000000+00:00");
  CHECK(format_rfc3339_ns(1735689599LL * s) == "2024-12-31T23:59:59.000000000+00:00");
}

TEST_CASE("format_rfc3339_ns covers the whole int64 range") {
  CHECK(format_rfc3339_ns(std::numeric_limits<std::int64_t>::max()) == "2262-04-11T23:47:16.854775807+00:00");
  CHECK(format_rfc3339_ns(std::numeric_limits<std::int64_t>::min()) == "1677-09-21T00:12:43.145224192+00:00");
}
