// Small client-side helpers shared by the integration tests: SchedulerService
// calls with deadlines, bounded waits on job state, HTTP via libcurl, and
// running the `troupe` CLI as a child process.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "scheduler.grpc.pb.h"

namespace troupe::integration {

using std::chrono::milliseconds;

grpc::Status submit(scheduler::SchedulerService::Stub& s, const std::string& command,
                    scheduler::SubmitJobResponse* out = nullptr, milliseconds deadline = milliseconds(10000));
grpc::Status job_status(scheduler::SchedulerService::Stub& s, const std::string& id,
                        scheduler::GetJobStatusResponse* out, milliseconds deadline = milliseconds(3000));
grpc::Status cancel(scheduler::SchedulerService::Stub& s, const std::string& id,
                    scheduler::CancelJobResponse* out = nullptr, milliseconds deadline = milliseconds(10000));
grpc::Status list(scheduler::SchedulerService::Stub& s, const scheduler::ListJobsRequest& req,
                  scheduler::ListJobsResponse* out, milliseconds deadline = milliseconds(5000));
// Every job matching `req` (filters kept), following page tokens (bounded).
std::vector<scheduler::JobInfo> list_all(scheduler::SchedulerService::Stub& s, scheduler::ListJobsRequest req);

// Sends every command as its own SubmitJob at once (async, no thread per
// call) and waits at most `wait` for all answers. Calls still unanswered then
// are cancelled (and their CANCELLED status awaited), so nothing outlives
// this call. all_answered says whether every call finished within `wait`.
struct concurrent_submits {
  bool all_answered = false;
  std::vector<grpc::Status> statuses;  // in the order of `commands`
};
concurrent_submits submit_concurrently(scheduler::SchedulerService::Stub& s, const std::vector<std::string>& commands,
                                       milliseconds deadline, milliseconds wait);

bool is_terminal(scheduler::JobStatus st);
// Polls GetJobStatus until the job is terminal (or `want` when given).
// Returns the last answer; its status is UNSPECIFIED when no call succeeded.
scheduler::GetJobStatusResponse wait_for_job(scheduler::SchedulerService::Stub& s, const std::string& id,
                                             milliseconds timeout,
                                             scheduler::JobStatus want = scheduler::JOB_STATUS_UNSPECIFIED);

bool looks_like_uuid(const std::string& s);
std::int64_t now_ms();

struct http_reply {
  long code = 0;       // 0: no answer
  std::string body;
  std::string error;   // curl's message when code == 0
  std::vector<std::string> headers;  // raw header lines ("Name: value"), CRLF stripped
};
// The value of header `name` (case-insensitive) in `r`, or "" when absent.
std::string header(const http_reply& r, const std::string& name);
// ca_file: for https, the only CA trusted (a cluster with [tls]).
http_reply http(const std::string& method, const std::string& url, const std::string& body = "",
                milliseconds timeout = milliseconds(10000), const std::string& ca_file = "");

struct process_result {
  int exit_code = -1;  // -1: did not exit in time (killed)
  std::string output;  // stdout and stderr together
};
// Runs `argv` (argv[0] a path) with a bounded wait; kills it by pid on timeout.
process_result run_process(const std::vector<std::string>& argv, milliseconds timeout);

}  // namespace troupe::integration
