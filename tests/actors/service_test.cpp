// node_service in-process: the typed errors a client sees for each way a
// request can fail, whichever actor beneath refused it, and the one table per
// gateway that turns them into gRPC codes and HTTP statuses.
#define CAF_SUITE node_service
#include <atomic>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "protocol/feature_level.hpp"
#include "tests/actors/fixture.hpp"

#include "actors/job_dispatcher.hpp"
#include "gateway/grpc_errors.hpp"
#include "gateway/http_json.hpp"
#include "scheduler.grpc.pb.h"
#include "service/node_service.hpp"
#include "tests/transport/unanswered_call.hpp"

using namespace troupe;
using namespace troupe::test;

namespace {

using propose_fn = std::function<caf::result<proposal_result>(const logpb::Command&)>;

// raft_node whose proposals and status the test sets; it records the
// targets of the leadership transfers asked of it.
raft_node_actor::behavior_type scripted_raft(raft_node_actor::pointer, std::shared_ptr<propose_fn> answer,
                                             std::shared_ptr<raft_status> status,
                                             std::shared_ptr<std::vector<std::uint64_t>> transfers) {
  return {
      [](tick_atom) {},
      [](step_atom, const raft::message&) {},
      [=](propose_atom, logpb::Command& cmd) -> caf::result<proposal_result> { return (*answer)(cmd); },
      [=](status_atom) { return *status; },
      [](log_atom, std::uint64_t, std::uint32_t) { return log_page{}; },
      [=](transfer_atom, std::uint64_t target) {
        transfers->push_back(target);
        return target;
      },
      [](read_atom) { return std::uint64_t{0}; },
      [](member_atom, const member_change& c) -> caf::result<member_result> { return member_result{{}, c.id}; },
      [](subscribe_atom, role_listener) {},
      [](backlog_atom, bool) {},
      [](shutdown_atom) { return std::size_t{0}; },
  };
}

// heartbeat_tracker whose worker list the test sets.
heartbeat_tracker_actor::behavior_type listing_tracker(heartbeat_tracker_actor::pointer,
                                                       std::shared_ptr<worker_list> workers) {
  return {
      [](tick_atom) {},
      [](const role_change&) {},
      [](heartbeat_atom, const worker_report&) { return heartbeat_reply{}; },
      [=](workers_atom) { return *workers; },
      [](subscribe_atom, worker_listener) {},
  };
}

job_supervisor_actor::behavior_type idle_supervisor() {
  return {
      [](const role_change&) {},
      [](const job_changes&) {},
      [](done_atom, executor_result&) {},
      [](tick_atom) {},
      [](running_atom) {},
      [](heartbeat_atom, bool) {},
      [](workers_atom) { return worker_report{}; },
      [](output_atom, const std::string&) { return job_output{}; },
      [](shutdown_atom) { return std::size_t{0}; },
      [](topology_atom) { return topology{}; },
  };
}

constexpr char some_job[] = "123e4567-e89b-42d3-a456-426614174000";

struct service_fixture : sim_fixture {
  temp_dir dir;
  std::shared_ptr<propose_fn> reply = std::make_shared<propose_fn>();
  std::shared_ptr<raft_status> status = std::make_shared<raft_status>();
  std::shared_ptr<std::vector<std::uint64_t>> transfers = std::make_shared<std::vector<std::uint64_t>>();
  std::shared_ptr<fake_network> net = std::make_shared<fake_network>();
  std::shared_ptr<peer_script> script = std::make_shared<peer_script>();
  std::shared_ptr<worker_list> workers = std::make_shared<worker_list>();
  job_table_actor table = own(sys.spawn(job_table));
  std::shared_ptr<const peer_clients> peers;
  node_service_actor service;

  service_fixture() { service = spawn_service(node_config_for(1, 3, dir.path)); }

  // Node 1's node_service over the stand-ins above, with `cfg`'s members as
  // its peers.
  node_service_actor spawn_service(config::node_config cfg) {
    auto init = std::make_shared<node_service_init>();
    init->cfg = std::move(cfg);
    init->raft = sys.spawn(scripted_raft, reply, status, transfers);
    init->table = table;
    init->tracker = sys.spawn(listing_tracker, workers);
    // The real one: scripted_raft names no leader, so it passes every submit on.
    init->dispatcher = own(sys.spawn(job_dispatcher, init->cfg, init->raft, table, init->tracker,
                                     std::function<std::chrono::steady_clock::time_point()>(
                                         [this] { return sched.clock().now(); })));
    init->supervisor = sys.spawn(idle_supervisor);
    init->transport = sys.spawn(fake_transport, 1, net, script);
    init->peers = peers = std::make_shared<const peer_clients>(init->cfg);
    auto spawned = own(sys.spawn(node_service, init));
    settle();
    return spawned;
  }

