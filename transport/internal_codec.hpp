// InternalService messages <-> the node's own message structs, shared by the
// client side (peer_transport) and the server side (peer_services) so both
// read and write every field alike.
#pragma once

#include "internal.grpc.pb.h"
#include "protocol/messages.hpp"

namespace troupe::transport {

void to_proto(const worker_report& r, internalpb::WorkerHeartbeatRequest* out);
worker_report from_proto(const internalpb::WorkerHeartbeatRequest& in);

void to_proto(const heartbeat_reply& r, internalpb::WorkerHeartbeatResponse* out);
heartbeat_reply from_proto(const internalpb::WorkerHeartbeatResponse& in);

void to_proto(const job_output& o, internalpb::GetJobOutputResponse* out);
job_output from_proto(const internalpb::GetJobOutputResponse& in);

}  // namespace troupe::transport
