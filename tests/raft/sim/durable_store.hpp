// A node's simulated disk: what survives a crash. It follows the ready
// contract literally, so a bug in that contract shows up as lost data.
#pragma once

#include <optional>
#include <stdexcept>
#include <vector>

#include "runtime/raft/ready.hpp"
#include "runtime/raft/types.hpp"

namespace troupe::raft::sim {

// The order in which actors/log_store writes the parts of one ready. Each
// part is durable on its own (fsynced), so a crash can fall between any two.
enum class write_order {
  entries_first,     // snapshot, entries, hard state: what log_store does
  hard_state_first,  // snapshot, hard state, entries: log_store before issue 10
};

enum class disk_write { hard_state, snapshot, entries };

struct durable_store {
  hard_state hs;
  snapshot snap;              // latest snapshot (received or taken by the app)
  std::vector<entry> entries;  // entries after snap.meta.index

  index_t last_index() const { return snap.meta.index + entries.size(); }

  // True if the disk holds entry (i, t), directly or inside the snapshot.
  bool holds(index_t i, term_t t) const {
    if (i <= snap.meta.index) return true;
    if (i > last_index()) return false;
    return entries[i - snap.meta.index - 1].term == t;
  }

  void persist(const ready& r) {
    if (r.hard_state) hs = *r.hard_state;
    if (r.snapshot) {
      snap = *r.snapshot;
      entries.clear();  // a received snapshot replaces the whole log
    }
    if (!r.entries.empty()) {
      const index_t first = r.entries.front().index;
      if (first <= snap.meta.index) throw std::logic_error("ready.entries overlap the snapshot");
      if (first > last_index() + 1) throw std::logic_error("ready.entries leave a gap in the log");
      entries.resize(first - snap.meta.index - 1);
      entries.insert(entries.end(), r.entries.begin(), r.entries.end());
    }
  }

  // The writes log_store makes for `r`, in `order`. Like log_store it saves
  // the hard state only when term or vote moved (the commit index is
  // recovered from the leader), so a restored commit is usually stale.
  std::vector<disk_write> log_store_writes(const ready& r, write_order order) const {
    std::vector<disk_write> w;
    const bool hs_due = r.hard_state && (r.hard_state->term != hs.term || r.hard_state->vote != hs.vote);
    if (r.snapshot) w.push_back(disk_write::snapshot);
    if (hs_due && order == write_order::hard_state_first) w.push_back(disk_write::hard_state);
    if (!r.entries.empty()) w.push_back(disk_write::entries);
    if (hs_due && order == write_order::entries_first) w.push_back(disk_write::hard_state);
    return w;
  }

  // One of those writes, made durable.
  void write(disk_write w, const ready& r) {
    ready part;
    if (w == disk_write::hard_state) part.hard_state = r.hard_state;
    if (w == disk_write::snapshot) part.snapshot = r.snapshot;
    if (w == disk_write::entries) part.entries = r.entries;
    persist(part);
  }

  void compact(const snapshot& s) {
    if (s.meta.index <= snap.meta.index) return;
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(s.meta.index - snap.meta.index));
    snap = s;
  }

  restored_state restore() const { return restored_state{hs, snap.meta, entries, snap.data}; }
};

}  // namespace troupe::raft::sim
