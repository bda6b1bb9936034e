// heartbeat_tracker: on every node, sends this node's WorkerHeartbeat to the
// leader every worker.heartbeat_ms (2 s) and at once when the leader changes.
// On the leader, records every worker's heartbeats: a worker is registered
// (RegisterWorker entry) on its first heartbeat and counts as dead, excluded
// from assignment, once unseen for worker.dead_after_ms (5 s). Listeners (the
// dispatcher) get the full worker list whenever liveness, capacity or
// executor health or the reported running jobs of any worker change.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"

namespace troupe {

struct heartbeat_tracker_state {
  static inline const char* name = "heartbeat_tracker";
  using clock = std::chrono::steady_clock;
  struct seen {
    worker_report report;
    clock::time_point last_seen;
  };
  config::node_config cfg;
  peer_transport_actor transport;  // heartbeats to the leader
  raft_node_actor raft;
  job_supervisor_actor supervisor;
  role_change role;
  std::map<std::uint64_t, seen> workers;     // leader only: what each worker said last
  std::set<std::uint64_t> registered;        // RegisterWorker proposed this leadership
  std::vector<worker_listener> listeners;
  clock::time_point last_beat{};
  clock::time_point next_tick{};             // when the latest scheduled tick fires
  std::string last_published;                // fingerprint of the last list sent
};

heartbeat_tracker_actor::behavior_type heartbeat_tracker(
    heartbeat_tracker_actor::stateful_pointer<heartbeat_tracker_state> self, config::node_config cfg,
    peer_transport_actor transport, raft_node_actor raft, job_supervisor_actor supervisor);

}  // namespace troupe
