// A node's simulated disk: what survives a crash. It follows the ready
// contract literally, so a bug in that contract shows up as lost data.
#pragma once

#include <optional>
#include <stdexcept>
#include <vector>

#include "runtime/raft/ready.hpp"
#include "runtime/raft/types.hpp"

namespace troupe::raft::sim {

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

  void compact(const snapshot& s) {
    if (s.meta.index <= snap.meta.index) return;
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(s.meta.index - snap.meta.index));
    snap = s;
  }

  restored_state restore() const { return restored_state{hs, snap.meta, entries, snap.data}; }
};

}  // namespace troupe::raft::sim
