// Plain data types shared by the Raft core (runtime/raft), the log store
// (runtime/storage) and the transport. No I/O, no clocks, no CAF, no gRPC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace troupe::raft {

using node_id = std::uint64_t;  // 0 means "none"
using term_t = std::uint64_t;
using index_t = std::uint64_t;  // log indexes start at 1; 0 means "none"

constexpr node_id no_node = 0;

// The highest term a cluster ever reaches (exclusive). Terms grow by one per
// election, so 2^62 is unreachable honestly; a term at or above it can only
// come from a forged or corrupt message. Keeping far below 2^64 means term+1
// never wraps to 0 (issue 11: a forged term 2^64-1 wrapped, and a later
// election erased committed entries). The transport refuses messages with
// such terms; the core refuses to campaign past it.
constexpr term_t max_term = term_t{1} << 62;
// Same bound for log indexes: index + count, commit arithmetic never wraps.
constexpr index_t max_index = index_t{1} << 62;

enum class entry_type : std::uint8_t {
  normal = 0,  // data is an application command (serialized scheduler.Command)
  noop = 1,    // appended by a new leader to commit entries of older terms
};

struct entry {
  term_t term = 0;
  index_t index = 0;
  entry_type type = entry_type::normal;
  std::string data;

  friend bool operator==(const entry& a, const entry& b) {
    return a.term == b.term && a.index == b.index && a.type == b.type && a.data == b.data;
  }
};

// Persisted before any message that depends on it is sent (Figure 2: "updated
// on stable storage before responding to RPCs").
struct hard_state {
  term_t term = 0;
  node_id vote = no_node;
  index_t commit = 0;

  friend bool operator==(const hard_state& a, const hard_state& b) {
    return a.term == b.term && a.vote == b.vote && a.commit == b.commit;
  }
  friend bool operator!=(const hard_state& a, const hard_state& b) { return !(a == b); }
};

struct snapshot_meta {
  index_t index = 0;  // last log index the snapshot covers
  term_t term = 0;    // term of that entry
  std::vector<node_id> voters;
};

struct snapshot {
  snapshot_meta meta;
  std::string data;  // the serialized application state
};

}  // namespace troupe::raft
