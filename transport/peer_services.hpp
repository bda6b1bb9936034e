// The inbound half of the transport: RaftService and InternalService, served
// on the node's one gRPC server (the address peers dial) beside the gateway's
// client-facing services. Each call is delivered to an actor of the
// peer_inbox and finished when it answers; no thread waits per call.
#pragma once

#include <memory>

#include <grpcpp/server_builder.h>

#include "config/node_config.hpp"
#include "transport/interface.hpp"
#include "transport/member_directory.hpp"

namespace caf {
class actor_system;
}

namespace troupe {

struct peer_services;

// Registers both services with `builder`. The returned object owns them and
// must outlive the grpc::Server built from `builder`. `members` is the
// directory peer_transport keeps in step with the replicated configuration.
std::shared_ptr<peer_services> add_peer_services(grpc::ServerBuilder& builder, caf::actor_system& sys,
                                                 const config::node_config& cfg, peer_inbox inbox,
                                                 std::shared_ptr<const transport::member_directory> members);

// Call before the server's Shutdown, which waits (up to its deadline) for
// every open call: each inbound RaftService.Stream ends at its next batch,
// which a live peer sends at least once per heartbeat interval.
void stop_inbound_streams(peer_services& s);

}  // namespace troupe