  template <class T, class... Ts>
  std::shared_ptr<answer<T>> ask_service(Ts... xs) {
    return ask<T>(service, xs...);
  }

  submit_request submit(std::string command) {
    submit_request r;
    r.command = std::move(command);
    return r;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(service_tests, service_fixture)

CAF_TEST(a bad command is invalid_argument before anything is proposed) {
  bool proposed = false;
  *reply = [&](const logpb::Command&) -> caf::result<proposal_result> {
    proposed = true;
    return proposal_result{};
  };
  auto a = ask_service<proposal_result>(submit_atom::value, submit(""));
  CAF_REQUIRE(a->error.has_value());
  CAF_CHECK(a->error->code == errc::invalid_argument);
  CAF_CHECK_EQUAL(a->error->message, "command must not be empty");
  CAF_CHECK(!proposed);
}

CAF_TEST(a timeout above executor.max_timeout_s is invalid_argument naming the limit; 0 and the limit pass) {
  std::vector<std::uint32_t> proposed;
  *reply = [&](const logpb::Command& cmd) -> caf::result<proposal_result> {
    proposed.push_back(cmd.submit_job().timeout_s());
    return proposal_result{1, "job", 1};
  };
  auto req = submit("true");
  req.timeout_s = 4294967295u;
  auto a = ask_service<proposal_result>(submit_atom::value, req);
  CAF_REQUIRE(a->error.has_value());
  CAF_CHECK(a->error->code == errc::invalid_argument);
  CAF_CHECK_EQUAL(a->error->message, "timeout_s is 4294967295; the limit is 86400 ([executor] max_timeout_s); "
                                     "0 means the default");
  CAF_CHECK(proposed.empty());
  req.timeout_s = 86400;
  CAF_CHECK(!ask_service<proposal_result>(submit_atom::value, req)->error.has_value());
  req.timeout_s = 0;
  CAF_CHECK(!ask_service<proposal_result>(submit_atom::value, req)->error.has_value());
  CAF_CHECK(proposed == (std::vector<std::uint32_t>{86400, 0}));
}

CAF_TEST(a follower answers not_leader with the leader it knows) {
  *reply = [](const logpb::Command&) -> caf::result<proposal_result> {
    return not_leader_error(2, "127.0.0.1:50052");
  };
  auto a = ask_service<proposal_result>(submit_atom::value, submit("echo hi"));
  CAF_REQUIRE(a->error.has_value());
  CAF_CHECK(a->error->code == errc::not_leader);
  CAF_CHECK_EQUAL(a->error->leader_id, 2u);
  CAF_CHECK_EQUAL(a->error->message, "Not the leader: leader is node 2 at 127.0.0.1:50052");
}

CAF_TEST(a draining follower answers unavailable and names the drain) {
  // The drain is what this node's table holds (a committed set_worker_draining).
  logpb::Command drain;
  drain.mutable_set_worker_draining()->set_worker_id(1);
  drain.mutable_set_worker_draining()->set_draining(true);
  raft::entry e;
  e.term = 1;
  e.index = 1;
  e.data = drain.SerializeAsString();
  self->send(table, apply_atom::value, entry_batch{{e}});
  settle();
  *reply = [](const logpb::Command&) -> caf::result<proposal_result> {
    return not_leader_error(2, "127.0.0.1:50052");
  };
  auto a = ask_service<proposal_result>(submit_atom::value, submit("echo hi"));
  CAF_REQUIRE(a->error.has_value());
  CAF_CHECK(a->error->code == errc::unavailable);
  CAF_CHECK(a->error->message.find("draining") != std::string::npos);
}

CAF_TEST(the leaders refusals reach the client unchanged) {
  *reply = [](const logpb::Command&) -> caf::result<proposal_result> {
    return make_error(errc::resource_exhausted, "too many active jobs (5, limit 5); retry later");
  };
  auto a = ask_service<proposal_result>(submit_atom::value, submit("echo hi"));
  CAF_REQUIRE(a->error.has_value());
  CAF_CHECK(a->error->code == errc::resource_exhausted);
  CAF_CHECK_EQUAL(a->error->message, "too many active jobs (5, limit 5); retry later");

  *reply = [](const logpb::Command&) -> caf::result<proposal_result> {
    return make_error(errc::failed_precondition, "job is already completed");
  };
  auto c = ask_service<std::uint64_t>(cancel_atom::value, std::string(some_job), false, std::string());
  CAF_REQUIRE(c->error.has_value());
  CAF_CHECK(c->error->code == errc::failed_precondition);
  CAF_CHECK_EQUAL(c->error->message, "job is already completed");
}

CAF_TEST(cancel of an unknown job is not_found naming the job) {
  *reply = [](const logpb::Command& cmd) -> caf::result<proposal_result> {
    CAF_CHECK(cmd.has_cancel_job());
    CAF_CHECK_GREATER(cmd.cancel_job().cancelled_at_ns(), 0);  // the service stamps the time
    return make_error(errc::not_found, "job not found");
  };
  auto c = ask_service<std::uint64_t>(cancel_atom::value, std::string(some_job), false, std::string());
  CAF_REQUIRE(c->error.has_value());
  CAF_CHECK(c->error->code == errc::not_found);
  CAF_CHECK_EQUAL(c->error->message, std::string("job ") + some_job + " not found");
  auto bad = ask_service<std::uint64_t>(cancel_atom::value, std::string("not-a-uuid"), false, std::string());
  CAF_REQUIRE(bad->error.has_value());
  CAF_CHECK(bad->error->code == errc::invalid_argument);
}

CAF_TEST(membership changes wait until the build of every live member reads them) {
  worker_state old_build;  // a rolling upgrade: node 3 still runs a build of feature level 1
  old_build.report.node_id = 3;
  old_build.report.feature_level = 1;
  old_build.alive = true;
  workers->workers.push_back(old_build);
  member_change add{member_change::op::add, 4, "127.0.0.1:50054", "", ""};
  auto refused = ask_service<member_result>(member_atom::value, add);
  CAF_REQUIRE(refused->error.has_value());
  CAF_CHECK(refused->error->code == errc::failed_precondition);
  CAF_CHECK(refused->error->message.find("node 3 runs an older build") != std::string::npos);
  // Dead, it cannot misapply the entry: the change goes ahead.
  workers->workers.front().alive = false;
  auto dead = ask_service<member_result>(member_atom::value, add);
  CAF_CHECK(!dead->error.has_value());
  // Upgraded and alive: likewise.
  workers->workers.front().alive = true;
  workers->workers.front().report.feature_level = feature_level;
  auto done = ask_service<member_result>(member_atom::value, add);
  CAF_CHECK(!done->error.has_value());
}

CAF_TEST(a wire address in a membership change waits until every live member reads one) {
  worker_state level4;  // reads membership changes, not version 2 of their encoding
  level4.report.node_id = 3;
  level4.report.feature_level = feature_level_member_wire - 1;
  level4.alive = true;
  workers->workers.push_back(level4);
  member_change with_wire{member_change::op::add, 4, "127.0.0.1:50054", "", "127.0.0.1:50064"};
  auto refused = ask_service<member_result>(member_atom::value, with_wire);
  CAF_REQUIRE(refused->error.has_value());
  CAF_CHECK(refused->error->code == errc::failed_precondition);
  CAF_CHECK(refused->error->message.find("cannot read a member's wire address") != std::string::npos);
  CAF_CHECK(refused->error->message.find("or add the node without its wire") != std::string::npos);
  // Without the wire the same node may be added now.
  member_change plain{member_change::op::add, 4, "127.0.0.1:50054", "", ""};
  auto ok = ask_service<member_result>(member_atom::value, plain);
  CAF_CHECK(!ok->error.has_value());
  workers->workers.front().report.feature_level = feature_level_member_wire;
  auto done = ask_service<member_result>(member_atom::value, with_wire);
  CAF_CHECK(!done->error.has_value());
}

CAF_TEST(a leader that reaches no other voter hands nothing over and says so) {
  // Node 1 leads a cluster of three whose other members its tracker still
  // counts as alive, as the last node of a cluster stopped one by one does;
  // nothing listens at their addresses, so its channels are not connected.
  status->node_id = status->leader_id = 1;
  status->role = raft::role::leader;
  status->conf = raft::membership::of_voters({1, 2, 3});
  status->peers = {{1, 9, 10, true, true}, {2, 9, 10, true, true}, {3, 8, 9, true, true}};
  for (std::uint64_t id : {1, 2, 3}) {
    worker_state w;
    w.report.node_id = id;
    w.alive = true;
    workers->workers.push_back(w);
  }
  auto a = ask_service<std::string>(shutdown_atom::value);
  CAF_REQUIRE(a->value.has_value());
  CAF_CHECK_EQUAL(*a->value, "leadership not handed away: no other voter is reachable");
  CAF_CHECK(transfers->empty());
  // A follower has nothing to hand over.
  status->role = raft::role::follower;
  status->leader_id = 2;
  a = ask_service<std::string>(shutdown_atom::value);
  CAF_REQUIRE(a->value.has_value());
  CAF_CHECK_EQUAL(*a->value, "");
  CAF_CHECK(transfers->empty());
}

CAF_TEST(a forwarded call counts in peer_clients until answered and a stopping node cancels it) {
  // A follower submits a REST client's job on the leader (node 2), whose
  // SubmitJob never answers. Like the Raft calls (transport_tests), the call
  // must release its context before peer_clients releases the channels, and a
  // stopping node cancels it rather than wait out forward_wait.
  struct silent_leader final : scheduler::SchedulerService::CallbackService {
    std::atomic<int> waiting{0};
    grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext*, const scheduler::SubmitJobRequest*,
                                        scheduler::SubmitJobResponse*) override {
      ++waiting;
      return new unanswered_call;
    }
  } leader;
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&leader);
  auto server = b.BuildAndStart();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto cfg = node_config_for(1, 3, dir.path);
  cfg.members[1].address = "127.0.0.1:" + std::to_string(port);
  auto follower = spawn_service(cfg);
  *reply = [&](const logpb::Command&) -> caf::result<proposal_result> {
    return not_leader_error(2, cfg.members[1].address);
  };
  auto req = submit("echo forwarded");
  req.forward = true;
  auto a = ask<proposal_result>(follower, submit_atom::value, req);
  for (int i = 0; i < 100 && leader.waiting.load() == 0; ++i)  // bounded: 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CAF_REQUIRE_EQUAL(leader.waiting.load(), 1);
  CAF_CHECK(!peers->streams()->wait_idle(std::chrono::milliseconds(0)));  // the forwarded call is open
  CAF_CHECK(!a->done());
  // What ~peer_clients does first. The call holds its count until the
  // service actor has run its answer (here, when the test lets it run).
  peers->streams()->cancel_calls();
  bool idle = false;
  for (int i = 0; i < 60 && !idle; ++i) {  // bounded: 3 s, well within forward_wait
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    settle();
    idle = peers->streams()->wait_idle(std::chrono::milliseconds(0));
  }
  CAF_CHECK(idle);
  // The cancelled call's answer reached the client as unavailable.
  CAF_REQUIRE(a->error.has_value());
  CAF_CHECK(a->error->code == errc::unavailable);
  CAF_CHECK_EQUAL(a->error->message.rfind("node 2: ", 0), 0u);
  server->Shutdown();
}

CAF_TEST(a request nobody answers in time is deadline_exceeded and a dead actor unavailable) {
  CAF_CHECK(describe(caf::make_error(caf::sec::request_timeout)).code == errc::deadline_exceeded);
  CAF_CHECK(describe(caf::make_error(caf::sec::request_receiver_down)).code == errc::unavailable);
}

CAF_TEST(each errc has one gRPC code and one HTTP status) {
  using C = grpc::StatusCode;
  CAF_CHECK(grpc_code(errc::not_leader) == C::FAILED_PRECONDITION);
  CAF_CHECK(grpc_code(errc::not_found) == C::NOT_FOUND);
  CAF_CHECK(grpc_code(errc::invalid_argument) == C::INVALID_ARGUMENT);
  CAF_CHECK(grpc_code(errc::failed_precondition) == C::FAILED_PRECONDITION);
  CAF_CHECK(grpc_code(errc::resource_exhausted) == C::RESOURCE_EXHAUSTED);
  CAF_CHECK(grpc_code(errc::unavailable) == C::UNAVAILABLE);
  CAF_CHECK(grpc_code(errc::deadline_exceeded) == C::DEADLINE_EXCEEDED);
  CAF_CHECK(grpc_code(errc::internal) == C::INTERNAL);
  CAF_CHECK_EQUAL(http_json::http_status(errc::not_leader), 503);
  CAF_CHECK_EQUAL(http_json::http_status(errc::not_found), 404);
  CAF_CHECK_EQUAL(http_json::http_status(errc::invalid_argument), 400);
  CAF_CHECK_EQUAL(http_json::http_status(errc::failed_precondition), 400);
  CAF_CHECK_EQUAL(http_json::http_status(errc::resource_exhausted), 429);
  CAF_CHECK_EQUAL(http_json::http_status(errc::unavailable), 503);
  CAF_CHECK_EQUAL(http_json::http_status(errc::deadline_exceeded), 504);
  CAF_CHECK_EQUAL(http_json::http_status(errc::internal), 500);
}

CAF_TEST_FIXTURE_SCOPE_END()
