#include "service/status_views.hpp"

namespace troupe::views {

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
                                                   const worker_list& workers,
                                                   const std::set<std::uint64_t>& draining) {
  scheduler::GetClusterStatusResponse out;
  out.set_current_term(rs.term);
  out.set_leader_id(rs.leader_id);
  out.set_commit_index(rs.commit_index);
  out.set_last_applied(rs.applied_index);
  out.set_log_length(rs.last_index);
  out.set_node_id(rs.node_id);
  out.set_role(role_name(rs.role));
  // The replicated configuration (learners marked "learner"); the config
  // file's members only while there is none yet (a joining node).
  std::vector<raft::member> members = rs.conf.members();
  if (rs.conf.empty())
    for (const auto& m : cfg.members) members.push_back(raft::member{m.id, true, m.address, m.http_address, m.wire_address});
  for (const auto& m : members) {
    auto* n = out.add_nodes();
    n->set_node_id(m.id);
    n->set_address(m.address);
    n->set_http_address(m.http_address);
    n->set_role(!m.voter ? "learner" : m.id == rs.leader_id ? "leader" : "follower");
    n->set_draining(draining.count(m.id) > 0);
    for (const auto& w : workers.workers) {
      if (w.report.node_id != m.id) continue;
      n->set_is_alive(w.alive || m.id == rs.node_id);
      n->set_executor_ok(w.report.executor_ok);
      n->set_running_jobs(static_cast<std::uint32_t>(w.report.running_jobs.size()));
      if (!w.report.http_address.empty()) n->set_http_address(w.report.http_address);
    }
    if (m.id == rs.node_id) n->set_match_index(rs.last_index);
    for (const auto& p : rs.peers) {
      if (p.id != m.id) continue;
      n->set_match_index(p.match);
      // A learner is no worker (no heartbeats): alive means it answers the leader.
      if (!m.voter && m.id != rs.node_id) n->set_is_alive(p.recent_active);
    }
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
    } else if (e.type == raft::entry_type::config) {
      info->set_kind("config");  // a membership change (troupe member add/remove, or a promotion)
    } else {
      info->set_kind("command");
      info->mutable_command()->ParseFromString(e.data);
    }
  }
  return out;
}

}  // namespace troupe::views
