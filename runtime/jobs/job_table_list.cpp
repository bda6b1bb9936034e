// ListJobs over the job table's indexes. Cost: O(log n + page) when the
// filters are exactly an index (status, worker, or none) with at most a
// creation-time range; otherwise one pass over the narrowest index's slice of
// that range, since total_count needs every match counted.
#include <algorithm>
#include <iterator>
#include <limits>
#include <stdexcept>

#include "runtime/jobs/job_table.hpp"
#include "runtime/jobs/page_token.hpp"

namespace troupe::jobs {

namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;
constexpr std::int64_t min_ns = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t max_ns = std::numeric_limits<std::int64_t>::max();

// First nanosecond of millisecond `ms`, clamped to the int64 range.
std::int64_t ms_start_ns(std::int64_t ms) {
  if (ms > max_ns / ns_per_ms) return max_ns;
  if (ms < min_ns / ns_per_ms) return min_ns;
  return ms * ns_per_ms;
}

// Last nanosecond of millisecond `ms`: the bounds are inclusive at
// millisecond granularity, so 12.7 ms is "created before 12 ms".
std::int64_t ms_end_ns(std::int64_t ms) {
  std::int64_t start = ms_start_ns(ms);
  return start > max_ns - (ns_per_ms - 1) ? max_ns : start + (ns_per_ms - 1);
}

// ASCII case folding: commands are shell text, and the answer must not depend
// on a node's locale (std::tolower's does).
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool contains_ignore_case(std::string_view haystack, std::string_view lower_needle) {
  auto it = std::search(haystack.begin(), haystack.end(), lower_needle.begin(), lower_needle.end(),
                        [](char h, char n) { return ascii_lower(h) == n; });
  return it != haystack.end();
}

std::uint32_t effective_page_size(std::uint32_t requested) {
  if (requested == 0) return default_page_size;
  return std::min(requested, max_page_size);
}

std::uint32_t clamp_count(std::size_t n) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(n, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

list_result job_table::list(const list_query& q) const {
  std::optional<list_cursor> after;
  if (!q.page_token.empty()) {
    after = decode_page_token(q.page_token);
    if (!after) throw std::invalid_argument("invalid page_token");
  }
  if (!is_known_status(static_cast<int>(q.status))) {
    throw std::invalid_argument("invalid status filter " + std::to_string(static_cast<int>(q.status)));
  }
  const std::uint32_t page_size = effective_page_size(q.page_size);
  const std::int64_t lo = q.created_after_ms != 0 ? ms_start_ns(q.created_after_ms) : min_ns;
  const std::int64_t hi = q.created_before_ms != 0 ? ms_end_ns(q.created_before_ms) : max_ns;
  const bool by_time = q.created_after_ms != 0 || q.created_before_ms != 0;

  // Iterate one index: the status index when a status is given (or the
  // worker's when both are given and it is smaller), else the worker's, else
  // all jobs. Filters that index does not answer are checked per job.
  static const job_set no_jobs;
  const job_set* source = &by_created_;
  bool check_status = false, check_worker = false;
  const job_set* worker_set = nullptr;
  if (q.worker != 0) {
    worker_set = find_set(by_worker_, q.worker);
    if (!worker_set) worker_set = &no_jobs;
  }
  if (q.status != job_status::unspecified) {
    source = &by_status_[static_cast<int>(q.status)];
    if (worker_set) {
      if (worker_set->size() < source->size()) {
        source = worker_set;
        check_status = true;
      } else {
        check_worker = true;
      }
    }
  } else if (worker_set) {
    source = worker_set;
  }
  const std::string needle = to_lower(q.command_substring);
  const bool check_command = !needle.empty();
  auto matches = [&](const job& j) {
    if (check_status && j.status != q.status) return false;
    if (check_worker && j.assigned_worker != q.worker && j.executed_by != q.worker) return false;
    if (check_command && !contains_ignore_case(j.command, needle)) return false;
    return true;
  };

  list_result out;
  if (lo > hi) return out;
  auto begin = by_time ? source->lower_bound(created_time{lo}) : source->begin();
  auto end = by_time ? source->upper_bound(created_time{hi}) : source->end();
  // The page starts strictly after the cursor, wherever that falls relative to the range.
  // A cursor past the range leaves nothing; otherwise upper_bound(cursor) is
  // at or before `end`, which keeps the loops below inside [begin, end].
  auto page_start = begin;
  if (after && after->created_at_ns > hi) page_start = end;
  else if (after && after->created_at_ns >= lo) page_start = source->upper_bound(*after);

  if (!check_status && !check_worker && !check_command) {
    out.total_count = clamp_count(by_time ? static_cast<std::size_t>(std::distance(begin, end)) : source->size());
    auto it = page_start;
    for (; it != end && out.jobs.size() < page_size; ++it) out.jobs.push_back(**it);
    if (it != end && !out.jobs.empty()) out.next_page_token = encode_page_token({out.jobs.back().created_at_ns, out.jobs.back().id});
    return out;
  }

  std::size_t total = 0;
  bool more = false;
  const creation_order order;
  for (auto it = begin; it != end; ++it) {
    const job& j = **it;
    if (!matches(j)) continue;
    ++total;
    if (after && !order(*after, *it)) continue;  // at or before the cursor
    if (out.jobs.size() < page_size) {
      out.jobs.push_back(j);
    } else {
      more = true;
    }
  }
  out.total_count = clamp_count(total);
  if (more) out.next_page_token = encode_page_token({out.jobs.back().created_at_ns, out.jobs.back().id});
  return out;
}

}  // namespace troupe::jobs
