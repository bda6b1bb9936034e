// Where a node takes its next snapshot by count of entries. Each node's
// snapshots fall on its own lattice, phase + k * snapshot_every, with the
// phase spread by its place among the voters: with three voters a third of
// snapshot_every apart. Every node applies the same entries, so with one
// threshold for all (every `snapshot_every` from the last) the whole cluster
// compacted at the same index and so at the same moment. Each encode holds
// its node's applies and its log_store's appends wait behind the pieces, so
// the leader and both followers were slow together: a stall of the commit
// path, not of one node (docs/BENCHMARKS.md, thirty-first and thirty-fourth
// rounds). Staggered, the nodes compact one after another, and while one
// does, the others make a quorum.
//
// A snapshot still comes at least snapshot_every entries after the last (what
// `[raft] snapshot_every` promises), at the first point of the node's lattice
// from there: the log between two holds fewer than 2 * snapshot_every
// entries, exactly snapshot_every in a steady run. A node that installed a
// leader's snapshot, or took one late (raft_node's byte rule), returns to its
// lattice with the next. Pure.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/raft/membership.hpp"

namespace troupe {

// A node's place among the nodes whose snapshots are spread: its rank among
// the voters (by id), or one more place when it is not a voter (a learner,
// or a node being removed).
struct snapshot_place {
  std::size_t rank = 0;
  std::size_t nodes = 1;
};

// Read from the configuration itself: raft_node asks after every applied
// batch, and a copy of the voters would be an allocation each time.
inline snapshot_place snapshot_place_of(const raft::membership& conf, std::uint64_t id) {
  snapshot_place p{0, 0};
  bool voter = false;
  for (const auto& m : conf.members()) {
    if (!m.voter) continue;
    ++p.nodes;
    if (m.id < id) ++p.rank;
    if (m.id == id) voter = true;
  }
  if (!voter) p.rank = p.nodes++;
  return p;
}

// The index at or after which a node whose last snapshot is at `last` takes
// the next.
inline std::uint64_t next_snapshot_index(std::uint64_t last, std::uint64_t every, snapshot_place place) {
  const std::uint64_t phase = every * place.rank / place.nodes;
  const std::uint64_t earliest = last + every;  // > phase: a phase is less than an interval
  return phase + (earliest - phase + every - 1) / every * every;
}

}  // namespace troupe
