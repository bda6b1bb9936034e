// The leader's view of one follower (thesis §3.5 / etcd's Progress): how much
// of the log matches, what to send next, and how many appends are in flight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "runtime/raft/types.hpp"

namespace troupe::raft {

enum class replication_state : std::uint8_t {
  probe,      // next is a guess: one append per heartbeat until it matches
  replicate,  // next is optimistic: pipeline appends up to the inflight limit
  snapshot,   // log prefix is gone: stream snapshot chunks, appends paused
};

class follower_progress {
 public:
  follower_progress() = default;
  follower_progress(index_t next, std::size_t max_inflight) : next_(next), max_inflight_(max_inflight) {}

  index_t match() const { return match_; }
  index_t next() const { return next_; }
  replication_state state() const { return state_; }
  bool recent_active() const { return recent_active_; }
  void set_recent_active(bool v) { recent_active_ = v; }

  bool paused() const;
  void become_probe();
  void become_replicate();
  void become_snapshot(index_t snap_index);

  // An append carrying entries through `last` was sent.
  void sent_entries(index_t last);
  // In probe state: one message out, wait for an answer or a heartbeat.
  void probe_sent() { probe_sent_ = true; }
  void resume() { probe_sent_ = false; }
  // A heartbeat answer proves the follower is reachable while appends may
  // have been lost: free one slot so replication cannot stall forever.
  void free_first_inflight() {
    if (!inflights_.empty()) inflights_.pop_front();
  }

  // Follower acknowledged everything through n. False if the ack is stale.
  bool maybe_update(index_t n);
  // Follower rejected an append at `rejected`; hint is where to probe next.
  // False if the rejection is stale (answers an append we no longer care about).
  bool maybe_decrease(index_t rejected, index_t hint);

  // Snapshot streaming position (state snapshot only).
  index_t pending_snapshot() const { return pending_snapshot_; }
  std::uint64_t snapshot_offset() const { return snapshot_offset_; }
  void set_snapshot_offset(std::uint64_t o) { snapshot_offset_ = o; }

  std::size_t inflight_count() const { return inflights_.size(); }

 private:
  void free_inflights_through(index_t n);

  index_t match_ = 0;
  index_t next_ = 1;
  replication_state state_ = replication_state::probe;
  bool probe_sent_ = false;
  bool recent_active_ = false;
  std::size_t max_inflight_ = 64;
  std::deque<index_t> inflights_;  // last index of each unacknowledged append, ascending
  index_t pending_snapshot_ = 0;
  std::uint64_t snapshot_offset_ = 0;
};

}  // namespace troupe::raft
