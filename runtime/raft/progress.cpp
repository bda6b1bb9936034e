#include "runtime/raft/progress.hpp"

#include <algorithm>

namespace troupe::raft {

bool follower_progress::paused() const {
  switch (state_) {
    case replication_state::probe: return probe_sent_;
    case replication_state::replicate: return inflights_.size() >= max_inflight_;
    case replication_state::snapshot: return true;
  }
  return true;
}

void follower_progress::become_probe() {
  // Coming back from a snapshot, the follower has at least the snapshot.
  if (state_ == replication_state::snapshot) {
    next_ = std::max(match_ + 1, pending_snapshot_ + 1);
  } else {
    next_ = match_ + 1;
  }
  state_ = replication_state::probe;
  probe_sent_ = false;
  inflights_.clear();
  pending_snapshot_ = 0;
  snapshot_offset_ = 0;
}

void follower_progress::become_replicate() {
  state_ = replication_state::replicate;
  next_ = match_ + 1;
  probe_sent_ = false;
  inflights_.clear();
  pending_snapshot_ = 0;
  snapshot_offset_ = 0;
}

void follower_progress::become_snapshot(index_t snap_index) {
  state_ = replication_state::snapshot;
  pending_snapshot_ = snap_index;
  snapshot_offset_ = 0;
  probe_sent_ = false;
  inflights_.clear();
}

void follower_progress::sent_entries(index_t last) {
  if (state_ == replication_state::replicate) {
    next_ = last + 1;
    inflights_.push_back(last);
  } else {
    probe_sent_ = true;
  }
}

void follower_progress::free_inflights_through(index_t n) {
  while (!inflights_.empty() && inflights_.front() <= n) inflights_.pop_front();
}

bool follower_progress::maybe_update(index_t n) {
  bool updated = false;
  if (match_ < n) {
    match_ = n;
    updated = true;
    probe_sent_ = false;
  }
  next_ = std::max(next_, n + 1);
  free_inflights_through(n);
  return updated;
}

bool follower_progress::maybe_decrease(index_t rejected, index_t hint) {
  if (state_ == replication_state::replicate) {
    if (rejected <= match_) return false;  // stale: we already know more
    next_ = match_ + 1;
    return true;
  }
  // In probe state only the answer to the latest probe (at next-1) counts.
  if (next_ == 0 || next_ - 1 != rejected) return false;
  next_ = std::max(std::min(rejected, hint + 1), match_ + 1);
  probe_sent_ = false;
  return true;
}

}  // namespace troupe::raft
