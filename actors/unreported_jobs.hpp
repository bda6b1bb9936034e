// The leader's check that closes the loop between the job table and what the
// workers themselves say: a job the table has ASSIGNED or RUNNING on a live
// worker whose heartbeats keep leaving it out has lost a message on the way
// (the assignment never started it, its result never arrived, the worker
// restarted) and would otherwise stay non-terminal forever. Pure: the caller
// passes the time and the graces, and acts on the answer (job_dispatcher
// re-queues such jobs).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/messages.hpp"
#include "runtime/jobs/job_table.hpp"

namespace troupe {

struct unreported_graces {
  // A RUNNING job: its worker reports it in every heartbeat while it runs,
  // and until its final status is acknowledged.
  std::chrono::milliseconds running{0};
  // An ASSIGNED job may not have reached the worker yet (replication, apply,
  // a worker catching up after a restart): longer.
  std::chrono::milliseconds assigned{0};
};

// Since when one job has been missing from its worker's reports, for the
// attempt, worker and status it had then (a change starts the clock again).
struct unreported_since {
  std::uint64_t worker = 0;
  std::uint32_t attempt = 0;
  jobs::job_status status = jobs::job_status::pending;
  std::chrono::steady_clock::time_point since{};
};

// Hashed, like placed_map: looked up by id, never walked in order.
using unreported_map = std::unordered_map<std::string, unreported_since>;

// What the dispatcher keeps of an assigned or running job: the fields
// placement, the liveness checks and their log lines read. Not the whole
// job (command, image, output...): a full copy per placed job cost an
// allocation per string field on every change.
struct placed_job {
  std::uint64_t worker = 0;  // assigned_worker
  std::uint32_t attempts = 0;
  jobs::job_status status = jobs::job_status::assigned;
};
// Placed jobs by id. Hashed: looked up on every job change; the few walks
// over it (on the tick) sort what they act on by id themselves.
using placed_map = std::unordered_map<std::string, placed_job>;

// Updates `missing` from the placed jobs (`active`) and the live workers'
// latest reports, and returns the ids of the jobs missing for longer than
// their grace, in id order. Only live workers count: a dead worker's jobs are
// re-queued by the liveness check instead.
std::vector<std::string> find_unreported(const placed_map& active, const worker_list& workers,
                                         unreported_map& missing, std::chrono::steady_clock::time_point now,
                                         const unreported_graces& graces);

}  // namespace troupe
