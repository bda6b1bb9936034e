// job_dispatcher: active on the leader only. Keeps a view of the non-terminal
// jobs and of drained workers (from job_table's change stream) and of worker
// liveness (from heartbeat_tracker), and proposes:
//  - assign_jobs: pending jobs, oldest first, each to the live,
//    non-draining, executor-healthy worker with the fewest active jobs, up
//    to its capacity; every job placed in one pass goes in one entry, and one
//    such entry is in flight at a time (group commit: jobs that arrive
//    meanwhile go in the next one);
//  - requeue_jobs: the jobs of a worker declared dead, and the jobs a live
//    worker's heartbeats leave out for longer than a grace (a lost
//    assignment or result; actors/unreported_jobs.hpp) (attempts kept; the
//    job table fails a job that used worker.max_attempts); the jobs found in
//    one pass in entries of up to config::requeue_batch_jobs, one in flight;
//  - evict_jobs: finished jobs older than jobs.retention_s.
// It tells raft_node whether jobs wait for a slot (backlog_atom, on a change),
// which then holds job status reports longer (config::status_hold_busy).
// Every SubmitJob passes through it on its way to raft_node. When no job
// waits for a slot (pending jobs all in the assign_jobs entry on its way)
// and a worker has a free slot, the leader's dispatcher places the
// new job in its submit entry (SubmitJobCommand.assign_to): one entry and
// one commit round per job fewer than an assign_jobs after it. Otherwise the
// submit goes on to raft_node untouched.
// Placement runs on every change and costs O(jobs placed) plus the workers:
// per-worker load is kept as jobs change, not recounted. The liveness checks
// look only at placed (assigned or running) jobs, and run on the dispatcher's
// tick and on worker-list updates, not on every job change.
// The tick runs only while there is something to look at: on the leader, every
// dispatcher_tick while a job is pending or placed (dead or silent workers,
// assignments to retry), and otherwise once, when the oldest finished job
// reaches retention. A follower, and an idle leader, have no timer.
// Of finished jobs it keeps only the oldest completion time (from the table,
// asked again after each eviction), not an entry per job.
// Every decision is a Raft entry, so a new leader's dispatcher picks up from
// the committed state.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>

#include "actors/interfaces.hpp"
#include "actors/pending_queue.hpp"
#include "actors/unreported_jobs.hpp"
#include "config/node_config.hpp"

namespace troupe {

struct job_dispatcher_state {
  static inline const char* name = "job_dispatcher";
  using clock = std::chrono::steady_clock;
  config::node_config cfg;
  raft_node_actor raft;
  job_table_actor table;
  std::function<clock::time_point()> now;
  bool leader = false;
  clock::time_point leader_since{};
  worker_list workers;
  // Drained workers as the job table has them (a committed set_worker_draining),
  // not as heartbeats say: every leader, now or after a restart, agrees.
  std::set<std::uint64_t> draining;
  // Every job change looks a job up in these, so they are hashed (an ordered
  // map of string ids showed in profiles with tens of thousands pending,
  // issue #12); order is kept only where placement needs it.
  pending_queue pending;                                        // pending jobs, oldest first (created_at_ns, id)
  placed_map placed;                                            // assigned or running jobs by id: worker, attempt, status
  std::map<std::uint64_t, std::uint32_t> held;                  // worker -> its placed jobs
  // Completion time of the table's oldest finished job (nullopt: none), for
  // retention. Lowered as jobs finish; asked of the table again after an
  // eviction (asking_oldest: a question is on its way; ask_again: and another
  // eviction came meanwhile).
  std::optional<std::int64_t> oldest_finished;
  bool asking_oldest = false, ask_again = false;
  // When the earliest tick now scheduled fires (none: no tick is coming).
  std::optional<clock::time_point> armed;
  bool assigning = false;                                       // an assign_jobs entry is proposed, not answered
  // The jobs of that entry still pending in the view (the table has not
  // applied it yet). They have their slots (counted in `reserved`), so they
  // do not wait for one: a submit meanwhile may be placed in its own entry.
  std::unordered_set<std::string> assigning_ids;
  bool told_backlog = false;                                    // what raft_node last heard: jobs wait for a slot
  // Slots taken by placed submits and by the assign_jobs entry on their way
  // through raft_node, by worker: counted as load until the proposal's answer
  // (the table's change, which places the job in `held`, reaches this
  // mailbox before that answer).
  std::map<std::uint64_t, std::uint32_t> reserved;
  int requeue_entries_in_flight = 0;  // re-queue entries proposed, not answered
  // The jobs dead or removed workers hold, by id, found by one walk over
  // `placed` and taken an entry at a time: walking and sorting them all
  // again for each entry of config::requeue_batch_jobs cost every entry,
  // and every submit behind it, tens of milliseconds at 46,000 jobs
  // (bench/scale.sh). Valid while the dead workers (`lost_dead`) and the
  // listed ones (`lost_listed`) are as they were; each id is checked
  // against `placed` as it is taken. Emptied when this node stops leading
  // or a re-queue entry fails.
  std::deque<std::string> lost_ids;
  std::set<std::uint64_t> lost_dead, lost_listed;
  unreported_map unreported;  // jobs live workers do not report, since when
  bool evicting = false;
  std::uint64_t last_assigned = 0;  // round-robin among equally loaded workers
};

job_dispatcher_actor::behavior_type job_dispatcher(job_dispatcher_actor::stateful_pointer<job_dispatcher_state> self,
                                                   config::node_config cfg, raft_node_actor raft,
                                                   job_table_actor table, heartbeat_tracker_actor tracker,
                                                   std::function<std::chrono::steady_clock::time_point()> now);

}  // namespace troupe
