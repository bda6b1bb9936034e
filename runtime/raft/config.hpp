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
  std::vector<node_id> voters;  // includes id; ignored when restoring from a snapshot with voters
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
