// The node's gRPC server: SchedulerService (client-facing), AdminService
// (operators; gateway/admin_gateway.hpp), InternalService
// and RaftService (node-to-node), grpc.health.v1 and server reflection, on
// the node's gRPC listen address, with gRPC's callback API: a handler passes
// the request to an actor and finishes when the actor answers; no thread
// waits per request. SchedulerService translates only: every client
// operation is the node service's (service/node_service.hpp).
#pragma once

#include <memory>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"
#include "service/node_service.hpp"
#include "transport/interface.hpp"
#include "transport/member_directory.hpp"

namespace troupe {

// The running server and its services; stops the server when destroyed.
struct grpc_server;

// Builds, binds and starts the gRPC server; throws std::runtime_error when the
// address cannot be bound, so the node refuses to start half-way.
std::shared_ptr<grpc_server> start_grpc_server(caf::actor_system& sys, const config::node_config& cfg,
                                               node_service_actor service, peer_inbox inbox,
                                               std::shared_ptr<const transport::member_directory> members);

}  // namespace troupe
