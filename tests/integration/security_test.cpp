// Trust at the edges (issue 11), on real processes: a 3-node cluster with
// [tls] and [[auth.tokens]]. Clients need TLS and a token of the right role;
// peers need a certificate from the cluster CA naming the node they claim to
// be. Forged RaftService / InternalService calls (another CA, no
// certificate, a client certificate, node 2's certificate claiming node 3)
// are refused and change nothing; a second node on a taken port exits.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "internal.grpc.pb.h"
#include "raft.grpc.pb.h"
#include "runtime/raft/message.hpp"
#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;
namespace raftpb = troupe::raftpb;
namespace internalpb = troupe::internalpb;

namespace {

const std::string read_token = "read-token-0123456789";
const std::string submit_token = "submit-token-0123456789";
const std::string admin_token = "admin-token-0123456789";

struct state {
  std::uint64_t leader = 0;
  std::uint64_t term = 0;
  std::map<std::string, int> jobs;  // job id -> status
  std::map<std::uint64_t, bool> draining;
};

state observe(cluster& c) {
  state s;
  scheduler::GetClusterStatusResponse st;
  REQUIRE(c.status(1, st));  // forwarded to the leader
  s.leader = st.leader_id();
  s.term = st.current_term();
  for (const auto& n : st.nodes()) s.draining[n.node_id()] = n.draining();
  for (const auto& j : list_all(c.stub(s.leader), {})) s.jobs[j.job_id()] = j.status();
  return s;
}

void check_unchanged(const state& before, const state& after) {
  CHECK(after.leader == before.leader);
  CHECK(after.term == before.term);
  CHECK(after.jobs == before.jobs);
  CHECK(after.draining == before.draining);
}

raftpb::RaftBatch one_message(troupe::raft::msg_type type, std::uint64_t from, std::uint64_t to, std::uint64_t term) {
  raftpb::RaftBatch b;
  auto* m = b.add_messages();
  m->set_type(static_cast<std::uint32_t>(type));
  m->set_from(from);
  m->set_to(to);
  m->set_term(term);
  return b;
}

// A peer's forged calls, over a channel with the given credentials.
struct forger {
  std::unique_ptr<raftpb::RaftService::Stub> raft;
  std::unique_ptr<internalpb::InternalService::Stub> internal;

  forger(const std::string& address, const client_security& sec) {
    auto ch = make_channel(address, sec);
    raft = raftpb::RaftService::NewStub(ch);
    internal = internalpb::InternalService::NewStub(ch);
  }

  grpc::Status timeout_now(std::uint64_t from, std::uint64_t to, std::uint64_t term) {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(3000));
    raftpb::Ack ack;
    return raft->TimeoutNow(&ctx, one_message(troupe::raft::msg_type::timeout_now, from, to, term), &ack);
  }
  // An AppendEntries carrying one bogus entry at the follower's next index:
  // applied, it would diverge the follower's log from the leader's.
  grpc::Status append(std::uint64_t from, std::uint64_t to, std::uint64_t term) {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(3000));
    auto b = one_message(troupe::raft::msg_type::append, from, to, term + 1);
    auto* e = b.mutable_messages(0)->add_entries();
    e->set_term(term + 1);
    e->set_index(1);
    e->set_data("forged");
    raftpb::Ack ack;
    return raft->AppendEntries(&ctx, b, &ack);
  }
  grpc::Status heartbeat(std::uint64_t node) {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(3000));
    internalpb::WorkerHeartbeatRequest req;
    req.set_node_id(node);
    req.set_address("203.0.113.9:1");
    req.set_http_address("203.0.113.9:2");
    req.set_executor_ok(false);
    internalpb::WorkerHeartbeatResponse resp;
    return internal->WorkerHeartbeat(&ctx, req, &resp);
  }
  grpc::Status complete(const std::string& job, std::uint64_t reporter, bool* accepted) {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(3000));
    internalpb::ForwardJobStatusRequest req;
    auto* u = req.add_updates();
    u->set_job_id(job);
    u->set_status(scheduler::JOB_STATUS_COMPLETED);
    u->set_executed_by(reporter);
    u->set_exit_code(0);
    u->set_completed_at_ms(now_ms());
    u->set_attempt(1);
    internalpb::ForwardJobStatusResponse resp;
    auto st = internal->ForwardJobStatus(&ctx, req, &resp);
    if (accepted) *accepted = resp.accepted();
    return st;
  }
  grpc::Status drain(std::uint64_t worker) {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(3000));
    internalpb::SetWorkerDrainingRequest req;
    req.set_worker_id(worker);
    req.set_draining(true);
    internalpb::SetWorkerDrainingResponse resp;
    return internal->SetWorkerDraining(&ctx, req, &resp);
  }
  grpc::Status output(const std::string& job) {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(3000));
    internalpb::GetJobOutputRequest req;
    req.set_job_id(job);
    internalpb::GetJobOutputResponse resp;
    return internal->GetJobOutput(&ctx, req, &resp);
  }
};

