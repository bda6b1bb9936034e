// MembershipService (protocol/membership.proto) on the node's gRPC server:
// translates each call into one node_service message (service/membership.hpp)
// and its answer or errc into a response (gateway/grpc_errors.cpp's table).
// Like SchedulerService, every call first passes the token gate: admin for
// AddMember / RemoveMember, read for ListMembers.
#pragma once

#include <memory>

#include <caf/actor_system.hpp>
#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "service/node_service.hpp"

namespace troupe {

std::unique_ptr<grpc::Service> make_membership_service(caf::actor_system& sys, const config::node_config& cfg,
                                                       node_service_actor service);

}  // namespace troupe
