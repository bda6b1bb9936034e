// StreamJobs: the current jobs, then every committed change, in order, as one
// gRPC server stream (callback API; the reactor deletes itself when done).
#pragma once

#include <caf/actor_system.hpp>
#include <grpcpp/grpcpp.h>

#include "scheduler.pb.h"
#include "service/node_service.hpp"

namespace troupe {

grpc::ServerWriteReactor<scheduler::JobInfo>* make_job_stream(caf::actor_system& sys, node_service_actor service,
                                                              scheduler::JobStatus filter);

}  // namespace troupe
