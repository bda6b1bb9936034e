// The replicated job state machine. Every node applies the same committed
// scheduler.Command entries in log order and ends up with the same table,
// byte for byte (see snapshot()).
//
// Pure: no clocks, no randomness, no I/O, no threads. Times and ids arrive
// inside the commands. Not thread-safe; the owner serializes access.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_set.h>
#include <absl/container/flat_hash_map.h>

#include "runtime/jobs/job.hpp"
#include "runtime/jobs/job_order.hpp"
#include "log_command.pb.h"

namespace troupe::jobs {

enum class change_kind { created, updated, evicted };

struct job_change {
  std::uint64_t index;  // log index of the command that made the change
  change_kind kind;
  job_status before;  // unspecified for created
  job after;          // for evicted: the job as it was when removed
};

// Why a committed command had no effect; the node maps it to a client error.
enum class refusal : std::uint8_t {
  none,
  not_found,      // the job does not exist
  conflict,       // the job's state does not allow it (already terminal, not pending, ...)
  over_capacity,  // admission: jobs.max_active jobs are active
  malformed,      // the command itself is wrong (empty id, unknown kind, ...)
  stale,          // a replay or a stale attempt: nothing to do, and nothing to retry
};

// A worker drained (draining = true) or returned to service by a committed
// set_worker_draining. Only real changes are reported, not repeats.
struct worker_change {
  std::uint64_t index;  // log index of the command that made the change
  std::uint64_t worker_id;
  bool draining;
};

// The refusal of one command, or of one update in a batch: the code callers
// act on, and the message clients see. code == none: it applied.
struct apply_error {
  refusal code = refusal::none;
  std::string message;

  bool ok() const { return code == refusal::none; }
};

struct apply_result {
  std::vector<job_change> changes;
  std::vector<worker_change> workers;
  refusal refused = refusal::none;
  // Non-empty: the command had no effect, and why ("job not found",
  // "job is already completed", ...).
  std::string error;
  // batch_update_job_status, assign_jobs and requeue_jobs only: one entry
  // per item in order, ok() for those applied. A batch where some apply has
  // an empty `error`.
  std::vector<apply_error> update_errors;
};

struct list_query {
  std::uint32_t page_size = 100;  // 0 -> 100; capped at 1000
  std::string page_token;         // from list_result::next_page_token; empty = first page
  job_status status = job_status::unspecified;  // unspecified = any
  std::uint64_t worker = 0;                     // assigned_worker or executed_by; 0 = any
  std::string command_substring;                // case-insensitive; empty = any
  std::int64_t created_after_ms = 0, created_before_ms = 0;  // inclusive; 0 = no bound
};

struct list_result {
  std::vector<job> jobs;        // ordered by (created_at_ns, id)
  std::string next_page_token;  // empty on the last page
  std::uint32_t total_count = 0;  // jobs matching the filters, across all pages
};

constexpr std::uint32_t default_page_size = 100;
constexpr std::uint32_t max_page_size = 1000;

class job_table {
 public:
  job_table();
  ~job_table();
  // Indexes point into the owned jobs: copying would alias them; moving is safe.
  job_table(const job_table&) = delete;
  job_table& operator=(const job_table&) = delete;
  job_table(job_table&&) noexcept;
  job_table& operator=(job_table&&) noexcept;

  // Applies the committed entry at `index`. Indexes must increase: an index
  // at or below applied_index() (a replay after restore) is refused as
  // refusal::stale and changes nothing. Any other refused command still
  // advances applied_index(), because the entry was consumed.
  //
  // Refusal codes: stale (replay, update from an older attempt), not_found
  // (no such job), conflict (the job's or worker's state does not allow it),
  // over_capacity (submit at its max_active), malformed (the command itself
  // is wrong: empty id, worker 0, no kind, a status workers may not report).
  apply_result apply(std::uint64_t index, const logpb::Command& cmd);

  const job* find(std::string_view id) const;
  // Throws std::invalid_argument("invalid page_token") for a token list()
  // did not produce, and std::invalid_argument for an out-of-range status.
  list_result list(const list_query& q) const;
  std::size_t active_count() const;  // pending + assigned + running
  std::size_t count(job_status s) const;  // O(1)
  std::vector<const job*> with_status(job_status s) const;         // in creation order
  std::vector<const job*> all() const;                             // every job, in creation order
  std::vector<const job*> on_worker(std::uint64_t worker) const;   // non-terminal jobs assigned to it, creation order
  const std::set<std::uint64_t>& workers() const { return workers_; }  // registered workers
  // Workers a committed set_worker_draining drained; assignments to them are refused.
  const std::set<std::uint64_t>& draining_workers() const { return draining_; }
  bool is_draining(std::uint64_t worker) const { return draining_.count(worker) != 0; }
  std::uint64_t applied_index() const { return applied_index_; }
  std::size_t size() const { return by_created_.size(); }
  // Completion time of the terminal job evict_jobs would take first; nullopt
  // when no job is terminal. O(1).
  std::optional<std::int64_t> oldest_completion() const;

  // Deterministic bytes (snapshot_codec.hpp); equal tables give equal bytes.
  std::string snapshot() const;

