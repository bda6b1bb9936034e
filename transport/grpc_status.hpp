// gRPC status <-> errc for node-to-node calls, from one table: a server
// answers an actor's caf::error as a status (plus leader-id/leader-address
// trailing metadata for not_leader), and the calling node turns that status
// back into the same errc, so a requester sees the peer's error as if a local
// actor had answered.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <caf/error.hpp>

namespace troupe::transport {

grpc::Status to_status(grpc::ServerContextBase& ctx, const caf::error& e);

// The status of a finished client call (not OK) as a troupe caf::error.
caf::error from_status(const grpc::Status& s, const grpc::ClientContext& ctx);

}  // namespace troupe::transport
