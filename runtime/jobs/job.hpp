// The replicated record of one job and the vocabulary of its lifecycle.
// Plain data: the job table (job_table.hpp) is the only thing that changes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::jobs {

// Numbers equal scheduler.JobStatus so conversion is a cast.
enum class job_status : int {
  unspecified = 0,
  pending = 1,
  running = 2,
  completed = 3,
  failed = 4,
  cancelled = 5,
  assigned = 6,
};

constexpr int job_status_count = 7;  // number of enumerators, for per-status arrays

// "pending", "running", ... ; "unspecified" for unspecified (and any value out of range).
const char* to_string(job_status s);

// Accepts the to_string() names and the proto names ("JOB_STATUS_PENDING"),
// both case-insensitive. Returns nullopt for anything else.
std::optional<job_status> parse_status(std::string_view s);

// completed, failed and cancelled: no transition leaves them.
bool is_terminal(job_status s);

// True for the enumerators above, false for other integers (e.g. from a
// newer proto or a corrupt snapshot).
bool is_known_status(int value);

struct job {
  std::string id, command, image;  // image empty = node default
  job_status status = job_status::pending;
  std::uint64_t assigned_worker = 0, executed_by = 0;
  std::optional<std::int32_t> exit_code;
  std::string error;
  std::uint32_t attempts = 0;  // assignments so far
  std::uint32_t timeout_s = 0;
  std::int64_t created_at_ns = 0;
  std::optional<std::int64_t> started_at_ns, completed_at_ns;
  std::string stdout_inline, stderr_inline;  // replicated small output
  bool output_truncated = false;
  std::uint64_t updated_index = 0;  // log index of the last change
  // When the current assignment was committed (0 = never assigned). Lets the
  // scheduler notice assignments that never started.
  std::int64_t assigned_at_ns = 0;

  friend bool operator==(const job& a, const job& b);
  friend bool operator!=(const job& a, const job& b) { return !(a == b); }
};

}  // namespace troupe::jobs