  // The same bytes, made a piece at a time while the table goes on applying
  // (at a million jobs the encode takes most of a second, and every apply
  // would wait for it), and handed over a piece at a time (the whole ~230 MB
  // is never in one buffer). begin_snapshot() fixes the content: this
  // applied index, the jobs and workers as they are now; it returns the
  // snapshot's id (never 0, never reused by this table, restores included).
  // continue_snapshot(id, n, b) encodes up to n more jobs, stopping once b
  // bytes wait to be taken, and returns true once the snapshot is whole.
  // take_snapshot_piece(id) hands over the bytes encoded since the last call;
  // once the snapshot is whole, the last ones, and the snapshot is over. The
  // pieces in order are exactly what snapshot() would have returned at
  // begin_snapshot(). A job that changes or goes before its turn is encoded
  // first as it was; one added meanwhile is left out. Several snapshots may
  // be in progress at once (a compaction and backups), each on its own;
  // every one costs the table's changes a little until it ends. restore()
  // drops them all, cancel_snapshot(id) one. continue_snapshot and
  // take_snapshot_piece throw std::logic_error for an id not in progress.
  using snapshot_id = std::uint64_t;
  snapshot_id begin_snapshot();
  bool continue_snapshot(snapshot_id id, std::size_t max_jobs, std::size_t max_bytes = SIZE_MAX);
  std::string take_snapshot_piece(snapshot_id id);
  void cancel_snapshot(snapshot_id id);
  bool snapshot_in_progress(snapshot_id id) const;
  // Replaces the whole table. Throws std::runtime_error on malformed input and
  // then leaves the table unchanged.
  void restore(std::string_view bytes);

  // For a cluster seeded from a backup (troupe-node --restore), whose workers
  // are not the ones this table names: every assigned or running job goes
  // back to pending exactly as a requeue_job does (attempts kept, worker,
  // executor and start time cleared), and no worker stays drained. Without
  // it a job held by an old worker id that is not a member of the new cluster
  // would stay non-terminal for ever (only members are tracked for liveness),
  // and a drained old id reused by a new node would never get work.
  // Deterministic (no clock): every node restored from the same file gets
  // the same bytes. Returns how many jobs went back to pending.
  std::size_t forget_workers();

 private:
  // Command handlers (job_table_apply.cpp). Each returns its refusal, or an
  // ok() apply_error when the command applied.
  apply_error apply_submit(std::uint64_t index, const logpb::SubmitJobCommand& c, apply_result& out);
  apply_error apply_assign(std::uint64_t index, const logpb::AssignJobCommand& c, apply_result& out);
  apply_error apply_update(std::uint64_t index, const logpb::JobStatusUpdate& u, apply_result& out);
  apply_error apply_batch(std::uint64_t index, const logpb::BatchUpdateJobStatusCommand& c, apply_result& out);
  apply_error apply_assign_batch(std::uint64_t index, const logpb::AssignJobsCommand& c, apply_result& out);
  apply_error apply_requeue_batch(std::uint64_t index, const logpb::RequeueJobsCommand& c, apply_result& out);
  apply_error apply_cancel(std::uint64_t index, const logpb::CancelJobCommand& c, apply_result& out);
  apply_error apply_requeue(std::uint64_t index, const logpb::RequeueJobCommand& c, apply_result& out);
  apply_error apply_register(const logpb::RegisterWorkerCommand& c);
  apply_error apply_evict(std::uint64_t index, const logpb::EvictJobsCommand& c, apply_result& out);
  apply_error apply_draining(std::uint64_t index, const logpb::SetWorkerDrainingCommand& c, apply_result& out);

  // The only ways a job changes or goes: each first keeps a job that a
  // snapshot in progress has not reached yet as it was (keep_for_snapshot).
  job* find_mutable(std::string_view id);
  // False (and nothing changes) when a job with that id is already held.
  bool insert(std::unique_ptr<job> j);
  void erase(const job* j);
  // Every field a secondary index keys on (status, workers, completed_at)
  // changes only between unindex() and reindex().
  void unindex(const job* j);
  void reindex(const job* j);
  // The job_set of `worker` in `m` when the worker has one, else nullptr.
  static const job_set* find_set(const std::map<std::uint64_t, job_set>& m, std::uint64_t worker);

  // Owner. Keys view the owned job's id. Used only for lookups, never
  // iterated, so its unspecified (per-process seeded) order cannot reach any
  // output. Open addressing, not std::unordered_map: no node allocation per
  // job, so a lookup or insert costs one cache miss instead of a chain walk
  // through nodes scattered among the jobs (restoring 1M jobs: ~0.3 s and
  // ~45 MiB less).
  absl::flat_hash_map<std::string_view, std::unique_ptr<job>> by_id_;
  job_set by_created_;
  std::array<job_set, job_status_count> by_status_;
  std::map<std::uint64_t, job_set> by_worker_;        // under assigned_worker and executed_by
  std::map<std::uint64_t, job_set> active_on_worker_;  // non-terminal, under assigned_worker
  absl::btree_set<completion_entry, completion_order> by_completion_;  // terminal jobs
  std::set<std::uint64_t> workers_;
  std::set<std::uint64_t> draining_;
  std::uint64_t applied_index_ = 0;

  struct snapshot_pieces;  // job_table_snapshot.cpp
  void keep_for_snapshot(const job* j);     // changes or goes: encode it now if its turn is still to come
  void leave_out_of_snapshot(const job* j);  // added after begin_snapshot()
  snapshot_pieces& pieces_of(snapshot_id id, const char* caller);
  // The snapshots in progress, by id (rarely more than one).
  std::vector<std::pair<snapshot_id, std::unique_ptr<snapshot_pieces>>> pieces_;
  snapshot_id last_snapshot_id_ = 0;
};

}  // namespace troupe::jobs