grpc::StatusCode code_of(const grpc::Status& s) { return s.error_code(); }

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "\"" << from << "\" not in the config");
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_SUITE("security") {

TEST_CASE("TLS, node identity and tokens on a real cluster") {
  // Certificates first, in a directory of their own (the cluster makes its
  // own temp dir; the certificates must exist before its configs do).
  char tmpl[] = "/tmp/troupe-certs-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string certs = std::string(tmpl) + "/cluster";
  const std::string evil = std::string(tmpl) + "/other-ca";
  make_certs({certs, "1", "2", "3", "--client", "tester"});
  make_certs({evil, "2", "3"});  // a second CA issuing "node-2" and "node-3"
  const std::string ca = certs + "/ca.crt";

  cluster_options o;
  o.election_ticks = 20;  // the state must not change by itself while the test looks for changes
  o.tls_dir = certs;
  o.tokens = {{"reader", read_token, "read"}, {"ci", submit_token, "submit"}, {"ops", admin_token, "admin"}};
  o.client = {ca, "", "", admin_token};
  cluster c(o);
  c.start_all();
  // No call before every node listens (cluster::wait_serving says why).
  REQUIRE(c.wait_serving(c.ids(), milliseconds(20000)));
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto follower = c.some_follower(leader);
  CHECK(c.log_text(leader).find("(TLS; peers need a node certificate); clients need a token") != std::string::npos);

  auto with = [&](std::uint64_t node, const std::string& token) {
    return make_stub(c.grpc_address(node), client_security{ca, "", "", token});
  };
  auto reader = with(leader, read_token);
  auto submitter = with(leader, submit_token);
  auto admin = with(leader, admin_token);

  // Over TLS a submit token runs a job to completion.
  scheduler::SubmitJobResponse sub;
  auto st = submit(*submitter, "echo tls-ok", &sub);
  REQUIRE_MESSAGE(st.ok(), st.error_message());
  auto done = wait_for_job(*reader, sub.job_id(), milliseconds(30000));
  CHECK(done.status() == scheduler::JOB_STATUS_COMPLETED);
  CHECK(done.output() == "tls-ok\n");

  // A plaintext client cannot talk to a TLS listener at all.
  {
    auto plain = make_stub(c.grpc_address(leader));
    scheduler::GetClusterStatusResponse r;
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(2000));
    CHECK(plain->GetClusterStatus(&ctx, {}, &r).error_code() == grpc::StatusCode::UNAVAILABLE);
  }

  // Tokens and roles.
  {
    auto anonymous = with(leader, "");
    auto unknown = with(leader, "not-a-configured-token");
    scheduler::ListJobsResponse l;
    CHECK(code_of(list(*anonymous, {}, &l)) == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(code_of(list(*unknown, {}, &l)) == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(code_of(submit(*anonymous, "echo no")) == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(code_of(submit(*unknown, "echo no")) == grpc::StatusCode::UNAUTHENTICATED);
    // StreamJobs is refused before it starts.
    {
      grpc::ClientContext ctx;
      set_deadline(ctx, milliseconds(3000));
      auto stream = anonymous->StreamJobs(&ctx, {});
      scheduler::JobInfo j;
      CHECK_FALSE(stream->Read(&j));
      CHECK(stream->Finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);
    }
    CHECK(list(*reader, {}, &l).ok());
    auto denied = submit(*reader, "echo no");
    CHECK(denied.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_MESSAGE(denied.error_message().find("reader") != std::string::npos, denied.error_message());
    CHECK(denied.error_message().find(read_token) == std::string::npos);  // never echoes a token
    CHECK(code_of(cancel(*reader, sub.job_id())) == grpc::StatusCode::PERMISSION_DENIED);

    // submit: submit and cancel, but not the admin operations.
    scheduler::SubmitJobResponse slow;
    REQUIRE(submit(*submitter, "sleep 30", &slow).ok());
    CHECK(cancel(*submitter, slow.job_id()).ok());
    CHECK(wait_for_job(*reader, slow.job_id(), milliseconds(20000)).status() == scheduler::JOB_STATUS_CANCELLED);
    {
      grpc::ClientContext ctx;
      set_deadline(ctx, milliseconds(3000));
      scheduler::DrainNodeResponse r;
      CHECK(submitter->DrainNode(&ctx, {}, &r).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    }
    {
      grpc::ClientContext ctx;
      set_deadline(ctx, milliseconds(3000));
      scheduler::TransferLeadershipResponse r;
      CHECK(submitter->TransferLeadership(&ctx, {}, &r).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    }
    {
      grpc::ClientContext ctx;
      set_deadline(ctx, milliseconds(3000));
      scheduler::UndrainNodeResponse r;
      CHECK(submitter->UndrainNode(&ctx, {}, &r).error_code() == grpc::StatusCode::PERMISSION_DENIED);
    }
  }

  // A follower forwards GetClusterStatus to the leader with the client's
  // token: the answer comes from the leader. Without a token the follower
  // refuses; a member forging a forwarded call without a token is refused
  // by the leader, which checks the token itself.
  {
    scheduler::GetClusterStatusResponse r;
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(3000));
    auto st2 = with(follower, read_token)->GetClusterStatus(&ctx, {}, &r);
    REQUIRE_MESSAGE(st2.ok(), st2.error_message());
    CHECK(r.node_id() == leader);

    scheduler::GetClusterStatusResponse r2;
    grpc::ClientContext ctx2;
    set_deadline(ctx2, milliseconds(3000));
    CHECK(with(follower, "")->GetClusterStatus(&ctx2, {}, &r2).error_code() == grpc::StatusCode::UNAUTHENTICATED);

    auto node_channel = make_stub(c.grpc_address(leader),
                                  client_security{ca, certs + "/node-" + std::to_string(follower) + ".crt",
                                                  certs + "/node-" + std::to_string(follower) + ".key", ""});
    scheduler::GetClusterStatusResponse r3;
    grpc::ClientContext ctx3;
    set_deadline(ctx3, milliseconds(3000));
    ctx3.AddMetadata("x-troupe-forwarded", "1");
    CHECK(node_channel->GetClusterStatus(&ctx3, {}, &r3).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }

  // Forged peer calls. A running job gives ForwardJobStatus something to lie about.
  scheduler::SubmitJobResponse running;
  REQUIRE(submit(*submitter, "sleep 40", &running).ok());
  auto run = wait_for_job(*reader, running.job_id(), milliseconds(20000), scheduler::JOB_STATUS_RUNNING);
  REQUIRE(run.status() == scheduler::JOB_STATUS_RUNNING);
  auto before = observe(c);
  REQUIRE(before.leader == leader);
  // The node a forged message is aimed at: a follower other than node 2, so
  // a TimeoutNow "from the leader" would make it campaign.
  std::uint64_t victim = 0;
  for (auto id : c.ids())
    if (id != leader && id != 2) victim = id;
  REQUIRE(victim != 0);
  // Ids node 2's certificate may not speak for: the leader's (or, when node 2
  // leads, the third node's) and node 3's.
  std::uint64_t claimed = leader;
  if (leader == 2)
    for (auto id : c.ids())
      if (id != 2 && id != victim) claimed = id;
  const std::uint64_t impostor = 3;

  {
    INFO("certificates from another CA: the handshake fails, nothing is delivered");
    forger f(c.grpc_address(victim), client_security{ca, evil + "/node-2.crt", evil + "/node-2.key", ""});
    CHECK_FALSE(f.timeout_now(leader, victim, before.term).ok());
    CHECK_FALSE(f.append(leader, victim, before.term).ok());
    forger g(c.grpc_address(leader), client_security{ca, evil + "/node-3.crt", evil + "/node-3.key", ""});
    CHECK_FALSE(g.heartbeat(3).ok());
    CHECK_FALSE(g.complete(running.job_id(), run.assigned_worker(), nullptr).ok());
    CHECK_FALSE(g.drain(3).ok());
  }
  {
    INFO("no client certificate, or a client (not node) certificate: UNAUTHENTICATED");
    forger none(c.grpc_address(victim), client_security{ca, "", "", ""});
    CHECK(code_of(none.timeout_now(leader, victim, before.term)) == grpc::StatusCode::UNAUTHENTICATED);
    forger client_cert(c.grpc_address(leader),
                       client_security{ca, certs + "/client-tester.crt", certs + "/client-tester.key", ""});
    CHECK(code_of(client_cert.heartbeat(3)) == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(code_of(client_cert.output(running.job_id())) == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(code_of(client_cert.complete(running.job_id(), run.assigned_worker(), nullptr)) ==
          grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    INFO("node 2's own certificate claiming to be another node: PERMISSION_DENIED");
    const client_security node2{ca, certs + "/node-2.crt", certs + "/node-2.key", ""};
    forger to_victim(c.grpc_address(victim), node2);
    CHECK(code_of(to_victim.timeout_now(claimed, victim, before.term)) == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(code_of(to_victim.append(claimed, victim, before.term)) == grpc::StatusCode::PERMISSION_DENIED);
    forger to_leader(c.grpc_address(leader), node2);
    CHECK(code_of(to_leader.heartbeat(impostor)) == grpc::StatusCode::PERMISSION_DENIED);
    auto reporter = run.assigned_worker() != 2 ? run.assigned_worker() : impostor;
    CHECK(code_of(to_leader.complete(running.job_id(), reporter, nullptr)) == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(code_of(to_leader.drain(impostor)) == grpc::StatusCode::PERMISSION_DENIED);
    // A member may read another member's job output.
    CHECK(code_of(to_leader.output(running.job_id())) != grpc::StatusCode::UNAUTHENTICATED);
    // Refusals are logged, naming both ids.
    auto log = c.log_text(victim);
    CHECK_MESSAGE(log.find("certificate is node-2's") != std::string::npos, log);
  }

  // Give a forged message that slipped through time to show: an election
  // timeout and more.
  std::this_thread::sleep_for(milliseconds(1500));
  auto after = observe(c);
  check_unchanged(before, after);
  CHECK(after.jobs[running.job_id()] == scheduler::JOB_STATUS_RUNNING);
  {
    scheduler::GetClusterStatusResponse st3;
    REQUIRE(c.status(leader, st3));
    for (const auto& n : st3.nodes()) CHECK(n.http_address().find("203.0.113.9") == std::string::npos);
  }
  CHECK(cancel(*submitter, running.job_id()).ok());

  // The CLI: --ca-file with --token or $TROUPE_TOKEN; without a token it is refused.
  {
    auto r = run_process({cli_binary(), "-a", c.grpc_address(follower), "--ca-file", ca, "--token", submit_token, "job",
                          "submit", "--wait", "echo cli-tls-ok"},
                         milliseconds(30000));
    CHECK_MESSAGE(r.exit_code == 0, r.output);
    CHECK_MESSAGE(r.output.find("cli-tls-ok") != std::string::npos, r.output);
    ::setenv("TROUPE_TOKEN", read_token.c_str(), 1);
    auto e = run_process({cli_binary(), "-a", c.grpc_address(follower), "--ca-file", ca, "cluster", "status"},
                         milliseconds(15000));
    ::unsetenv("TROUPE_TOKEN");
    CHECK_MESSAGE(e.exit_code == 0, e.output);
    CHECK_MESSAGE(e.output.find("leader " + std::to_string(leader)) != std::string::npos, e.output);
    auto none = run_process({cli_binary(), "-a", c.grpc_address(leader), "--ca-file", ca, "job", "list"},
                            milliseconds(15000));
    CHECK_MESSAGE(none.exit_code == 1, none.output);
    CHECK_MESSAGE(none.output.find("authentication required") != std::string::npos, none.output);
    auto missing = run_process({cli_binary(), "-a", c.grpc_address(leader), "--ca-file", certs + "/nope.crt", "job",
                                "list"},
                               milliseconds(15000));
    CHECK_MESSAGE(missing.exit_code == 2, missing.output);
    CHECK_MESSAGE(missing.output.find("nope.crt") != std::string::npos, missing.output);
  }

  // A second node on a gRPC port that is taken refuses to start.
  {
    auto text = read_text_file(c.dir() + "/node-1.toml");
    text = replace_once(text, "data-1\"", "data-duplicate\"");
    text = replace_once(text, "http = \"" + c.http_address(1) + "\"",
                        "http = \"127.0.0.1:" + std::to_string(free_port()) + "\"");
    text = replace_once(text, "wire = \"" + c.wire_address(1) + "\"",  // [listen]'s, bound before gRPC
                        "wire = \"127.0.0.1:" + std::to_string(free_port()) + "\"");
    const auto path = c.dir() + "/duplicate.toml";
    std::ofstream(path) << text;
    auto r = run_process({node_binary(), "--config", path}, milliseconds(20000));
    CHECK_MESSAGE(r.exit_code != 0, r.output);
    CHECK_MESSAGE(r.exit_code != -1, "the duplicate node kept running: " << r.output);
    CHECK_MESSAGE(r.output.find("cannot listen for gRPC on " + c.grpc_address(1)) != std::string::npos, r.output);
  }

  // admin: everything, TransferLeadership included (last: it moves the leader).
  {
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(15000));
    scheduler::TransferLeadershipRequest req;
    req.set_target_node_id(follower);
    scheduler::TransferLeadershipResponse r;
    auto t = admin->TransferLeadership(&ctx, req, &r);
    CHECK_MESSAGE(t.ok(), t.error_message());
    CHECK(r.new_leader_id() == follower);
  }

  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}

}  // TEST_SUITE
