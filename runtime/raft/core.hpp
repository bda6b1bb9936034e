// The pure Raft consensus core (extended Raft paper §5 and §7, Ongaro's
// thesis ch. 3, 4.2.3, 6.4, 9.6). No I/O, clocks, threads or global
// randomness: the driver feeds it ticks, messages and proposals, then drains
// a `ready` (persist, send, apply) and calls advance(), as in etcd's raft.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/raft/config.hpp"
#include "runtime/raft/log.hpp"
#include "runtime/raft/message.hpp"
#include "runtime/raft/progress.hpp"
#include "runtime/raft/ready.hpp"
#include "runtime/raft/types.hpp"

namespace troupe::raft {

enum class propose_error { none, not_leader, transfer_in_progress };

struct propose_result {
  propose_error error = propose_error::none;
  index_t index = 0;
  term_t term = 0;
};

struct peer_progress {
  node_id id;
  index_t match = 0;
  index_t next = 0;
  bool recent_active = false;
  replication_state state = replication_state::probe;
  std::size_t inflight = 0;
};

// Campaign context marking a leadership-transfer election (thesis 3.10): it
// bypasses the CheckQuorum lease of followers.
inline constexpr const char* transfer_context = "transfer";

class core {
 public:
  // Throws std::invalid_argument with a precise reason for a bad config or an
  // inconsistent restored state.
  core(config cfg, std::function<std::uint64_t()> random, restored_state init = {});

  void tick();
  void step(const message& m);
  propose_result propose(std::string data);  // leader only; batches naturally
  bool transfer_leadership(node_id target);  // 0 = most up-to-date follower; false if impossible
  void abort_transfer();
  // ReadIndex (thesis 6.4). Leader only: a read_state is emitted once this
  // term has committed an entry and a quorum confirmed leadership. Requests
  // made on a non-leader, or pending when leadership is lost, are dropped;
  // the caller retries against the new leader.
  void read_index(std::string context);

  bool has_ready() const;
  ready take_ready();
  void advance(const ready& r);  // caller persisted, sent, applied everything in r
  // The app snapshotted its state through s.meta.index (<= applied): drop
  // that log prefix and keep s to send to lagging followers.
  void compact(const snapshot& s);

  node_id id() const { return cfg_.id; }
  role state() const { return role_; }
  node_id leader() const { return lead_; }
  term_t term() const { return term_; }
  index_t commit_index() const { return log_.committed(); }
  index_t applied_index() const { return log_.applied(); }
  index_t first_index() const { return log_.first_index(); }
  index_t last_index() const { return log_.last_index(); }
  std::optional<term_t> term_at(index_t i) const { return log_.term_at(i); }
  std::vector<entry> entries(index_t lo, index_t hi_exclusive, std::size_t max_bytes = SIZE_MAX) const;
  std::vector<peer_progress> progress() const;  // leader only (self included), empty otherwise
  node_id transfer_target() const { return transfer_target_; }
  const snapshot_meta& snapshot_metadata() const { return log_.snapshot_metadata(); }
  const std::vector<node_id>& voters() const { return voters_; }
  node_id vote() const { return vote_; }

 private:
  struct pending_read {
    index_t index = 0;
    std::string context;
    std::set<node_id> acks;
  };
  struct incoming_snapshot {
    index_t index = 0;
    term_t term = 0;
    std::vector<node_id> voters;
    std::string data;
  };

  // Role transitions (Figure 4).
  void become_follower(term_t term, node_id lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(term_t term);
  void campaign(bool pre_vote, bool transfer);
  void reset_randomized_timeout();

  // Elections.
  void tick_election();
  void tick_heartbeat();
  void handle_vote_request(const message& m);
  void handle_vote_response(const message& m);
  bool in_lease() const;
  std::size_t quorum() const { return voters_.size() / 2 + 1; }
  bool promotable() const;

  // Replication, leader side.
  void step_leader(const message& m);
  void handle_append_response(const message& m, follower_progress& pr);
  void handle_heartbeat_response(const message& m, follower_progress& pr);
  void handle_snapshot_response(const message& m, follower_progress& pr);
  void send_append(node_id to, bool allow_empty);
  void send_snapshot_chunk(node_id to, follower_progress& pr);
  void bcast_append();
  void bcast_heartbeat(const std::string& context);
  bool maybe_commit();
  void on_commit_in_term();

  // Replication, follower side.
  void handle_append(const message& m);
  void handle_heartbeat(const message& m);
  void handle_snapshot_chunk(const message& m);

  // Read index.
  void release_confirmed_reads(const std::string& context);

  void send(message m);
  hard_state current_hard_state() const { return {term_, vote_, log_.committed()}; }

  config cfg_;
  std::function<std::uint64_t()> random_;
  std::vector<node_id> voters_;
  raft_log log_;

  term_t term_ = 0;
  node_id vote_ = no_node;
  node_id lead_ = no_node;
  role role_ = role::follower;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;

  std::map<node_id, bool> votes_;          // candidate / pre_candidate
  std::map<node_id, follower_progress> progress_;   // leader, one per voter including self
  node_id transfer_target_ = no_node;
  bool append_pending_ = false;            // proposals or a new commit not yet broadcast

  std::deque<pending_read> reads_;         // awaiting quorum confirmation, in request order
  std::vector<std::string> reads_before_commit_;  // awaiting this term's first commit
  std::vector<read_state> read_states_;

  std::optional<snapshot> stored_snapshot_;     // latest compaction, sent to lagging followers
  std::optional<snapshot> snapshot_to_hand_;    // received from the leader, for ready.snapshot
  std::optional<incoming_snapshot> incoming_;   // chunks assembled so far

  std::vector<message> msgs_;
  hard_state handed_hs_;  // last hard state handed out (or restored)
};

}  // namespace troupe::raft
