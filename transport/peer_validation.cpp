#include "transport/peer_validation.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>

#include "config/limits.hpp"
#include "job_status.pb.h"
#include "runtime/common/log.hpp"
#include "runtime/raft/message.hpp"
#include "runtime/raft/types.hpp"

namespace troupe::transport {
namespace {

using raft::msg_type;

constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr std::size_t max_context_bytes = 256;  // read-index contexts and "transfer" are a few bytes
constexpr int max_running_jobs = 1 << 16;
constexpr std::size_t max_job_id_bytes = 128;

std::string num(std::uint64_t v) { return std::to_string(v); }

// Whether a line under `key` may be logged now: at most one per `period`.
// When it may, `left_out` is how many were held back since the last one.
bool log_due(const std::string& key, std::chrono::steady_clock::duration period, std::uint64_t& left_out) {
  using clock = std::chrono::steady_clock;
  struct slot {
    clock::time_point last{};
    std::uint64_t held = 0;
  };
  static std::mutex mu;
  static std::map<std::string, slot> slots;
  std::lock_guard<std::mutex> g(mu);
  auto& s = slots[key];
  const auto now = clock::now();
  if (s.last != clock::time_point{} && now - s.last < period) {
    ++s.held;
    return false;
  }
  left_out = s.held;
  s.last = now;
  s.held = 0;
  return true;
}

bool known_type(std::uint32_t t) {
  return t >= static_cast<std::uint32_t>(msg_type::append) && t <= static_cast<std::uint32_t>(msg_type::timeout_now);
}

const char* family_name(codec::raft_rpc f) {
  switch (f) {
    case codec::raft_rpc::append_entries: return "AppendEntries";
    case codec::raft_rpc::request_vote: return "RequestVote";
    case codec::raft_rpc::install_snapshot: return "InstallSnapshot";
    case codec::raft_rpc::timeout_now: return "TimeoutNow";
  }
  return "?";
}

std::string check_entries(const raftpb::RaftMessage& m, const peer_rules& r) {
  // Entries follow prev (index/log_term) one by one, terms never decrease and
  // never exceed the leader's term (Log Matching; a leader only appends its
  // own term's entries after older ones).
  std::uint64_t prev_term = m.log_term();
  for (int i = 0; i < m.entries_size(); ++i) {
    const auto& e = m.entries(i);
    const std::string at = "entries[" + std::to_string(i) + "]";
    const std::uint64_t want = m.index() + 1 + static_cast<std::uint64_t>(i);  // m.index() < max_index: no wrap
    if (e.index() != want)
      return at + ".index: " + num(e.index()) + ", expected " + num(want) + " (consecutive from index+1)";
    if (e.term() > m.term()) return at + ".term: " + num(e.term()) + " exceeds the message term " + num(m.term());
    if (e.term() < prev_term) return at + ".term: " + num(e.term()) + " is below the preceding term " + num(prev_term);
    if (e.type() > static_cast<std::uint32_t>(raft::last_entry_type))
      return at + ".type: unknown entry type " + num(e.type());
    if (e.type() == static_cast<std::uint32_t>(raft::entry_type::config)) {
      std::string why;
      const auto conf = raft::decode_membership(e.data(), &why);
      if (!conf) return at + ".data: bad configuration: " + why;
      if (conf->voter_count() == 0) return at + ".data: a configuration without voters";
    }
    if (e.data().size() > r.max_entry_bytes)
      return at + ".data: " + num(e.data().size()) + " bytes exceeds the entry limit of " + num(r.max_entry_bytes);
    prev_term = e.term();
  }
  if (m.entries_size() > 0 && m.index() + static_cast<std::uint64_t>(m.entries_size()) >= raft::max_index)
    return "entries: last index would reach " + num(raft::max_index);
  return {};
}

std::string check_snapshot(const raftpb::RaftMessage& m, const peer_rules&) {
  const bool snap = m.type() == static_cast<std::uint32_t>(msg_type::snapshot) ||
                    m.type() == static_cast<std::uint32_t>(msg_type::snapshot_response);
  if (!snap) {
    if (m.has_snapshot()) return "snapshot: only snapshot messages carry one";
    return {};
  }
  const auto& s = m.snapshot();
  if (s.index() >= raft::max_index)
    return "snapshot.index: " + num(s.index()) + " is at or above " + num(raft::max_index);
  if (s.term() >= raft::max_term) return "snapshot.term: " + num(s.term()) + " is at or above " + num(raft::max_term);
  if (s.term() > m.term()) return "snapshot.term: " + num(s.term()) + " exceeds the message term " + num(m.term());
  if (m.type() == static_cast<std::uint32_t>(msg_type::snapshot_response)) {
    if (!s.data().empty()) return "snapshot.data: a snapshot_response carries no data";
    return {};
  }
  if (s.index() == 0) return "snapshot.index: 0";
  if (s.voters_size() == 0) return "snapshot.voters: empty";
  if (!s.conf().empty()) {
    std::string why;
    const auto conf = raft::decode_membership(s.conf(), &why);
    if (!conf) return "snapshot.conf: " + why;
    if (conf->voters() != std::vector<std::uint64_t>(s.voters().begin(), s.voters().end()))
      return "snapshot.conf: its voters differ from snapshot.voters";
  }
  if (s.offset() > s.total_size())
    return "snapshot.offset: " + num(s.offset()) + " is beyond total_size " + num(s.total_size());
  if (s.data().size() > s.total_size() - s.offset())  // no overflow: offset <= total_size
    return "snapshot.data: chunk of " + num(s.data().size()) + " bytes at offset " + num(s.offset()) +
           " runs past total_size " + num(s.total_size());
  if (s.done() && s.offset() + s.data().size() != s.total_size())
    return "snapshot.done: the last chunk ends at " + num(s.offset() + s.data().size()) + ", not at total_size " +
           num(s.total_size());
  return {};
}

}  // namespace

peer_rules peer_rules::from(const config::node_config& cfg, std::shared_ptr<const member_directory> members) {
  peer_rules r;
  r.self = cfg.id;
  r.members = members ? std::move(members) : std::make_shared<const member_directory>(cfg);
  r.max_entry_bytes = config::max_entry_bytes(cfg);
  r.max_message_bytes = config::max_peer_message_bytes(cfg);
  r.max_future_ns = 300 * ns_per_s;
  // A report may wait while no leader answers; beyond a day (or the
  // retention, when longer) its time is not to be trusted, and taken as it is
  // retention would erase the job at once (issue 11: completed_at 1970).
  r.max_past_ns = static_cast<std::int64_t>(std::max<std::uint64_t>(86400, cfg.jobs.retention_s)) * ns_per_s;
  // A job runs at most its timeout (at most [executor] max_timeout_s, a day by
  // default; before this rule a day-long job's report was refused); an hour
  // more covers its end.
  r.max_run_ns =
      static_cast<std::int64_t>(std::max<std::uint64_t>(86400, cfg.executor.max_timeout_s) + 3600) * ns_per_s;
  return r;
}

bool peer_rules::is_member(std::uint64_t id) const { return members && members->accepts(id); }

std::string check_raft_message(const raftpb::RaftMessage& m, codec::raft_rpc family, const peer_rules& r) {
  if (!known_type(m.type())) return "type: unknown message type " + num(m.type());
  const auto type = static_cast<msg_type>(m.type());
  if (codec::rpc_for(type) != family)
    return std::string("type: ") + raft::to_string(type) + " does not travel on " + family_name(family);
  if (m.from() == 0) return "from: 0";
  if (m.from() == r.self) return "from: " + num(m.from()) + " is this node";
  if (!r.is_member(m.from())) return "from: node " + num(m.from()) + " is not a member of this cluster";
  if (m.to() != r.self) return "to: message for node " + num(m.to()) + ", this is node " + num(r.self);
  if (m.term() >= raft::max_term) return "term: " + num(m.term()) + " is at or above " + num(raft::max_term);
  if (m.log_term() >= raft::max_term)
    return "log_term: " + num(m.log_term()) + " is at or above " + num(raft::max_term);
  if (m.index() >= raft::max_index) return "index: " + num(m.index()) + " is at or above " + num(raft::max_index);
  if (m.commit() >= raft::max_index) return "commit: " + num(m.commit()) + " is at or above " + num(raft::max_index);
  if (m.reject_hint() >= raft::max_index)
    return "reject_hint: " + num(m.reject_hint()) + " is at or above " + num(raft::max_index);
  if (m.context().size() > max_context_bytes)
    return "context: " + num(m.context().size()) + " bytes (at most " + num(max_context_bytes) + ")";
  // The entry before the new ones (append) or the candidate's last entry
  // (vote, pre_vote) is never of a later term than the message.
  if ((type == msg_type::append || type == msg_type::vote || type == msg_type::pre_vote) && m.log_term() > m.term())
    return "log_term: " + num(m.log_term()) + " exceeds the message term " + num(m.term());
  if ((type == msg_type::vote || type == msg_type::pre_vote) && m.term() == 0) return "term: 0 in a campaign";
  if (type != msg_type::append && m.entries_size() > 0) return "entries: only append messages carry entries";
  if (auto e = check_entries(m, r); !e.empty()) return e;
  return check_snapshot(m, r);
}

std::string check_raft_batch(const raftpb::RaftBatch& b, codec::raft_rpc family, const peer_rules& r) {
  const std::size_t size = b.ByteSizeLong();
  if (size > r.max_message_bytes)
    return "messages: batch of " + num(size) + " bytes exceeds the peer message limit of " + num(r.max_message_bytes);
  for (int i = 0; i < b.messages_size(); ++i) {
    if (auto e = check_raft_message(b.messages(i), family, r); !e.empty())
      return "messages[" + std::to_string(i) + "]." + e;
  }
  return {};
}

std::string check_status_update(const logpb::JobStatusUpdate& u, const peer_rules& r) {
  if (u.job_id().empty()) return "job_id: empty";
  if (u.job_id().size() > max_job_id_bytes) return "job_id: " + num(u.job_id().size()) + " bytes";
  // What a worker reports: progress and outcomes (CANCELLED when its executor
  // saw the cancellation; the table refuses that one on its own).
  switch (u.status()) {
    case scheduler::JOB_STATUS_RUNNING:
    case scheduler::JOB_STATUS_COMPLETED:
    case scheduler::JOB_STATUS_FAILED:
    case scheduler::JOB_STATUS_CANCELLED: break;
    default: return "status: " + std::to_string(static_cast<int>(u.status())) + " is not a status a worker reports";
  }
  if (u.attempt() == 0) return "attempt: missing (0)";
  if (u.executed_by() == 0) return "executed_by: missing (0)";
  if (!r.is_member(u.executed_by()))
    return "executed_by: node " + num(u.executed_by()) + " is not a member of this cluster";
  if (u.at_ns() <= 0) return "at_ns: missing";
  if (u.has_completed_at_ms()) {
    const std::int64_t ms = u.at_ns() / 1'000'000;
    if (u.completed_at_ms() < ms - 1000 || u.completed_at_ms() > ms + 1000)
      return "completed_at_ms: " + std::to_string(u.completed_at_ms()) + " disagrees with at_ns";
  }
  // The time itself is the worker's clock's (align_report_times); its start
  // must come before it, within one run.
  if (u.started_at_ns() != 0 && (u.status() == scheduler::JOB_STATUS_RUNNING || u.started_at_ns() < 0 ||
                                 u.started_at_ns() > u.at_ns() || u.at_ns() - u.started_at_ns() > r.max_run_ns))
    return "started_at_ns: " + std::to_string(u.started_at_ns()) + " is not a start before the final at_ns";
  return {};
}

std::string check_forward_job_status(const internalpb::ForwardJobStatusRequest& req, const peer_rules& r) {
  if (req.updates_size() == 0) return "updates: empty";
  // The updates become one log entry, which followers hold to the entry limit.
  const std::size_t size = req.ByteSizeLong();
  if (size > r.max_entry_bytes)
    return "updates: " + num(size) + " bytes exceeds the entry limit of " + num(r.max_entry_bytes);
  for (int i = 0; i < req.updates_size(); ++i) {
    if (auto e = check_status_update(req.updates(i), r); !e.empty())
      return "updates[" + std::to_string(i) + "]." + e;
  }
  return {};
}

std::int64_t align_report_times(std::vector<logpb::JobStatusUpdate>& updates, std::int64_t now_ns,
                                const peer_rules& r) {
  std::int64_t furthest = 0;
  for (auto& u : updates) {
    if (u.at_ns() >= now_ns - r.max_past_ns && u.at_ns() <= now_ns + r.max_future_ns) continue;
    const std::int64_t offset = u.at_ns() - now_ns;
    if (u.started_at_ns() != 0) u.set_started_at_ns(u.started_at_ns() - offset);  // at most max_run_ns before now
    u.set_at_ns(now_ns);
    if (u.has_completed_at_ms()) u.set_completed_at_ms(now_ns / 1'000'000);
    if (std::llabs(offset) > std::llabs(furthest)) furthest = offset;
  }
  return furthest;
}

std::string check_worker_heartbeat(const internalpb::WorkerHeartbeatRequest& req, const peer_rules& r) {
  if (req.node_id() == 0) return "node_id: 0";
  if (!r.is_member(req.node_id())) return "node_id: node " + num(req.node_id()) + " is not a member of this cluster";
  if (req.address().size() > max_address_bytes) return "address: " + num(req.address().size()) + " bytes";
  if (req.http_address().size() > max_address_bytes)
    return "http_address: " + num(req.http_address().size()) + " bytes";
  if (req.running_jobs_size() > max_running_jobs)
    return "running_jobs: " + std::to_string(req.running_jobs_size()) + " entries (at most " +
           std::to_string(max_running_jobs) + ")";
  for (const auto& id : req.running_jobs())
    if (id.size() > max_job_id_bytes) return "running_jobs: an id of " + num(id.size()) + " bytes";
  // What a node's configuration allows ([worker] capacity, prefetch).
  if (req.capacity() > config::max_worker_slots)
    return "capacity: " + num(req.capacity()) + " (at most " + num(config::max_worker_slots) + ")";
  if (req.prefetch() > config::max_worker_slots)
    return "prefetch: " + num(req.prefetch()) + " (at most " + num(config::max_worker_slots) + ")";
  return {};
}

void note_report_times_moved(std::uint64_t node, std::int64_t offset_ns) {
  std::uint64_t left_out = 0;
  if (!log_due("report times of node " + num(node), std::chrono::minutes(1), left_out)) return;
  const auto s = ((offset_ns < 0 ? -offset_ns : offset_ns) + ns_per_s / 2) / ns_per_s;  // to the nearest second
  TLOG(warn, "peer_validation") << "node " << node << " reported job times " << s << " s "
                                << (offset_ns > 0 ? "ahead of" : "behind") << " this leader's clock: they were "
                                << "moved to this node's clock; check node " << node
                                << "'s time synchronisation (or this node's, if it says this of every node)";
}

std::string check_raft_senders(const raftpb::RaftBatch& b, const peer_rules& r) {
  for (const auto& m : b.messages())
    if (m.from() != 0 && m.from() != r.self && !r.is_member(m.from()))
      return "node " + num(m.from()) + " is not in node " + num(r.self) + "'s configuration";
  return "";
}

std::string note_refused(const std::string& peer, const char* method, const std::string& why) {
  const std::string text = std::string(method) + " refused: " + why;
  // One line per second per method: a flood of bad messages must not
  // become a flood of log lines.
  std::uint64_t left_out = 0;
  if (log_due(method, std::chrono::seconds(1), left_out))
    TLOG(warn, "peer_validation") << text << " (peer " << peer << ")"
                                  << (left_out ? " [" + std::to_string(left_out) + " similar lines left out]" : "");
  return text;
}

}  // namespace troupe::transport
