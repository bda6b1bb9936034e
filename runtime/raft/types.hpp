// Plain data types shared by the Raft core (runtime/raft), the log store
// (runtime/storage) and the transport. No I/O, no clocks, no CAF, no gRPC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/raft/ids.hpp"
#include "runtime/raft/membership.hpp"

namespace troupe::raft {

enum class entry_type : std::uint8_t {
  normal = 0,  // data is an application command (serialized scheduler.Command)
  noop = 1,    // appended by a new leader to commit entries of older terms
  config = 2,  // data is an encoded membership; takes effect once appended (thesis 4.1)
};
constexpr entry_type last_entry_type = entry_type::config;  // for validating decoded entries

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
  membership conf;  // the configuration as of `index` (empty: unknown, use the seed list)
};

struct snapshot {
  snapshot_meta meta;
  std::string data;  // the serialized application state
};

}  // namespace troupe::raft
