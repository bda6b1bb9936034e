// raft_node: owns the pure Raft core. Ticks it from a CAF timer, steps peer
// messages into it, and runs etcd's application loop with one ready bundle in
// flight: persist (log_store) -> send (peer_transport) -> apply (job_table) ->
// advance; a leader sends first and persists in parallel (the core says
// when: raft::ready::messages_before_persist). Tells role listeners its role, and when it has caught up with
// what the cluster had committed at its start (role_change::caught_up).
// Client proposals wait, keyed by log index, until their entry
// commits with the term they were proposed in and is applied (a
// proposal_result, or the table's refusal as a typed error), is overwritten by
// another leader's entry (unavailable), or the commit deadline passes
// (deadline_exceeded). Every deadline reads the injected clock.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"

namespace troupe {


struct raft_node_state {
  static inline const char* name = "raft_node";
  using clock = std::chrono::steady_clock;

  struct pending_proposal {
    raft::term_t term = 0;
    clock::time_point deadline;
    caf::typed_response_promise<proposal_result> promise;
    std::string job_id;
    std::int64_t created_at_ns = 0;
  };
  struct transfer_waiter {
    std::uint64_t target = 0;  // 0: any other node
    clock::time_point deadline;
    caf::typed_response_promise<std::uint64_t> promise;
  };
  struct member_waiter {  // a configuration entry, answered once committed
    raft::term_t term = 0;
    clock::time_point deadline;
    caf::typed_response_promise<member_result> promise;
  };
  struct read_waiter {
    raft::index_t index = 0;   // 0 until the core confirmed leadership
    raft::term_t term = 0;     // the leader's term when it was asked
    clock::time_point deadline;
    caf::typed_response_promise<std::uint64_t> promise;
  };

  std::unique_ptr<raft::core> core;
  // When a Raft message from each peer last arrived here (membership
  // changes check that the new configuration's majority is reachable).
  std::map<std::uint64_t, clock::time_point> heard_from;
  config::node_config cfg;
  log_store_actor store;
  snapshot_writer_actor snapshot_writer;
  job_table_actor table;
  peer_transport_actor transport;
  std::mt19937_64 rng;
  std::function<clock::time_point()> now;

  // Lazy ticks (catch_up_ticks, arm_tick in raft_node.cpp): the start of the
  // last tick the core was given, and the time of the earliest tick timer
  // still pending (none when unset).
  clock::time_point tick_base{};
  std::optional<clock::time_point> tick_armed;

  bool ready_in_flight = false;
  bool stopping = false;  // the node is shutting down: proposals are refused
  raft::hard_state stored_hs;  // the last hard state handed to log_store
  // The compaction in flight (maybe_snapshot): its metadata, once the
  // table's first piece named the index, and what its log line reports.
  struct snapshot_progress {
    raft::snapshot_meta meta;
    std::uint64_t bytes = 0;
    std::size_t pieces = 0;
    clock::time_point began{};
    clock::duration table{};  // waiting for the table's pieces
    clock::duration store{};  // waiting for log_store to write them
  };
  std::optional<snapshot_progress> snapshot;
  // When to snapshot (maybe_snapshot): the size of the last snapshot taken,
  // installed or restored, and the entry bytes applied since.
  std::uint64_t snapshot_bytes = 0;
  std::uint64_t applied_bytes_since_snapshot = 0;
  raft::index_t applied_sent = 0;     // last index handed to job_table
  raft::index_t applied_done = 0;     // last index job_table answered for
  // Catching up after a start: the first commit index this node learns that
  // covers an entry of the current leader's term (so it is the leader's real
  // commit, not a stale one restored from disk); caught up once applied.
  raft::index_t catch_up_target = 0;
  bool caught_up = false;
  std::map<raft::index_t, pending_proposal> pending;
  // Job status reports, and while SubmitJobs come during a backlog the
  // dispatcher's assignments, not yet handed to the core (hold_for in
  // raft_node.cpp): they go with the next other proposal, or at held_until.
  struct held_proposal {
    logpb::Command cmd;
    caf::typed_response_promise<proposal_result> promise;
  };
  std::vector<held_proposal> held;
  clock::time_point held_until{};
  // The leader's dispatcher says jobs wait for a free slot: reports are held
  // for config::status_hold_busy instead.
  bool backlog = false;
  clock::time_point last_submit{};  // when the last SubmitJob was proposed here
  std::vector<transfer_waiter> transfers;
  std::map<std::string, read_waiter> reads;  // by read context
  std::map<raft::index_t, member_waiter> member_changes;  // by index
  std::uint64_t next_read = 0;
  std::vector<role_listener> listeners;
  role_change last_role;
  std::uint64_t proposals = 0;
  std::uint64_t elections = 0;
};

struct raft_node_init {
  config::node_config cfg;
  raft::restored_state restored;
  log_store_actor store;
  snapshot_writer_actor snapshot_writer;  // writes this node's own snapshots
  job_table_actor table;
  peer_transport_actor transport;
  // Every deadline (commit, transfer, read) is measured on this clock, so an
  // in-process test can drive expiry.
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
};

raft_node_actor::behavior_type raft_node(raft_node_actor::stateful_pointer<raft_node_state> self,
                                         std::shared_ptr<raft_node_init> init);

// errc::not_leader naming `leader_id` and its client address from the
// membership: "Not the leader: leader is node 2 at 127.0.0.1:50052" (or
// "... the leader is unknown (election in progress)" for 0). `conf` is the
// replicated configuration, for members added after the start.
caf::error not_leader(const config::node_config& cfg, std::uint64_t leader_id, const raft::membership& conf = {});

}  // namespace troupe
