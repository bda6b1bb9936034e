// The node-to-node gRPC services: InternalService (job output, worker
// heartbeats, job status forwarding, drain entries for followers) and
// RaftService (one-way Raft message batches). Not client-facing.
#pragma once

#include <memory>

#include <caf/actor_system.hpp>
#include <grpcpp/grpcpp.h>

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"
#include "internal.grpc.pb.h"
#include "raft.grpc.pb.h"
#include "service/node_service.hpp"

namespace troupe {

std::unique_ptr<grpc::Service> make_internal_service(caf::actor_system& sys, config::node_config cfg,
                                                     raft_node_actor raft, heartbeat_tracker_actor tracker,
                                                     node_service_actor service);
std::unique_ptr<grpc::Service> make_raft_service(raft_node_actor raft);

}  // namespace troupe
