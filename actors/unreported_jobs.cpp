#include "actors/unreported_jobs.hpp"

#include <algorithm>
#include <string_view>

#include <absl/container/flat_hash_set.h>

namespace troupe {

std::vector<std::string> find_unreported(const placed_map& active, const worker_list& workers,
                                         unreported_map& missing, std::chrono::steady_clock::time_point now,
                                         const unreported_graces& graces) {
  // Each live worker's reported ids, hashed once per call: a worker may
  // report thousands of jobs, and a linear search of them per placed job
  // made this quadratic (a fifth of a restarted 1M-job node's CPU while it
  // re-queued a lost worker's jobs, bench/scale.sh).
  std::map<std::uint64_t, absl::flat_hash_set<std::string_view>> live;
  for (const auto& w : workers.workers)
    if (w.alive) live[w.report.node_id].insert(w.report.running_jobs.begin(), w.report.running_jobs.end());
  std::vector<std::string> out;
  unreported_map still;
  still.reserve(missing.size());
  for (const auto& [id, j] : active) {
    if (j.status != jobs::job_status::assigned && j.status != jobs::job_status::running) continue;
    auto w = live.find(j.worker);
    if (w == live.end()) continue;
    if (w->second.count(id)) continue;  // the worker has it
    unreported_since m{j.worker, j.attempts, j.status, now};
    if (auto old = missing.find(id); old != missing.end() && old->second.worker == m.worker &&
                                     old->second.attempt == m.attempt && old->second.status == m.status)
      m.since = old->second.since;
    auto grace = j.status == jobs::job_status::assigned ? graces.assigned : graces.running;
    if (now - m.since >= grace) out.push_back(id);
    still.emplace(id, m);
  }
  missing = std::move(still);  // jobs now reported, finished or elsewhere are forgotten
  // In id order, as when `active` was an ordered map: the re-queues are
  // proposed (and logged) in this order.
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace troupe
