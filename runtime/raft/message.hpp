// The one message type Raft peers exchange. protocol/raft.proto's RaftMessage
// mirrors it field for field, so the transport converts without interpretation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/raft/types.hpp"

namespace troupe::raft {

enum class msg_type : std::uint8_t {
  append = 1,
  append_response = 2,
  heartbeat = 3,
  heartbeat_response = 4,
  vote = 5,
  vote_response = 6,
  pre_vote = 7,
  pre_vote_response = 8,
  snapshot = 9,
  snapshot_response = 10,
  timeout_now = 11,
};

const char* to_string(msg_type t);

// One piece of an InstallSnapshot transfer. In a snapshot_response the
// follower echoes index/term and puts the next offset it expects in `offset`.
struct snapshot_chunk {
  index_t index = 0;
  term_t term = 0;
  membership conf;  // the configuration as of index
  std::uint64_t offset = 0;
  std::string data;
  bool done = false;
  std::uint64_t total_size = 0;
};

// Field meaning per type (etcd conventions):
//  append:           index/log_term = entry preceding `entries`; commit = leader commit
//  append_response:  index = last index now matching (or the rejected index when
//                    reject), reject_hint/log_term = follower's hint for backtracking
//  heartbeat:        commit = min(leader commit, follower match); context echoed back
//  vote, pre_vote:   index/log_term = candidate's last entry; context "transfer"
//                    marks a leadership-transfer campaign that bypasses leases
//  *_response:       reject says whether the vote/pre-vote was granted
struct message {
  msg_type type{};
  node_id from = 0, to = 0;
  term_t term = 0;
  term_t log_term = 0;
  index_t index = 0;
  std::vector<entry> entries;
  index_t commit = 0;
  bool reject = false;
  index_t reject_hint = 0;
  std::string context;
  snapshot_chunk snapshot;
};

}  // namespace troupe::raft
