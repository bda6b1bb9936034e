// Conversions from the node's internal messages to the client-facing protobuf
// responses. Both gateways use them (the HTTP gateway renders the same
// responses as JSON), so gRPC and REST always agree.
#pragma once

#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "protocol/messages.hpp"
#include "scheduler.pb.h"

namespace troupe::views {

void to_job_info(const jobs::job& j, scheduler::JobInfo* out);
void to_job_status(const jobs::job& j, scheduler::GetJobStatusResponse* out);
jobs::list_query to_list_query(const scheduler::ListJobsRequest& r);
scheduler::GetClusterStatusResponse cluster_status(const config::node_config& cfg, const raft_status& rs,
                                                   const worker_list& workers);
scheduler::GetRaftLogEntriesResponse raft_log(const log_page& page);
const char* role_name(raft::role r);

// outcome -> gRPC status (the code tables of the API reference).
grpc::StatusCode grpc_code(code c);

// Validation shared by the gateways; an empty string means valid.
std::string check_command(const std::string& command, std::size_t max_bytes);
std::string check_image(const std::string& image);
std::string check_job_id(const std::string& id);

}  // namespace troupe::views
