// StreamJobs: the current jobs, then every committed change, in order, as one
// gRPC server stream (callback API; the reactor deletes itself when done).
//
// Bounded (issue 11: 300 subscribers that never read took a node from 36 to
// 476 MB and made it miss heartbeats): at most limits.stream_subscribers
// streams are open at once, beyond that a call ends RESOURCE_EXHAUSTED at
// once; each stream's backlog of unsent changes is capped in bytes, and a
// subscriber that falls that far behind is ended RESOURCE_EXHAUSTED
// "subscriber too slow" (it reconnects and gets a fresh snapshot).
#pragma once

#include <cstdint>

#include <caf/actor_system.hpp>
#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "scheduler.pb.h"
#include "service/node_service.hpp"

namespace troupe {

grpc::ServerWriteReactor<scheduler::JobInfo>* make_job_stream(caf::actor_system& sys, node_service_actor service,
                                                              scheduler::JobStatus filter,
                                                              const config::limits_options& limits);

// Streams open now (counted from start to OnDone), for tests and metrics.
std::uint32_t open_job_streams();

// Bytes of unsent changes one stream may hold beyond its initial snapshot.
inline constexpr std::size_t job_stream_backlog_bytes = 1 << 20;

}  // namespace troupe
