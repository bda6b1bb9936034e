// Timestamps as clients see them. Pure arithmetic on the proleptic Gregorian
// calendar: no time zone database, no locale, no libc time functions.
#pragma once

#include <cstdint>
#include <string>

namespace troupe::jobs {

// UTC with nanoseconds, always nine fraction digits and an explicit offset:
// "2026-01-28T12:45:41.231558433+00:00". Times before the epoch round down
// (-1 ns is 1969-12-31T23:59:59.999999999+00:00). Covers the whole int64 range.
std::string format_rfc3339_ns(std::int64_t unix_ns);

}  // namespace troupe::jobs
