// Storage, secondary indexes and snapshots of the job table. Command handling
// is in job_table_apply.cpp, ListJobs in job_table_list.cpp.
#include "runtime/jobs/job_table.hpp"

#include <utility>

#include "runtime/jobs/snapshot_codec.hpp"

namespace troupe::jobs {

namespace {

std::vector<const job*> to_vector(const job_set& s) {
  std::vector<const job*> out;
  out.reserve(s.size());
  for (const index_entry& e : s) out.push_back(e.j);
  return out;
}

// Creation times are mostly increasing (the leader stamps them), so a new
// entry usually belongs at the end: hinting there makes that insert O(1).
// A wrong hint only costs the ordinary O(log n) insert.
void insert_entry(job_set& s, const job* j) { s.insert(s.end(), index_entry(j)); }

// One descent to the entry, then an erase at the iterator: set::erase(key)
// walks down for the equal range, then again to both of its ends, and at a
// million jobs each level is a cache miss (a lost worker's re-queue spent a
// fifth of a node's CPU there, bench/scale.sh).
template <typename Set>
void erase_found(Set& s, const typename Set::key_type& k) {
  if (auto it = s.find(k); it != s.end()) s.erase(it);
}
void erase_entry(job_set& s, const job* j) { erase_found(s, index_entry(j)); }

void add_to(std::map<std::uint64_t, job_set>& m, std::uint64_t worker, const job* j) { insert_entry(m[worker], j); }

// Drops the worker's set once empty so the map holds only workers with jobs.
void remove_from(std::map<std::uint64_t, job_set>& m, std::uint64_t worker, const job* j) {
  auto it = m.find(worker);
  if (it == m.end()) return;
  erase_entry(it->second, j);
  if (it->second.empty()) m.erase(it);
}

}  // namespace

const job* job_table::find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

job* job_table::find_mutable(std::string_view id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  if (!pieces_.empty()) keep_for_snapshot(it->second.get());
  return it->second.get();
}

bool job_table::insert(std::unique_ptr<job> owned) {
  const job* j = owned.get();
  // try_emplace leaves `owned` alone when the id is taken (emplace would destroy it).
  if (!by_id_.try_emplace(std::string_view(j->id), std::move(owned)).second) return false;
  if (!pieces_.empty()) leave_out_of_snapshot(j);
  insert_entry(by_created_, j);
  reindex(j);
  return true;
}

void job_table::erase(const job* j) {
  if (!pieces_.empty()) keep_for_snapshot(j);
  unindex(j);
  erase_entry(by_created_, j);
  by_id_.erase(std::string_view(j->id));  // destroys *j: nothing may touch it after this
}

// The exact inverse of reindex(): a job is looked for only in the sets
// reindex() put it in (a search for an absent key costs as much as one that
// finds it).
void job_table::unindex(const job* j) {
  erase_entry(by_status_[static_cast<int>(j->status)], j);
  if (j->assigned_worker != 0) remove_from(by_worker_, j->assigned_worker, j);
  if (j->executed_by != 0 && j->executed_by != j->assigned_worker) remove_from(by_worker_, j->executed_by, j);
  if (is_terminal(j->status)) {
    erase_found(by_completion_, completion_entry(j));
  } else if (j->assigned_worker != 0) {
    remove_from(active_on_worker_, j->assigned_worker, j);
  }
}

void job_table::reindex(const job* j) {
  insert_entry(by_status_[static_cast<int>(j->status)], j);
  if (j->assigned_worker != 0) add_to(by_worker_, j->assigned_worker, j);
  if (j->executed_by != 0 && j->executed_by != j->assigned_worker) add_to(by_worker_, j->executed_by, j);
  if (is_terminal(j->status)) {
    by_completion_.insert(by_completion_.end(), completion_entry(j));
  } else if (j->assigned_worker != 0) {
    add_to(active_on_worker_, j->assigned_worker, j);
  }
}

const job_set* job_table::find_set(const std::map<std::uint64_t, job_set>& m, std::uint64_t worker) {
  auto it = m.find(worker);
  return it == m.end() ? nullptr : &it->second;
}

std::size_t job_table::count(job_status s) const {
  auto i = static_cast<std::size_t>(s);
  return i < by_status_.size() ? by_status_[i].size() : 0;
}

std::size_t job_table::active_count() const {
  return by_status_[static_cast<int>(job_status::pending)].size() +
         by_status_[static_cast<int>(job_status::assigned)].size() +
         by_status_[static_cast<int>(job_status::running)].size();
}

std::vector<const job*> job_table::with_status(job_status s) const {
  if (!is_known_status(static_cast<int>(s))) return {};
  return to_vector(by_status_[static_cast<int>(s)]);
}

std::optional<std::int64_t> job_table::oldest_completion() const {
  if (by_completion_.empty()) return std::nullopt;
  return by_completion_.begin()->completed_at_ns;
}

std::vector<const job*> job_table::all() const { return to_vector(by_created_); }

std::vector<const job*> job_table::on_worker(std::uint64_t worker) const {
  const job_set* s = find_set(active_on_worker_, worker);
  return s ? to_vector(*s) : std::vector<const job*>{};
}

// Builds the new table straight from the bytes: each decoded job is moved
// into its own allocation and indexed at once, so no vector of every job
// exists beside the table. Jobs arrive in creation order, so every creation-
// ordered index takes its insert at the end in O(1) (insert_entry's hint).
void job_table::restore(std::string_view bytes) {
  job_table fresh;
  decode_snapshot(
      bytes,
      [&](const snapshot_header& h) {
        fresh.applied_index_ = h.applied_index;
        fresh.workers_ = h.workers;
        fresh.draining_ = h.draining;
        fresh.by_id_.reserve(static_cast<std::size_t>(h.job_count));
      },
      [&](job&& j) { return fresh.insert(std::make_unique<job>(std::move(j))); });  // throws before *this changes
  fresh.last_snapshot_id_ = last_snapshot_id_;  // an id from before stays unknown, never someone else's
  *this = std::move(fresh);
}

std::size_t job_table::forget_workers() {
  std::vector<job*> held;
  for (auto s : {job_status::assigned, job_status::running})
    for (const job* j : with_status(s)) held.push_back(find_mutable(j->id));
  for (job* j : held) {
    unindex(j);
    j->status = job_status::pending;
    j->assigned_worker = 0;
    j->assigned_at_ns = 0;
    j->executed_by = 0;
    j->started_at_ns.reset();
    reindex(j);
  }
  draining_.clear();
  return held.size();
}

}  // namespace troupe::jobs
