// Static configuration of one Raft core and the role enumeration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/raft/types.hpp"

namespace troupe::raft {

enum class role : std::uint8_t { follower, pre_candidate, candidate, leader };

const char* to_string(role r);

struct config {
  node_id id = 0;
  // The seed configuration of a first start: includes id unless `join`.
  // Ignored once the restored state holds a configuration (a snapshot's, or
  // a configuration entry in the log): the replicated one wins.
  std::vector<node_id> voters;
  // Start with no configuration and wait for a leader to replicate one: a
  // server being added to a running cluster (it is not in the seed list the
  // cluster started from, and must not campaign on its own).
  bool join = false;
  // The leader promotes a learner to voter, one at a time, once the learner
  // answered recently and its log is within promote_lag entries of the
  // leader's (thesis 4.2.1: catch up before counting in a majority).
  bool auto_promote = true;
  std::size_t promote_lag = 512;
  int election_tick = 10;       // election timeout is drawn from [election_tick, 2*election_tick)
  int heartbeat_tick = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  std::size_t max_entries_per_append = 512;
  // Entry data bytes per append message; at least one entry is always sent,
  // even a larger one (etcd's MaxSizePerMsg), so a follower behind by big
  // entries still catches up without one message exceeding the peer limit.
  std::size_t max_append_bytes = 1 << 20;
  std::size_t max_inflight_appends = 64;
  std::size_t snapshot_chunk_bytes = 1 << 20;
};

// Returns an empty string when cfg is usable, otherwise a precise reason.
std::string validate(const config& cfg);

}  // namespace troupe::raft
