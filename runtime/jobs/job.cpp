#include "runtime/jobs/job.hpp"

#include <cctype>
#include <cstddef>

namespace troupe::jobs {

namespace {

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

constexpr std::string_view proto_prefix = "job_status_";

}  // namespace

const char* to_string(job_status s) {
  switch (s) {
    case job_status::pending: return "pending";
    case job_status::running: return "running";
    case job_status::completed: return "completed";
    case job_status::failed: return "failed";
    case job_status::cancelled: return "cancelled";
    case job_status::assigned: return "assigned";
    case job_status::unspecified: break;
  }
  return "unspecified";
}

std::optional<job_status> parse_status(std::string_view s) {
  if (s.size() > proto_prefix.size() && equals_ignore_case(s.substr(0, proto_prefix.size()), proto_prefix)) {
    s.remove_prefix(proto_prefix.size());
  }
  for (int v = 0; v < job_status_count; ++v) {
    auto status = static_cast<job_status>(v);
    if (equals_ignore_case(s, to_string(status))) return status;
  }
  return std::nullopt;
}

bool is_terminal(job_status s) {
  return s == job_status::completed || s == job_status::failed || s == job_status::cancelled;
}

bool is_known_status(int value) { return value >= 0 && value < job_status_count; }

bool operator==(const job& a, const job& b) {
  return a.id == b.id && a.command == b.command && a.image == b.image && a.status == b.status &&
         a.assigned_worker == b.assigned_worker && a.executed_by == b.executed_by && a.exit_code == b.exit_code &&
         a.error == b.error && a.attempts == b.attempts && a.timeout_s == b.timeout_s &&
         a.created_at_ns == b.created_at_ns && a.started_at_ns == b.started_at_ns &&
         a.completed_at_ns == b.completed_at_ns && a.stdout_inline == b.stdout_inline &&
         a.stderr_inline == b.stderr_inline && a.output_truncated == b.output_truncated &&
         a.updated_index == b.updated_index && a.assigned_at_ns == b.assigned_at_ns;
}

}  // namespace troupe::jobs
