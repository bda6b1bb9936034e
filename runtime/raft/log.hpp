// The in-memory Raft log: a snapshot position followed by the entries after
// it, plus the bookkeeping of which entries are committed, handed out for
// persistence, durable, handed out for application and applied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/raft/types.hpp"

namespace troupe::raft {

class raft_log {
 public:
  raft_log() = default;
  // Everything passed in is already durable (it was read back from disk).
  raft_log(snapshot_meta snap, std::vector<entry> entries, index_t commit);

  index_t first_index() const { return snap_.index + 1; }
  index_t last_index() const { return snap_.index + ents_.size(); }
  term_t last_term() const;
  std::optional<term_t> term_at(index_t i) const;  // nullopt: compacted or beyond the end
  bool match_term(index_t i, term_t t) const;
  bool is_up_to_date(index_t last_idx, term_t last_t) const;  // §5.4.1 comparison
  // Entries [lo, hi); stops early at max_count entries or once max_bytes of data is
  // reached (always at least one entry). Requires first_index() <= lo.
  std::vector<entry> slice(index_t lo, index_t hi, std::size_t max_count, std::size_t max_bytes) const;

  // Appends entries from a leader after the consistency check succeeded at
  // (prev, prev_term). Returns the last index now known to match the leader.
  // Truncates a conflicting suffix; never touches committed entries.
  index_t append_matching(index_t prev, const std::vector<entry>& ents);
  void append_local(entry e);  // leader: e.index must be last_index() + 1

  // Largest index <= i whose term is <= t (etcd findConflictByTerm); used for
  // fast backtracking. Returns the snapshot index when it runs into compaction.
  index_t find_conflict_by_term(index_t i, term_t t) const;

  index_t committed() const { return committed_; }
  void commit_to(index_t i);  // only ever moves forward, never past last_index()
  index_t applied() const { return applied_; }
  index_t persisted() const { return persisted_; }

  // Ready bookkeeping.
  bool has_unhanded_entries() const { return handed_ < last_index(); }
  std::vector<entry> take_unhanded_entries();
  bool has_unhanded_committed() const { return applying_ < committed_; }
  std::vector<entry> take_unhanded_committed();
  void persisted_to(index_t i, term_t t);  // entries through (i, t) are durable
  void applied_to(index_t i);

  // Snapshots.
  const snapshot_meta& snapshot_metadata() const { return snap_; }
  // Replaces the whole log with the snapshot (follower installs leader state).
  void restore(const snapshot_meta& meta);
  void snapshot_persisted(index_t i);  // the restored snapshot is durable and installed
  // Drops entries through meta.index (the app already has their effects).
  void compact(const snapshot_meta& meta);

 private:
  const entry& at(index_t i) const { return ents_[i - snap_.index - 1]; }
  void truncate_after(index_t i);

  snapshot_meta snap_;
  std::vector<entry> ents_;  // ents_[k].index == snap_.index + 1 + k
  index_t committed_ = 0;
  index_t applied_ = 0;    // acknowledged through advance()
  index_t applying_ = 0;   // handed out in ready.committed
  index_t persisted_ = 0;  // durable (acknowledged through advance())
  index_t handed_ = 0;     // handed out in ready.entries
};

}  // namespace troupe::raft
