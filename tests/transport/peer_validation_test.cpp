// transport/peer_validation: every rule refuses with the field named, and what
// an honest node sends passes (issue 11).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "config/limits.hpp"
#include "protocol/raft_codec.hpp"
#include "runtime/raft/types.hpp"
#include "transport/peer_validation.hpp"

using namespace troupe;
using transport::check_forward_job_status;
using transport::check_raft_batch;
using transport::check_raft_message;
using transport::check_status_update;
using transport::check_worker_heartbeat;
using AE = codec::raft_rpc;

namespace {

constexpr std::int64_t now = 1'800'000'000'000'000'000;  // a fixed "now": the checks take it as input
constexpr std::int64_t s_ns = 1'000'000'000;

config::node_config cluster() {
  config::node_config c;
  c.id = 2;
  c.members = {{1, "127.0.0.1:1", "", ""}, {2, "127.0.0.1:2", "", ""}, {3, "127.0.0.1:3", "", ""}};
  return c;
}
const transport::peer_rules rules = transport::peer_rules::from(cluster());

raftpb::RaftMessage append(std::uint64_t term, std::uint64_t prev, std::uint64_t prev_term, int n) {
  raft::message m;
  m.type = raft::msg_type::append;
  m.from = 1;
  m.to = 2;
  m.term = term;
  m.index = prev;
  m.log_term = prev_term;
  m.commit = prev;
  for (int i = 0; i < n; ++i)
    m.entries.push_back({term, prev + 1 + static_cast<std::uint64_t>(i), raft::entry_type::normal, "x"});
  raftpb::RaftMessage p;
  codec::to_proto(m, p);
  return p;
}

logpb::JobStatusUpdate update() {
  logpb::JobStatusUpdate u;
  u.set_job_id("123e4567-e89b-42d3-a456-426614174000");
  u.set_status(scheduler::JOB_STATUS_COMPLETED);
  u.set_executed_by(1);
  u.set_attempt(1);
  u.set_at_ns(now - 5 * s_ns);
  u.set_completed_at_ms((now - 5 * s_ns) / 1'000'000);
  return u;
}

bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("honest Raft messages pass") {
  CHECK(check_raft_message(append(5, 10, 4, 3), AE::append_entries, rules) == "");
  CHECK(check_raft_message(append(5, 0, 0, 0), AE::append_entries, rules) == "");
  auto hb = append(5, 0, 0, 0);
  hb.set_type(static_cast<std::uint32_t>(raft::msg_type::heartbeat));
  hb.set_commit(99);  // a heartbeat's commit is min(leader commit, match); no relation to index
  CHECK(check_raft_message(hb, AE::append_entries, rules) == "");
  auto vote = append(6, 12, 5, 0);
  vote.set_type(static_cast<std::uint32_t>(raft::msg_type::pre_vote));
  CHECK(check_raft_message(vote, AE::request_vote, rules) == "");
  auto lagging = append(5, 10, 4, 3);
  lagging.set_commit(500);  // the leader's commit may run ahead of what this message carries
  CHECK(check_raft_message(lagging, AE::append_entries, rules) == "");
}

TEST_CASE("terms and indexes that could overflow are refused, naming the field") {
  auto m = append(~std::uint64_t{0}, 0, 0, 0);  // issue 11's forged heartbeat term
  m.set_type(static_cast<std::uint32_t>(raft::msg_type::heartbeat));
  CHECK(starts(check_raft_message(m, AE::append_entries, rules), "term: "));
  m.set_term(raft::max_term);
  CHECK(starts(check_raft_message(m, AE::append_entries, rules), "term: "));
  m.set_term(raft::max_term - 1);
  CHECK(check_raft_message(m, AE::append_entries, rules) == "");
  m.set_commit(raft::max_index);
  CHECK(starts(check_raft_message(m, AE::append_entries, rules), "commit: "));
  auto a = append(5, raft::max_index - 2, 4, 3);  // index + count reaches the bound
  CHECK(starts(check_raft_message(a, AE::append_entries, rules), "entries"));
  a = append(5, raft::max_index, 4, 0);
  CHECK(starts(check_raft_message(a, AE::append_entries, rules), "index: "));
  a = append(5, 1, 4, 0);
  a.set_reject_hint(~std::uint64_t{0});
  CHECK(starts(check_raft_message(a, AE::append_entries, rules), "reject_hint: "));
  a = append(5, 1, 4, 0);
  a.set_log_term(raft::max_term);
  CHECK(starts(check_raft_message(a, AE::append_entries, rules), "log_term: "));
}

TEST_CASE("entries: consecutive from index+1, terms within the message term, within the entry limit") {
  auto a = append(5, 10, 4, 3);
  a.mutable_entries(1)->set_index(13);
  CHECK(check_raft_message(a, AE::append_entries, rules) ==
        "entries[1].index: 13, expected 12 (consecutive from index+1)");
  a = append(5, 10, 4, 3);
  a.mutable_entries(2)->set_term(6);
  CHECK(check_raft_message(a, AE::append_entries, rules) == "entries[2].term: 6 exceeds the message term 5");
  a = append(5, 10, 4, 3);
  a.mutable_entries(0)->set_term(3);
  CHECK(check_raft_message(a, AE::append_entries, rules) == "entries[0].term: 3 is below the preceding term 4");
  a = append(5, 10, 6, 0);
  CHECK(check_raft_message(a, AE::append_entries, rules) == "log_term: 6 exceeds the message term 5");
  a = append(5, 10, 4, 1);
  a.mutable_entries(0)->set_type(7);
  CHECK(check_raft_message(a, AE::append_entries, rules) == "entries[0].type: unknown entry type 7");
  a = append(5, 10, 4, 1);
  a.mutable_entries(0)->set_data(std::string(rules.max_entry_bytes + 1, 'x'));
  CHECK(starts(check_raft_message(a, AE::append_entries, rules), "entries[0].data: "));
  a.mutable_entries(0)->set_data(std::string(rules.max_entry_bytes, 'x'));
  CHECK(check_raft_message(a, AE::append_entries, rules) == "");
  auto v = append(5, 10, 4, 1);
  v.set_type(static_cast<std::uint32_t>(raft::msg_type::vote));
  CHECK(check_raft_message(v, AE::request_vote, rules) == "entries: only append messages carry entries");
}

TEST_CASE("a batch over the peer message limit is refused as a whole") {
  raftpb::RaftBatch b;
  const std::size_t per = std::min<std::size_t>(rules.max_entry_bytes, 1 << 20) - 1024;
  std::uint64_t prev = 10;
  while (b.ByteSizeLong() <= rules.max_message_bytes) {
    auto m = append(5, prev, 5, 1);
    m.mutable_entries(0)->set_data(std::string(per, 'x'));
    *b.add_messages() = m;
    ++prev;
  }
  CHECK(starts(check_raft_batch(b, AE::append_entries, rules), "messages: batch of "));
  b.mutable_messages()->RemoveLast();
  CHECK(check_raft_batch(b, AE::append_entries, rules) == "");
}

TEST_CASE("unknown types, wrong family, from 0 / self / stranger, a message for another node") {
  auto m = append(5, 10, 4, 0);
  m.set_type(0);
  CHECK(check_raft_message(m, AE::append_entries, rules) == "type: unknown message type 0");
  m.set_type(12);
  CHECK(check_raft_message(m, AE::append_entries, rules) == "type: unknown message type 12");
  m = append(5, 10, 4, 0);
  CHECK(starts(check_raft_message(m, AE::request_vote, rules), "type: "));
  m.set_from(0);
  CHECK(check_raft_message(m, AE::append_entries, rules) == "from: 0");
  m.set_from(2);
  CHECK(check_raft_message(m, AE::append_entries, rules) == "from: 2 is this node");
  m.set_from(9);
  CHECK(check_raft_message(m, AE::append_entries, rules) == "from: node 9 is not a member of this cluster");
  m.set_from(1);
  m.set_to(3);
  CHECK(check_raft_message(m, AE::append_entries, rules) == "to: message for node 3, this is node 2");
  raftpb::RaftBatch b;
  *b.add_messages() = append(5, 10, 4, 0);
  *b.add_messages() = m;
  CHECK(check_raft_batch(b, AE::append_entries, rules) == "messages[1].to: message for node 3, this is node 2");
}

TEST_CASE("snapshot chunks: bounded metadata, offsets within total_size, a configuration that decodes") {
  raft::message s;
  s.type = raft::msg_type::snapshot;
  s.from = 1;
  s.to = 2;
  s.term = 5;
  s.snapshot = {100, 4, raft::membership::of_voters({1, 2, 3}), 10, "abcde", false, 20};
  raftpb::RaftMessage p;
  codec::to_proto(s, p);
  CHECK(check_raft_message(p, AE::install_snapshot, rules) == "");
  auto q = p;
  q.mutable_snapshot()->set_offset(~std::uint64_t{0} - 2);  // offset + size would wrap
  CHECK(starts(check_raft_message(q, AE::install_snapshot, rules), "snapshot.offset: "));
  q = p;
  q.mutable_snapshot()->set_data(std::string(11, 'x'));
  CHECK(starts(check_raft_message(q, AE::install_snapshot, rules), "snapshot.data: "));
  q = p;
  q.mutable_snapshot()->set_term(6);
  CHECK(check_raft_message(q, AE::install_snapshot, rules) == "snapshot.term: 6 exceeds the message term 5");
  q = p;
  q.mutable_snapshot()->set_index(raft::max_index);
  CHECK(starts(check_raft_message(q, AE::install_snapshot, rules), "snapshot.index: "));
  q = p;
  q.mutable_snapshot()->add_voters(7);
  CHECK(check_raft_message(q, AE::install_snapshot, rules) == "snapshot.conf: its voters differ from snapshot.voters");
  q = p;
  q.mutable_snapshot()->set_conf("TRMB?");
  CHECK(starts(check_raft_message(q, AE::install_snapshot, rules), "snapshot.conf: "));
  q = p;
  q.mutable_snapshot()->clear_conf();  // a peer that predates conf: voter ids only
  CHECK(check_raft_message(q, AE::install_snapshot, rules) == "");
  CHECK(codec::from_proto(q).snapshot.conf == raft::membership::of_voters({1, 2, 3}));
  q = p;
  q.mutable_snapshot()->set_done(true);
  CHECK(starts(check_raft_message(q, AE::install_snapshot, rules), "snapshot.done: "));
}

TEST_CASE("status updates: attempt, time, status and worker are required and plausible") {
  CHECK(check_status_update(update(), rules) == "");
  auto u = update();
  u.set_attempt(0);
  CHECK(check_status_update(u, rules) == "attempt: missing (0)");
  u = update();
  u.set_at_ns(0);
  CHECK(check_status_update(u, rules) == "at_ns: missing");
  u = update();
  u.set_at_ns(now + 3600 * s_ns);  // a worker whose clock is ahead: its time is moved (align_report_times)
  u.clear_completed_at_ms();
  CHECK(check_status_update(u, rules) == "");
  u = update();
  u.set_completed_at_ms(0);
  CHECK(check_status_update(u, rules) == "completed_at_ms: 0 disagrees with at_ns");
  u = update();  // a final update carrying its folded RUNNING's start
  u.set_started_at_ns(u.at_ns() - s_ns);
  CHECK(check_status_update(u, rules) == "");
  u.set_started_at_ns(u.at_ns() + 1);
  CHECK(starts(check_status_update(u, rules), "started_at_ns: "));
  u.set_started_at_ns(1);  // a run of 57 years
  CHECK(starts(check_status_update(u, rules), "started_at_ns: "));
  u.set_started_at_ns(u.at_ns() - 86400 * s_ns - s_ns);  // issue 11's rule refused a day-long job's report
  CHECK(check_status_update(u, rules) == "");
  u.set_started_at_ns(u.at_ns() - 86400 * s_ns - 3601 * s_ns);
  CHECK(starts(check_status_update(u, rules), "started_at_ns: "));
  u = update();
  u.set_status(scheduler::JOB_STATUS_UNSPECIFIED);
  CHECK(starts(check_status_update(u, rules), "status: 0 "));
  u.set_status(static_cast<scheduler::JobStatus>(42));
  CHECK(starts(check_status_update(u, rules), "status: 42 "));
  u.set_status(scheduler::JOB_STATUS_PENDING);
  CHECK(starts(check_status_update(u, rules), "status: 1 "));
  u = update();
  u.set_executed_by(0);
  CHECK(check_status_update(u, rules) == "executed_by: missing (0)");
  u.set_executed_by(8);
  CHECK(check_status_update(u, rules) == "executed_by: node 8 is not a member of this cluster");
  u = update();
  u.clear_job_id();
  CHECK(check_status_update(u, rules) == "job_id: empty");

  internalpb::ForwardJobStatusRequest req;
  CHECK(check_forward_job_status(req, rules) == "updates: empty");
  *req.add_updates() = update();
  *req.add_updates() = update();
  req.mutable_updates(1)->set_attempt(0);
  CHECK(check_forward_job_status(req, rules) == "updates[1].attempt: missing (0)");
  req.mutable_updates(1)->set_attempt(2);
  CHECK(check_forward_job_status(req, rules) == "");
  req.mutable_updates(0)->set_stdout_inline(std::string(rules.max_entry_bytes, 'o'));
  CHECK(starts(check_forward_job_status(req, rules), "updates: "));
}

TEST_CASE("status updates: times off this node's clock are moved to it, each run's length kept") {
  using transport::align_report_times;
  std::vector<logpb::JobStatusUpdate> us(4, update());  // 5 s ago: kept as it is
  us[1].set_at_ns(now + 600 * s_ns);                    // a worker 10 minutes ahead
  us[1].set_completed_at_ms((now + 600 * s_ns) / 1'000'000);
  us[1].set_started_at_ns(us[1].at_ns() - 3 * s_ns);
  us[2].set_at_ns(1);  // issue 11: completed_at 1970 (retention would erase the job at once)
  us[2].clear_completed_at_ms();
  us[3].set_status(scheduler::JOB_STATUS_RUNNING);
  us[3].clear_completed_at_ms();
  us[3].set_at_ns(now + 299 * s_ns);  // within max_future: the worker's own time
  for (const auto& u : us) REQUIRE(check_status_update(u, rules) == "");

  CHECK(align_report_times(us, now, rules) == 1 - now);  // the furthest: 1970
  CHECK(us[0].at_ns() == now - 5 * s_ns);
  CHECK(us[0].completed_at_ms() == (now - 5 * s_ns) / 1'000'000);
  CHECK(us[1].at_ns() == now);
  CHECK(us[1].completed_at_ms() == now / 1'000'000);
  CHECK(us[1].started_at_ns() == now - 3 * s_ns);
  CHECK(us[2].at_ns() == now);
  CHECK_FALSE(us[2].has_completed_at_ms());
  CHECK(us[3].at_ns() == now + 299 * s_ns);
  for (const auto& u : us) CHECK(check_status_update(u, rules) == "");

  std::vector<logpb::JobStatusUpdate> ahead(1, update());
  ahead[0].set_at_ns(now + 301 * s_ns);
  CHECK(align_report_times(ahead, now, rules) == 301 * s_ns);
  std::vector<logpb::JobStatusUpdate> honest(2, update());
  CHECK(align_report_times(honest, now, rules) == 0);
}

TEST_CASE("worker heartbeats: member node id, bounded lists") {
  internalpb::WorkerHeartbeatRequest h;
  h.set_node_id(1);
  h.add_running_jobs("a");
  CHECK(check_worker_heartbeat(h, rules) == "");
  h.set_node_id(0);
  CHECK(check_worker_heartbeat(h, rules) == "node_id: 0");
  h.set_node_id(5);
  CHECK(check_worker_heartbeat(h, rules) == "node_id: node 5 is not a member of this cluster");
}

TEST_CASE("the limits come from the configuration in one place and fit what an honest node sends") {
  auto c = cluster();
  CHECK(rules.max_entry_bytes == config::max_entry_bytes(c));
  CHECK(rules.max_message_bytes == config::max_peer_message_bytes(c));
  CHECK(config::max_entry_bytes(c) >= c.raft.max_append_bytes);
  CHECK(config::max_entry_bytes(c) >= 2 * c.executor.output_inline_bytes);
  CHECK(config::max_peer_message_bytes(c) > config::max_entry_bytes(c));
  CHECK(config::max_peer_message_bytes(c) > c.raft.snapshot_chunk_bytes);
}
