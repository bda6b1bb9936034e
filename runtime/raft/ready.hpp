// What the core hands to its driver after a batch of inputs (etcd's Ready).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/raft/message.hpp"
#include "runtime/raft/types.hpp"

namespace troupe::raft {

struct read_state {
  index_t index = 0;  // reads are linearizable once applied_index() >= index
  std::string context;
};

// Process a ready in this order: persist hard_state, snapshot and entries
// (durably), then send messages (or send them first, if
// messages_before_persist), then apply `committed`, then call advance().
struct ready {
  std::optional<troupe::raft::hard_state> hard_state;  // persist atomically if set
  // Received from the leader: persist + install into the app before entries.
  // It replaces the whole stored log: discard every stored entry.
  std::optional<troupe::raft::snapshot> snapshot;
  // Append to the log; if entries.front().index <= last stored index, first
  // truncate the stored suffix from that index.
  std::vector<entry> entries;
  std::vector<message> messages;  // send only after the above are durable...
  // ...unless this is set (a leader's ready whose term and vote are already
  // durable): then send them at once, in parallel with persisting.
  bool messages_before_persist = false;
  std::vector<entry> committed;   // apply in order, after persisting
  std::vector<read_state> read_states;
};

// What a restarting node read back from its durable store.
struct restored_state {
  hard_state hs;
  snapshot_meta snap;
  std::vector<entry> entries;  // entries after snap.index, in order
  // Optional: the application snapshot's bytes, so that a restarted leader can
  // send it to lagging followers without waiting for the next compact().
  snapshot_bytes snap_data;
};

}  // namespace troupe::raft
