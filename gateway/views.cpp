#include "gateway/views.hpp"

#include "runtime/jobs/uuid.hpp"

namespace troupe::views {

namespace {
constexpr std::int64_t ns_per_ms = 1000000;

// JobInfo and GetJobStatusResponse carry the same job fields under the same
// names (their numbers differ, which protobuf's generated setters hide).
template <class Msg>
void set_common_fields(const jobs::job& j, Msg* out) {
  out->set_job_id(j.id);
  out->set_command(j.command);
  out->set_status(static_cast<scheduler::JobStatus>(j.status));
  out->set_assigned_worker(j.assigned_worker);
  out->set_executed_by(j.executed_by);
  if (j.exit_code) out->set_exit_code(*j.exit_code);
  out->set_image(j.image);
  out->set_error(j.error);
  out->set_attempts(j.attempts);
  out->set_created_at_ms(j.created_at_ns / ns_per_ms);
  out->set_created_at_ns(j.created_at_ns);
  if (j.completed_at_ns) {
    out->set_completed_at_ms(*j.completed_at_ns / ns_per_ms);
    out->set_completed_at_ns(*j.completed_at_ns);
  }
  if (j.started_at_ns) out->set_started_at_ms(*j.started_at_ns / ns_per_ms);
}

}  // namespace

void to_job_info(const jobs::job& j, scheduler::JobInfo* out) { set_common_fields(j, out); }

void to_job_status(const jobs::job& j, scheduler::GetJobStatusResponse* out) {
  set_common_fields(j, out);
  out->set_output(j.stdout_inline);
  out->set_stderr(j.stderr_inline);
  out->set_output_truncated(j.output_truncated);
}

jobs::list_query to_list_query(const scheduler::ListJobsRequest& r) {
  jobs::list_query q;
  q.page_size = r.page_size();
  q.page_token = r.page_token();
  q.status = static_cast<jobs::job_status>(r.status_filter());
  q.worker = r.worker_id_filter();
  q.command_substring = r.command_filter();
  q.created_after_ms = r.created_after_ms();
  q.created_before_ms = r.created_before_ms();
  return q;
}

const char* role_name(raft::role r) {
  switch (r) {
    case raft::role::leader: return "leader";
    case raft::role::candidate: return "candidate";
    case raft::role::pre_candidate: return "pre_candidate";
    case raft::role::follower: return "follower";
  }
  return "unknown";
}

scheduler::GetClusterStatusResponse cluster_status(const config::node_config& cfg, const raft_status& rs,
                                                   const worker_list& workers) {
  scheduler::GetClusterStatusResponse out;
  out.set_current_term(rs.term);
  out.set_leader_id(rs.leader_id);
  out.set_commit_index(rs.commit_index);
  out.set_last_applied(rs.applied_index);
  out.set_log_length(rs.last_index);
  out.set_node_id(rs.node_id);
  out.set_role(role_name(rs.role));
  for (const auto& m : cfg.members) {
    auto* n = out.add_nodes();
    n->set_node_id(m.id);
    n->set_address(m.address);
    n->set_http_address(m.http_address);
    n->set_role(m.id == rs.leader_id ? "leader" : "follower");
    for (const auto& w : workers.workers) {
      if (w.report.node_id != m.id) continue;
      n->set_is_alive(w.alive || m.id == rs.node_id);
      n->set_draining(w.report.draining);
      n->set_executor_ok(w.report.executor_ok);
      n->set_running_jobs(static_cast<std::uint32_t>(w.report.running_jobs.size()));
      if (!w.report.http_address.empty()) n->set_http_address(w.report.http_address);
    }
    if (m.id == rs.node_id) n->set_match_index(rs.last_index);
    for (const auto& p : rs.peers)
      if (p.id == m.id) n->set_match_index(p.match);
  }
  return out;
}

scheduler::GetRaftLogEntriesResponse raft_log(const log_page& page) {
  scheduler::GetRaftLogEntriesResponse out;
  out.set_commit_index(page.commit_index);
  out.set_last_log_index(page.last_index);
  out.set_first_available_index(page.first_index);
  for (const auto& e : page.entries) {
    auto* info = out.add_entries();
    info->set_index(e.index);
    info->set_term(e.term);
    info->set_is_committed(e.index <= page.commit_index);
    if (e.type == raft::entry_type::noop) {
      info->set_kind("noop");
    } else {
      info->set_kind("command");
      info->mutable_command()->ParseFromString(e.data);
    }
  }
  return out;
}

grpc::StatusCode grpc_code(code c) {
  switch (c) {
    case code::ok: return grpc::StatusCode::OK;
    case code::failed_precondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case code::resource_exhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case code::deadline_exceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case code::unavailable: return grpc::StatusCode::UNAVAILABLE;
    case code::invalid_argument: return grpc::StatusCode::INVALID_ARGUMENT;
    case code::not_found: return grpc::StatusCode::NOT_FOUND;
    case code::internal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::UNKNOWN;
}

std::string check_command(const std::string& command, std::size_t max_bytes) {
  if (command.empty()) return "command must not be empty";
  if (command.size() > max_bytes)
    return "command is " + std::to_string(command.size()) + " bytes; the limit is " + std::to_string(max_bytes);
  if (command.find('\0') != std::string::npos) return "command must not contain NUL bytes";
  return {};
}

std::string check_image(const std::string& image) {
  if (image.size() > 255) return "image name is longer than 255 bytes";
  for (char c : image)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '/' || c == ':' ||
          c == '@'))
      return "image name contains an invalid character";
  return {};
}

std::string check_job_id(const std::string& id) {
  if (!jobs::is_valid_uuid(id)) return "malformed job id \"" + id.substr(0, 64) + "\": expected a UUID";
  return {};
}

}  // namespace troupe::views
