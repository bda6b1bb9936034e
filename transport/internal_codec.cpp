#include "transport/internal_codec.hpp"

namespace troupe::transport {

void to_proto(const worker_report& r, internalpb::WorkerHeartbeatRequest* out) {
  out->set_node_id(r.node_id);
  out->set_address(r.address);
  out->set_http_address(r.http_address);
  out->set_executor_ok(r.executor_ok);
  out->set_executor_backend(r.executor_backend);
  out->set_capacity(r.capacity);
  out->set_prefetch(r.prefetch);
  out->set_feature_level(r.feature_level);
  for (const auto& j : r.running_jobs) out->add_running_jobs(j);
}

worker_report from_proto(const internalpb::WorkerHeartbeatRequest& in) {
  worker_report w;
  w.node_id = in.node_id();
  w.address = in.address();
  w.http_address = in.http_address();
  w.executor_ok = in.executor_ok();
  w.executor_backend = in.executor_backend();
  w.capacity = in.capacity();
  w.prefetch = in.prefetch();
  w.feature_level = in.feature_level() == 0 ? 1 : in.feature_level();
  w.running_jobs.assign(in.running_jobs().begin(), in.running_jobs().end());
  return w;
}

void to_proto(const heartbeat_reply& r, internalpb::WorkerHeartbeatResponse* out) {
  out->set_accepted(r.accepted);
  out->set_leader_id(r.leader_id);
  out->set_term(r.term);
  out->set_leader_address(r.leader_address);
}

heartbeat_reply from_proto(const internalpb::WorkerHeartbeatResponse& in) {
  return heartbeat_reply{in.accepted(), in.leader_id(), in.term(), in.leader_address()};
}

void to_proto(const job_output& o, internalpb::GetJobOutputResponse* out) {
  out->set_found(o.found);
  out->set_stdout_data(o.stdout_data);
  out->set_stderr_data(o.stderr_data);
  out->set_truncated(o.truncated);
  out->set_stdout_size(o.stdout_bytes);
  out->set_stderr_size(o.stderr_bytes);
}

job_output from_proto(const internalpb::GetJobOutputResponse& in) {
  job_output o;
  o.found = in.found();
  o.stdout_data = in.stdout_data();
  o.stderr_data = in.stderr_data();
  o.truncated = in.truncated();
  o.stdout_bytes = in.stdout_size();
  o.stderr_bytes = in.stderr_size();
  return o;
}

}  // namespace troupe::transport
