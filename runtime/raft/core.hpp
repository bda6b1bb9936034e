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

enum class propose_error {
  none,
  not_leader,
  transfer_in_progress,
  // Configuration changes only: one is appended but not committed yet, or
  // this leader has not committed an entry of its term yet (thesis 4.1 and
  // the single-server-change fix in Ongaro's raft-dev post of 2015).
  conf_change_pending,
  conf_change_invalid,  // more than one voter changed, or no voter left
};

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
  bool voter = true;  // false: a learner (replicated to, never counted)
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
  // How many tick() calls from now the first one that does more than count
  // comes: a heartbeat or quorum check (leader), a campaign (a follower or
  // candidate that may stand). Until then tick() only counts, so a driver may
  // sleep that long, provided it delivers the ticks that passed before it
  // steps any message (the lease and the campaign read the counts). At least 1.
  int ticks_until_due() const;
  void step(const message& m);
  propose_result propose(std::string data);  // leader only; batches naturally
  // Appends a configuration entry that moves the cluster to `next` (thesis
  // ch. 4, one server at a time). It takes effect on each server as soon as
  // that server appends it; a leader that removed itself steps down once it
  // commits. *why gets the reason for conf_change_invalid.
  propose_result propose_conf_change(membership next, std::string* why = nullptr);
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
  // that log prefix and keep s to send to lagging followers. Returns the
  // metadata to persist with the data: the core adds the configuration as of
  // that index (the app never sees configuration entries), and a snapshot
  // stored without it would bring back the seed list after a restart.
  [[nodiscard]] snapshot_meta compact(const snapshot& s);
  // The same bytes as the stored snapshot's, held elsewhere (the app mapped
  // the file it persisted them to, so that the heap copy can go): taken if
  // the core still stores the snapshot at `index` and the sizes agree.
  // Returns whether they were taken.
  bool replace_snapshot_data(index_t index, snapshot_bytes data);

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
  // The latest configuration in the log, committed or not (thesis 4.1), and
  // the index of the entry (or snapshot) it comes from.
  const membership& conf() const { return conf_; }
  index_t conf_index() const { return conf_index_; }
  bool conf_change_pending() const { return conf_index_ > log_.committed(); }
  // The configuration in effect at index i (the snapshot's for compacted i).
  membership conf_at(index_t i) const;
  std::vector<node_id> voters() const { return conf_.voters(); }
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
    membership conf;
    std::string data;
  };

  // Role transitions (Figure 4).
  void become_follower(term_t term, node_id lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(term_t term);
  void campaign(bool pre_vote, bool transfer);
  void send_vote_request(node_id to, msg_type type, term_t vote_term, bool transfer);
  void reset_randomized_timeout();

  // Elections.
  void tick_election();
  void tick_heartbeat();
  void handle_vote_request(const message& m);
  bool wins_pre_vote_tie(const message& m) const;
  void handle_vote_response(const message& m);
  bool in_lease() const;
  std::size_t quorum() const { return conf_.voter_count() / 2 + 1; }
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

  // Configuration (thesis ch. 4).
  void note_conf_entries(const std::vector<entry>& ents);  // after entries were appended
  void forget_overwritten_confs();                           // after a suffix may have been replaced
  void refresh_conf();
  void maybe_promote_learner();
  void prune_progress();  // leader: drop removed members once their removal committed
  bool maybe_step_down_removed();

  // Read index.
  void release_confirmed_reads(const std::string& context);

  void send(message m);
  hard_state current_hard_state() const { return {term_, vote_, log_.committed()}; }

  config cfg_;
  std::function<std::uint64_t()> random_;
  raft_log log_;
  // Configuration: the snapshot's, then every configuration entry of the
  // uncompacted log (index -> term, membership), so that a truncated suffix
  // takes its configuration with it. conf_ is the latest of them.
  membership base_conf_;
  std::map<index_t, std::pair<term_t, membership>> conf_log_;
  membership conf_;
  index_t conf_index_ = 0;

  term_t term_ = 0;
  node_id vote_ = no_node;
  node_id lead_ = no_node;
  role role_ = role::follower;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;

  std::map<node_id, bool> votes_;          // candidate / pre_candidate
  std::map<node_id, follower_progress> progress_;   // leader: self and every member
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
