// grpc_gateway: serves SchedulerService, InternalService and RaftService (plus
// grpc.health.v1 and server reflection) on the node's gRPC listen address,
// using gRPC's callback API: a handler validates, passes the request to an
// actor and finishes when the actor answers; no thread waits per request.
// It translates only: every decision is made by the actors it asks.
#pragma once

#include <functional>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"
#include "transport/peer_clients.hpp"

namespace troupe {

struct node_handles {
  raft_node_actor raft;
  job_table_actor table;
  heartbeat_tracker_actor tracker;
  job_supervisor_actor supervisor;
  topology fixed_actors;  // the tree the bootstrap spawned (executors come from job_supervisor)
};

using grpc_gateway_actor = caf::typed_actor<caf::replies_to<status_atom>::with<std::string>>;

struct grpc_gateway_state {
  static inline const char* name = "grpc_gateway";
  std::shared_ptr<void> server;  // the running grpc::Server and its services
  std::string listen;
};

// Owns the running server (from start_grpc_server) for the node's lifetime.
grpc_gateway_actor::behavior_type grpc_gateway(grpc_gateway_actor::stateful_pointer<grpc_gateway_state> self,
                                               std::shared_ptr<void> server, std::string listen);

// Builds, binds and starts the gRPC server; throws std::runtime_error when the
// address cannot be bound, so the node refuses to start half-way.
std::shared_ptr<void> start_grpc_server(caf::actor_system& sys, const config::node_config& cfg,
                                        const node_handles& nodes, std::shared_ptr<const peer_clients> peers);

// Drain this node: refuse new jobs, hand leadership away if it leads, then
// wait (at most 60 s) for its running jobs. Shared by both gateways.
void drain_node(caf::actor_system& sys, const config::node_config& cfg, const node_handles& nodes,
                std::function<void(const outcome&)> done);

}  // namespace troupe
