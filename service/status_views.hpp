// The cluster's state as the client-facing protobuf answers: GetClusterStatus
// (Raft state, the leader's liveness knowledge, drain state from the job
// table) and GetRaftLogEntries. The service builds them; a follower forwards
// to the leader and passes its answer on unchanged.
#pragma once

#include <cstdint>
#include <set>

#include "config/node_config.hpp"
#include "protocol/messages.hpp"
#include "scheduler.pb.h"

namespace troupe::views {

const char* role_name(raft::role r);

// `draining`: the workers this node's job table holds drained.
scheduler::GetClusterStatusResponse cluster_status(const config::node_config& cfg, const raft_status& rs,
                                                   const worker_list& workers,
                                                   const std::set<std::uint64_t>& draining);
scheduler::GetRaftLogEntriesResponse raft_log(const log_page& page);

}  // namespace troupe::views
