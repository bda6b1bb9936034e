// A job's whole output: read from this node's output store, or fetched from
// the node that ran the job. Gateways never read output themselves.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "service/service_context.hpp"

namespace troupe {

// The output of `job_id` from node `node` (this one or a peer), then `then`
// inside the service actor; found = false when that node did not answer.
void fetch_output(node_service_actor::pointer self, const ctx_ptr& c, std::uint64_t node, const std::string& job_id,
                  std::function<void(job_output)> then);

}  // namespace troupe
