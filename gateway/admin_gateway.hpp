// AdminService (protocol/admin.proto): operator calls, on the node's gRPC
// listener next to SchedulerService. Translates only, like SchedulerService:
// admits the call (admin role), asks node_service, maps errors with the one
// errc table (gateway/grpc_errors.cpp). One method per RPC; new operator
// calls (membership) are added as methods of the same class.
#pragma once

#include <memory>

#include <caf/actor_system.hpp>
#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "service/node_service.hpp"

namespace troupe {

std::unique_ptr<grpc::Service> make_admin_service(caf::actor_system& sys, const config::node_config& cfg,
                                                  node_service_actor service);

}  // namespace troupe
