// Figure 3 of the Raft paper, checked after every simulation step:
// Election Safety, Leader Append-Only, Log Matching, Leader Completeness,
// State Machine Safety, plus "no committed entry is ever lost" (a majority
// of disks holds every committed entry) and ReadIndex linearizability.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "runtime/raft/core.hpp"
#include "tests/raft/sim/durable_store.hpp"

namespace troupe::raft::sim {

struct safety_violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class checker {
 public:
  explicit checker(std::size_t cluster_size) : quorum_(cluster_size / 2 + 1) {}

  // A node's ready is about to be persisted: its entries must be consistent
  // with every other log (Log Matching) given the node's log before them.
  void on_ready_entries(const core& c, const std::vector<entry>& ents);
  // The node applied `e`; `hash` is its state machine's hash after it.
  void on_apply(node_id n, const entry& e, std::uint64_t hash);
  // The node installed a snapshot claiming state `hash` at `index`.
  void on_snapshot_install(node_id n, index_t index, std::uint64_t hash);
  // After any event touching the node: roles, terms, commit indexes.
  void on_node_state(const core& c);
  void on_restart(node_id n);
  // A read_state returned; `min_index` was the highest commit anywhere when it was requested.
  void on_read_state(node_id n, index_t index, index_t min_index);
  // Every committed entry must be on a majority of disks.
  void check_durability(const std::vector<const durable_store*>& disks) const;
  // With configuration changes: every majority of `voters` must hold every
  // committed entry on disk (fewer than a quorum of them lack it), so that no
  // election in that configuration can lose it. An entry committed by a
  // majority of the next configuration meets this for the previous one too:
  // with one voter changed, their majorities always overlap (thesis 4.1).
  void check_durability(const std::map<node_id, const durable_store*>& disks,
                        const std::vector<node_id>& voters) const;
  // The newest committed configuration entry (index 0 and an empty
  // membership if none committed yet).
  std::pair<index_t, membership> latest_committed_conf() const;
  std::size_t committed_conf_entries() const;

  index_t max_commit() const { return committed_.empty() ? 0 : committed_.rbegin()->first; }
  term_t max_commit_term() const { return committed_.empty() ? 0 : committed_.rbegin()->second.e.term; }
  std::size_t committed_count() const { return committed_.size(); }
  std::size_t leaders_elected() const { return leader_of_term_.size(); }
  std::uint64_t hash_at(index_t i) const;

 private:
  struct committed_entry {
    entry e;
    term_t observed_in;  // lowest term of any node that saw it committed
  };
  struct leader_view {
    term_t term = 0;
    index_t last = 0;
    term_t last_term = 0;
  };
  void record_committed(const core& c, index_t i);

  std::size_t quorum_;
  std::map<term_t, node_id> leader_of_term_;
  std::map<node_id, leader_view> leaders_;
  std::map<std::pair<index_t, term_t>, std::pair<entry, term_t>> entry_at_;  // -> (entry, prev term)
  std::map<index_t, committed_entry> committed_;
  std::map<node_id, index_t> seen_commit_;
  std::map<index_t, std::uint64_t> hash_at_;
};

}  // namespace troupe::raft::sim
