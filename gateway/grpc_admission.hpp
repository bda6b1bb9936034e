// What every client-facing gRPC service of a node does before anything else
// (SchedulerService, AdminService): check the caller's token for the
// operation, and hold the request to the client message cap.
#pragma once

#include <optional>
#include <string_view>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "service/access.hpp"

namespace troupe {

// The raw "authorization" metadata value, if the client sent one.
std::optional<std::string_view> authorization(const grpc::CallbackServerContext* ctx);

// OK, or the status to finish the call with: UNAUTHENTICATED or
// PERMISSION_DENIED from the gate, RESOURCE_EXHAUSTED for a request above
// [limits] client_message_bytes (the server's own receive cap is the peers'
// larger one; see start_grpc_server).
grpc::Status admit(grpc::CallbackServerContext* ctx, const access::gate& gate, access::operation op,
                   const google::protobuf::Message& req, const config::limits_options& limits);

}  // namespace troupe
