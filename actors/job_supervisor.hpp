// job_supervisor: every node's owner of the jobs assigned to it. Follows the
// committed job changes; spawns (and monitors) a job_executor for each job
// assigned here, cancels it when a CancelJob commits or the job is re-queued
// elsewhere, and carries every status change into the log: proposed directly
// on the leader, sent by ForwardJobStatus from a follower, retried until the
// leader accepts it. Answers this node's own worker report for heartbeats.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"
#include "gateway/peer_clients.hpp"
#include "runtime/exec/backend.hpp"

namespace troupe {

struct job_supervisor_state {
  static inline const char* name = "job_supervisor";
  using clock = std::chrono::steady_clock;
  struct running_job {
    job_executor_actor executor;
    std::uint32_t attempt = 0;
    clock::time_point started{};  // for the run time histogram
  };
  config::node_config cfg;
  std::shared_ptr<exec::backend> backend;
  std::shared_ptr<const peer_clients> peers;
  raft_node_actor raft;
  role_change role;
  std::map<std::string, running_job> running;
  std::map<std::string, std::uint32_t> launched;  // latest attempt this process started or reported, per unfinished job
  std::vector<logpb::JobStatusUpdate> outbox;            // waiting to be sent to the leader
  std::vector<logpb::JobStatusUpdate> in_flight;         // sent, not yet acknowledged
  bool executor_ok = true;
  bool probing = false;
  std::uint64_t ticks = 0;
};

job_supervisor_actor::behavior_type job_supervisor(job_supervisor_actor::stateful_pointer<job_supervisor_state> self,
                                                   config::node_config cfg, std::shared_ptr<exec::backend> backend,
                                                   std::shared_ptr<const peer_clients> peers, raft_node_actor raft,
                                                   job_table_actor table);

}  // namespace troupe
