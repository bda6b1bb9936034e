// The inbound half of the transport: RaftService and InternalService, served
// on the node's one gRPC server (the address peers dial) beside the gateway's
// client-facing services. Each call is delivered to an actor of the
// peer_inbox and finished when it answers; no thread waits per call.
#pragma once

#include <memory>

#include <grpcpp/server_builder.h>

#include "config/node_config.hpp"
#include "transport/interface.hpp"

namespace caf {
class actor_system;
}

namespace troupe {

// Registers both services with `builder`. The returned object owns them and
// must outlive the grpc::Server built from `builder`.
std::shared_ptr<void> add_peer_services(grpc::ServerBuilder& builder, caf::actor_system& sys,
                                        const config::node_config& cfg, peer_inbox inbox);

}  // namespace troupe
