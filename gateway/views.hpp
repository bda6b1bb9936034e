// Conversions between jobs and the client-facing protobuf messages (the
// cluster and Raft log answers are built by the service: service/status_views).
#pragma once

#include "config/node_config.hpp"
#include "protocol/messages.hpp"
#include "scheduler.pb.h"

namespace troupe::views {

void to_job_info(const jobs::job& j, scheduler::JobInfo* out);
void to_job_status(const jobs::job& j, scheduler::GetJobStatusResponse* out);
jobs::list_query to_list_query(const scheduler::ListJobsRequest& r);

}  // namespace troupe::views
