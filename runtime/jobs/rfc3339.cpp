#include "runtime/jobs/rfc3339.hpp"

#include <cstdio>

namespace troupe::jobs {

namespace {

constexpr std::int64_t ns_per_second = 1'000'000'000;
constexpr std::int64_t seconds_per_day = 86'400;

// Floor division: the remainder always has the divisor's sign (here >= 0), so
// instants before the epoch land on the correct earlier second/day.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

struct civil_date {
  std::int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};

// Days since 1970-01-01 to a Gregorian date. Counts in 400-year eras (146097
// days each) starting on March 1st, so the leap day is the last day of the
// counted year and the month lengths follow a fixed 153-day/5-month pattern.
civil_date civil_from_days(std::int64_t days) {
  days += 719'468;  // shift the origin from 1970-01-01 to 0000-03-01
  const std::int64_t era = floor_div(days, 146'097);
  const std::int64_t day_of_era = days - era * 146'097;                                  // [0, 146096]
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1'460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;  // [0, 399]
  const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);  // [0, 365]
  const std::int64_t month_index = (5 * day_of_year + 2) / 153;  // 0 = March ... 11 = February
  civil_date d;
  d.day = static_cast<int>(day_of_year - (153 * month_index + 2) / 5 + 1);
  d.month = static_cast<int>(month_index < 10 ? month_index + 3 : month_index - 9);
  d.year = year_of_era + era * 400 + (d.month <= 2 ? 1 : 0);
  return d;
}

}  // namespace

std::string format_rfc3339_ns(std::int64_t unix_ns) {
  const std::int64_t seconds = floor_div(unix_ns, ns_per_second);
  // Not unix_ns - seconds * 1e9: that product overflows near INT64_MIN.
  std::int64_t fraction = unix_ns % ns_per_second;
  if (fraction < 0) fraction += ns_per_second;  // [0, 1e9)
  const std::int64_t days = floor_div(seconds, seconds_per_day);
  const std::int64_t second_of_day = seconds - days * seconds_per_day;
  const civil_date date = civil_from_days(days);

  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%09lld+00:00", static_cast<long long>(date.year),
                date.month, date.day, static_cast<int>(second_of_day / 3600), static_cast<int>(second_of_day / 60 % 60),
                static_cast<int>(second_of_day % 60), static_cast<long long>(fraction));
  return buf;
}

}  // namespace troupe::jobs
