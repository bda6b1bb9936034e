// The transport end to end on loopback: a peer_transport actor calls a real
// gRPC server carrying the peer services, whose inbox is played by fake
// actors; plus the rule that ends a status batch's retries.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <variant>

#include <caf/all.hpp>
#include <grpcpp/grpcpp.h>

#include "protocol/errors.hpp"
#include "runtime/common/wall_clock.hpp"
#include "tests/transport/unanswered_call.hpp"
#include "transport/peer_services.hpp"
#include "transport/peer_transport.hpp"
#include "transport/server_stop.hpp"
#include "transport/status_report.hpp"

using namespace troupe;
using std::chrono::seconds;

namespace {

constexpr char job_id[] = "123e4567-e89b-42d3-a456-426614174000";


std::atomic<int> stepped{0};  // raft messages fake_raft received
std::atomic<int> proposed{0};  // proposals it received
std::atomic<std::int64_t> proposed_at_ns{0};  // the time of the last proposed status batch's first update
std::mutex commits_mutex;
std::vector<std::uint64_t> commits;  // the commit field of each heartbeat fake_raft received, in order

// Plays raft_node: the first update's job id (or the drained worker) picks the answer.
raft_inbox::behavior_type fake_raft() {
  return {
      [](step_atom, const raft::message& m) {
        if (m.type == raft::msg_type::heartbeat) {
          std::lock_guard<std::mutex> g(commits_mutex);
          commits.push_back(m.commit);
        }
        ++stepped;
      },
      [](propose_atom, const logpb::Command& cmd) -> caf::result<proposal_result> {
        ++proposed;
        if (cmd.has_set_worker_draining()) {
          if (cmd.set_worker_draining().worker_id() == 3) return not_leader_error(3, "127.0.0.1:9");
          proposal_result r;
          r.index = 42;
          return r;
        }
        const auto& id = cmd.batch_update_job_status().updates(0).job_id();
        proposed_at_ns = cmd.batch_update_job_status().updates(0).at_ns();
        if (id == "gone") return make_error(errc::not_found, "job not found");
        if (id == "busy") return make_error(errc::resource_exhausted, "queue full");
        if (id == "moved") return not_leader_error(3, "127.0.0.1:9");
        return proposal_result{};
      },
  };
}

heartbeat_inbox::behavior_type fake_tracker() {
  return {[](heartbeat_atom, const worker_report& w) { return heartbeat_reply{w.node_id == 1, 2, 7, "127.0.0.1:1"}; }};
}

output_inbox::behavior_type fake_supervisor() {
  return {[](output_atom, const std::string& id) {
    job_output o;
    o.found = true;
    o.stdout_data = "out of " + id;
    o.stdout_bytes = 99;
    o.truncated = true;
    return o;
  }};
}

raft::membership conf_of(std::initializer_list<raft::member> ms) {
  raft::membership c;
  for (const auto& m : ms) c.put(m);
  return c;
}

config::node_config make_config(std::uint64_t id, int port) {
  config::node_config c;
  c.id = id;
  c.members = {{1, "127.0.0.1:1", "", ""}, {2, "127.0.0.1:" + std::to_string(port), "", ""}, {3, "127.0.0.1:2", "", ""}};
  return c;
}

// A server on a free loopback port carrying one service (the peer a test
// plays), with `interceptors`; `port` is set to where it listens.
std::unique_ptr<grpc::Server> serve(
    grpc::Service& service, int& port,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors = {}) {
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  if (!interceptors.empty()) b.experimental().SetInterceptorCreators(std::move(interceptors));
  auto server = b.BuildAndStart();
  REQUIRE(port != 0);
  return server;
}

// Node 1's peer_transport, whose peer node 2 is `peer` on loopback.
template <class Service>
struct lone_peer {
  caf::actor_system_config acfg;
  caf::actor_system sys{acfg};
  Service peer;
  int port = 0;
  std::unique_ptr<grpc::Server> server = serve(peer, port);
  config::node_config cfg = make_config(1, port);
  std::shared_ptr<peer_clients> clients = std::make_shared<peer_clients>(cfg);
  peer_transport_actor transport =
      sys.spawn(peer_transport, cfg, clients, std::make_shared<transport::member_directory>(cfg));
  ~lone_peer() {
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    server->Shutdown();
  }
};

status_batch batch(std::uint64_t seq, const std::string& job) {
  status_batch b;
  b.seq = seq;
  auto& u = b.updates.emplace_back();
  u.set_job_id(job);
  // What a worker sends (transport/peer_validation refuses anything less).
  u.set_status(scheduler::JOB_STATUS_RUNNING);
  u.set_attempt(1);
  u.set_executed_by(1);
  u.set_at_ns(wall_clock_ns());
  return b;
}

// A heartbeat from `from` to node 2 (the server's node).
raft::message heartbeat(std::uint64_t from = 1, std::uint64_t term = 3, std::uint64_t commit = 0) {
  raft::message m;
  m.type = raft::msg_type::heartbeat;
  m.from = from;
  m.to = 2;
  m.term = term;
  m.commit = commit;
  return m;
}

struct fixture {
  caf::actor_system_config acfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<peer_services> services;
  std::shared_ptr<transport::member_directory> server_members;  // node 2's view of the configuration
  int server_port = 0;
  std::unique_ptr<grpc::Server> server;
  peer_transport_actor transport;

  fixture() {
    register_error_category(acfg);
    sys = std::make_unique<caf::actor_system>(acfg);
    grpc::ServerBuilder b;
    int& port = server_port;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    peer_inbox inbox{sys->spawn(fake_raft), sys->spawn(fake_tracker), sys->spawn(fake_supervisor)};
    server_members = std::make_shared<transport::member_directory>(make_config(2, 0));
    services = add_peer_services(b, *sys, make_config(2, 0), inbox, server_members);
    server = b.BuildAndStart();
    REQUIRE(port != 0);
    auto cfg = make_config(1, port);
    transport = sys->spawn(peer_transport, cfg, std::make_shared<peer_clients>(cfg),
                           std::make_shared<transport::member_directory>(cfg));
  }
  ~fixture() {
    // As the node does: the transport's exit closes its outbound stream, and
    // the server ends the inbound ones, so Shutdown waits for nothing.
    caf::anon_send_exit(transport, caf::exit_reason::user_shutdown);
    stop_inbound_streams(*services);
    server->Shutdown();
  }

  // The answer to one request, or the errc it failed with.
  template <class T, class... Ts>
  std::variant<T, error_info> ask(Ts... xs) {
    caf::scoped_actor self{*sys};
    std::variant<T, error_info> out;
    self->request(transport, seconds(30), xs...)
        .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { out = describe(e); });
    return out;
  }
};

}  // namespace

TEST_CASE("a status batch's answer is final when applied or refused for good") {
  CHECK(acknowledge(5, caf::error{}).final);
  CHECK(acknowledge(5, caf::error{}).seq == 5);
  for (auto c : {errc::not_found, errc::failed_precondition, errc::invalid_argument}) CHECK(is_final(c));
  for (auto c : {errc::not_leader, errc::unavailable, errc::deadline_exceeded, errc::resource_exhausted,
                 errc::internal})
    CHECK_FALSE(is_final(c));
  auto e = not_leader_error(2, "a:1");
  CHECK(describe(e).code == errc::not_leader);
  CHECK(describe(e).leader_id == 2);
  CHECK_FALSE(acknowledge(1, e).final);
  CHECK(acknowledge(1, make_error(errc::not_found, "job not found")).final);
}

TEST_CASE("peer_transport <-> peer services over gRPC") {
  fixture f;

  SUBCASE("ForwardJobStatus answers each batch by its own seq, final or not") {
    auto ok = std::get<report_ack>(f.ask<report_ack>(report_atom::value, std::uint64_t{2}, batch(7, "j")));
    CHECK(ok.seq == 7);
    CHECK(ok.final);
    auto gone = std::get<report_ack>(f.ask<report_ack>(report_atom::value, std::uint64_t{2}, batch(8, "gone")));
    CHECK(gone.seq == 8);
    CHECK(gone.final);
    for (const char* retry : {"busy", "moved"}) {
      auto r = std::get<report_ack>(f.ask<report_ack>(report_atom::value, std::uint64_t{2}, batch(9, retry)));
      CHECK(r.seq == 9);
      CHECK_FALSE(r.final);
    }
  }

  SUBCASE("SetWorkerDraining: commit index, or not_leader with the leader from trailing metadata") {
    auto idx = f.ask<std::uint64_t>(drain_atom::value, std::uint64_t{2}, std::uint64_t{2}, true);
    REQUIRE(std::holds_alternative<std::uint64_t>(idx));
    CHECK(std::get<std::uint64_t>(idx) == 42);
    auto moved = f.ask<std::uint64_t>(drain_atom::value, std::uint64_t{2}, std::uint64_t{3}, true);
    REQUIRE(std::holds_alternative<error_info>(moved));
    auto info = std::get<error_info>(moved);
    CHECK(info.code == errc::not_leader);
    CHECK(info.leader_id == 3);
    CHECK(info.leader_address == "127.0.0.1:9");
    auto stranger = f.ask<std::uint64_t>(drain_atom::value, std::uint64_t{2}, std::uint64_t{8}, true);
    REQUIRE(std::holds_alternative<error_info>(stranger));
    CHECK(std::get<error_info>(stranger).code == errc::invalid_argument);
  }

  SUBCASE("WorkerHeartbeat and GetJobOutput") {
    worker_report w;
    w.node_id = 1;
    w.running_jobs = {"a", "b"};
    auto h = std::get<heartbeat_reply>(f.ask<heartbeat_reply>(heartbeat_atom::value, std::uint64_t{2}, w));
    CHECK(h.accepted);
    CHECK(h.term == 7);
    CHECK(h.leader_address == "127.0.0.1:1");
    // With no leader known, the beat goes to another member of the
    // configuration raft_node announced, whose answer names its leader.
    role_change rc;
    rc.conf = conf_of({{1, true, "127.0.0.1:1", "", ""},
                       {2, true, "127.0.0.1:" + std::to_string(f.server_port), "", ""},
                       {3, true, "127.0.0.1:2", "", ""}});
    rc.conf_index = 3;
    caf::anon_send(f.transport, rc);  // handled before the request below: one mailbox, in order
    auto asked = std::get<heartbeat_reply>(f.ask<heartbeat_reply>(heartbeat_atom::value, std::uint64_t{0}, w));
    CHECK(asked.leader_id == 2);
    auto o = std::get<job_output>(f.ask<job_output>(output_atom::value, std::uint64_t{2}, std::string(job_id)));
    CHECK(o.found);
    CHECK(o.stdout_data == std::string("out of ") + job_id);
    CHECK(o.stdout_bytes == 99);
    CHECK(o.truncated);
    auto bad = f.ask<job_output>(output_atom::value, std::uint64_t{2}, std::string("../etc"));
    REQUIRE(std::holds_alternative<error_info>(bad));
    CHECK(std::get<error_info>(bad).code == errc::invalid_argument);
  }

  SUBCASE("issue 11: a forged status update is refused INVALID_ARGUMENT and never proposed") {
    const int before = proposed.load();
    auto forged = batch(3, "j");
    forged.updates[0].set_attempt(0);
    forged.updates[0].set_status(scheduler::JOB_STATUS_COMPLETED);
    forged.updates[0].set_stdout_inline("fake output");
    auto r = f.ask<report_ack>(report_atom::value, std::uint64_t{2}, forged);
    REQUIRE(std::holds_alternative<error_info>(r));
    CHECK(std::get<error_info>(r).code == errc::invalid_argument);
    CHECK(std::get<error_info>(r).message.find("updates[0].attempt: missing (0)") != std::string::npos);
    // A refusal is final for the worker: resending would block its outbox.
    CHECK(acknowledge(3, make_error(errc::invalid_argument, "x")).final);
    CHECK(proposed.load() == before);
  }

  SUBCASE("a status update timed far off the leader's clock is proposed at the leader's time, not refused") {
    for (std::int64_t off : {std::int64_t{1} - wall_clock_ns(), std::int64_t{600'000'000'000}}) {
      CAPTURE(off);  // 1970 (issue 11: retention would erase the job at once); a worker 10 minutes ahead
      auto skewed = batch(5, "j");
      skewed.updates[0].set_at_ns(skewed.updates[0].at_ns() + off);
      const std::int64_t before = wall_clock_ns();
      auto ack = std::get<report_ack>(f.ask<report_ack>(report_atom::value, std::uint64_t{2}, skewed));
      CHECK(ack.final);
      CHECK(proposed_at_ns.load() >= before);
      CHECK(proposed_at_ns.load() <= wall_clock_ns());
    }
  }

  SUBCASE("issue 11: a heartbeat with term 2^64-1 is not delivered; an honest one is") {
    const int before = stepped.load();
    raft::message m = heartbeat(1, ~std::uint64_t{0});
    caf::anon_send(f.transport, send_atom::value, raft_outbox{{m}});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(stepped.load() == before);
    m.term = 3;
    caf::anon_send(f.transport, send_atom::value, raft_outbox{{m}});
    for (int i = 0; i < 100 && stepped.load() == before; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(stepped.load() == before + 1);
  }

  SUBCASE("appends and heartbeats to a peer travel down one stream, in the order sent") {
    {
      std::lock_guard<std::mutex> g(commits_mutex);
      commits.clear();
    }
    constexpr std::uint64_t n = 500;
    for (std::uint64_t i = 1; i <= n; ++i)  // one write each: separate unary calls could overtake each other
      caf::anon_send(f.transport, send_atom::value, raft_outbox{{heartbeat(1, 3, i)}});
    std::vector<std::uint64_t> got;
    for (int i = 0; i < 100 && got.size() < n; ++i) {  // bounded: 5 s
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::lock_guard<std::mutex> g(commits_mutex);
      got = commits;
    }
    REQUIRE(got.size() == n);
    for (std::uint64_t i = 0; i < n; ++i) CHECK(got[i] == i + 1);
  }

  SUBCASE("no channel to a node that is not a peer") {
    auto r = f.ask<report_ack>(report_atom::value, std::uint64_t{9}, batch(1, "j"));
    REQUIRE(std::holds_alternative<error_info>(r));
    CHECK(std::get<error_info>(r).code == errc::unavailable);
  }
}

namespace {

// Counts heartbeats node 2's server steps into its raft inbox from `from`, one at a time.
bool stepped_from(fixture& f, std::uint64_t from) {
  const int before = stepped.load();
  raft_outbox out{{heartbeat(from)}};
  // A transport of `from` (node 2's server is at the same address for every peer here).
  config::node_config cfg = make_config(from, 0);
  cfg.members.push_back({from, "127.0.0.1:1", "", ""});
  auto peers = std::make_shared<peer_clients>(cfg);
  auto port = "127.0.0.1:" + std::to_string(f.server_port);
  peers->sync(conf_of({{from, true, "127.0.0.1:1", "", ""}, {2, true, port, "", ""}}));
  auto t = f.sys->spawn(peer_transport, cfg, peers, std::make_shared<transport::member_directory>(cfg));
  caf::anon_send(t, send_atom::value, out);
  bool seen = false;
  for (int i = 0; i < 40 && !seen; ++i) {  // bounded: 2 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    seen = stepped.load() > before;
  }
  caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
  return seen;
}

}  // namespace

TEST_CASE("membership: channels and accepted senders follow the replicated configuration") {
  fixture f;
  const std::string node2 = "127.0.0.1:" + std::to_string(f.server_port);
  f.server_members->update(conf_of({{1, true, "127.0.0.1:1", "", ""}, {2, true, node2, "", ""}, {3, true, "127.0.0.1:2", "", ""}}));

  SUBCASE("a member added later gets a channel once raft_node announces it; a removed one loses it") {
    worker_report w;
    w.node_id = 1;
    auto before = f.ask<heartbeat_reply>(heartbeat_atom::value, std::uint64_t{4}, w);
    REQUIRE(std::holds_alternative<error_info>(before));
    CHECK(std::get<error_info>(before).code == errc::unavailable);  // no channel to node 4 yet
    role_change rc;
    rc.conf = conf_of({{1, true, "127.0.0.1:1", "", ""}, {2, true, node2, "", ""}, {3, true, "127.0.0.1:2", "", ""},
                       {4, false, node2, "", ""}});  // node 4 listens where node 2's server is
    rc.conf_index = 10;
    caf::anon_send(f.transport, rc);
    std::variant<heartbeat_reply, error_info> after = error_info{};
    for (int i = 0; i < 40; ++i) {  // bounded: the role_change is handled asynchronously
      after = f.ask<heartbeat_reply>(heartbeat_atom::value, std::uint64_t{4}, w);
      if (std::holds_alternative<heartbeat_reply>(after)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(std::holds_alternative<heartbeat_reply>(after));
    CHECK(std::get<heartbeat_reply>(after).accepted);
    rc.conf.remove(4);
    rc.conf_index = 11;
    caf::anon_send(f.transport, rc);
    std::variant<heartbeat_reply, error_info> gone = heartbeat_reply{};
    for (int i = 0; i < 40; ++i) {
      gone = f.ask<heartbeat_reply>(heartbeat_atom::value, std::uint64_t{4}, w);
      if (std::holds_alternative<error_info>(gone)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(std::holds_alternative<error_info>(gone));
    CHECK(std::get<error_info>(gone).code == errc::unavailable);
  }

  SUBCASE("the server accepts a member added later and refuses a removed one") {
    CHECK_FALSE(stepped_from(f, 5));  // not a member
    f.server_members->update(conf_of({{1, true, "127.0.0.1:1", "", ""}, {2, true, node2, "", ""}, {3, true, "127.0.0.1:2", "", ""},
                                      {5, false, "127.0.0.1:5", "", ""}}));
    CHECK(stepped_from(f, 5));  // added
    CHECK(stepped_from(f, 1));
    f.server_members->update(conf_of({{2, true, node2, "", ""}, {3, true, "127.0.0.1:2", "", ""}, {5, true, "127.0.0.1:5", "", ""}}));
    CHECK_FALSE(stepped_from(f, 1));  // removed
    worker_report w;
    w.node_id = 1;
    CHECK(std::holds_alternative<error_info>(f.ask<heartbeat_reply>(heartbeat_atom::value, std::uint64_t{2}, w)));
  }
}

TEST_CASE("after a peer restarts, the first Raft message sent to it arrives") {
  fixture f;
  auto send_heartbeat = [&] { caf::anon_send(f.transport, send_atom::value, raft_outbox{{heartbeat()}}); };
  auto arrived = [](int before) {
    for (int i = 0; i < 40 && stepped.load() == before; ++i)  // bounded: 2 s
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return stepped.load() > before;
  };
  int before = stepped.load();
  send_heartbeat();  // opens the stream
  REQUIRE(arrived(before));

  // The peer restarts on the same port: its end of the stream is gone.
  f.server->Shutdown(std::chrono::system_clock::now());
  f.server.reset();
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:" + std::to_string(f.server_port), grpc::InsecureServerCredentials(), &port);
  peer_inbox inbox{f.sys->spawn(fake_raft), f.sys->spawn(fake_tracker), f.sys->spawn(fake_supervisor)};
  f.services = add_peer_services(b, *f.sys, make_config(2, 0), inbox, f.server_members);
  f.server = b.BuildAndStart();
  REQUIRE(port == f.server_port);
  // Until the channel has reconnected any call fails; a heartbeat call that
  // succeeds says it has.
  worker_report w;
  w.node_id = 1;
  bool ready = false;
  for (int i = 0; i < 60 && !ready; ++i) {  // bounded: about 3 s
    ready = std::holds_alternative<heartbeat_reply>(f.ask<heartbeat_reply>(heartbeat_atom::value, std::uint64_t{2}, w));
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(ready);
  // One message, sent once: a sender that took the old stream for open
  // would lose it in a write to the dead stream.
  before = stepped.load();
  send_heartbeat();
  CHECK(arrived(before));
}

TEST_CASE("a Raft stream counts in its peer_clients until it has released its channel") {
  // peer_clients waits for this count before its channels go (raft_stream.hpp:
  // a stream must never release the process's last channel on a gRPC thread).
  fixture f;
  auto cfg = make_config(1, f.server_port);
  auto clients = std::make_shared<peer_clients>(cfg);
  auto t = f.sys->spawn(peer_transport, cfg, clients, std::make_shared<transport::member_directory>(cfg));
  const int before = stepped.load();
  caf::anon_send(t, send_atom::value, raft_outbox{{heartbeat()}});  // opens the stream
  for (int i = 0; i < 40 && stepped.load() == before; ++i)  // bounded: 2 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(stepped.load() > before);
  CHECK_FALSE(clients->streams()->wait_idle(std::chrono::milliseconds(0)));  // open
  caf::anon_send_exit(t, caf::exit_reason::user_shutdown);                  // closes it
  CHECK(clients->streams()->wait_idle(std::chrono::seconds(5)));
}

namespace {

// A peer whose RequestVote never answers: the call stays open until the
// caller cancels it (or its 5 s deadline passes).
class silent_raft final : public raftpb::RaftService::CallbackService {
 public:
  std::atomic<int> waiting{0};
  grpc::ServerUnaryReactor* RequestVote(grpc::CallbackServerContext*, const raftpb::RaftBatch*,
                                        raftpb::Ack*) override {
    ++waiting;
    return new troupe::test::unanswered_call;
  }
};

}  // namespace

TEST_CASE("a unary Raft call counts in its peer_clients until released, and a stopping node cancels it") {
  // Votes, snapshot chunks and TimeoutNow go as unary calls; like the
  // streams, each must release its context before peer_clients releases the
  // channels, and a node that stops must not wait out its deadline.
  lone_peer<silent_raft> f;
  raft::message vote = heartbeat();
  vote.type = raft::msg_type::vote;
  caf::anon_send(f.transport, send_atom::value, raft_outbox{{vote}});
  for (int i = 0; i < 100 && f.peer.waiting.load() == 0; ++i)  // bounded: 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(f.peer.waiting.load() == 1);
  CHECK_FALSE(f.clients->streams()->wait_idle(std::chrono::milliseconds(0)));  // the vote is open
  caf::anon_send_exit(f.transport, caf::exit_reason::user_shutdown);
  // What ~peer_clients does first. Well within the call's 5 s deadline.
  f.clients->streams()->cancel_calls();
  CHECK(f.clients->streams()->wait_idle(std::chrono::seconds(3)));
}

namespace {

// RequestVote answers when the test says so.
class gated_raft final : public raftpb::RaftService::CallbackService {
 public:
  std::atomic<int> arrived{0};
  grpc::ServerUnaryReactor* RequestVote(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch*,
                                        raftpb::Ack*) override {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ = ctx->DefaultReactor();
    ++arrived;
    return held_;
  }
  void answer() {
    std::lock_guard<std::mutex> lock(mutex_);
    held_->Finish(grpc::Status::OK);
  }

 private:
  std::mutex mutex_;
  grpc::ServerUnaryReactor* held_ = nullptr;
};

// A channel with a connection of its own (not shared through gRPC's subchannel pool).
std::unique_ptr<raftpb::RaftService::Stub> own_connection(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return raftpb::RaftService::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
}

}  // namespace

TEST_CASE("a stopping server answers the unary calls in flight, and an idle client does not hold it") {
  gated_raft peer;
  transport::server_stop stopping;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counters;
  counters.push_back(stopping.call_counter());
  int port = 0;
  auto server = serve(peer, port, std::move(counters));

  // A client that connected and now reads nothing, as a synchronous stub
  // between calls in another process does (in this one, the server's own
  // threads would read for it): an HTTP/2 connection preface and SETTINGS,
  // the server's SETTINGS read back, then silence.
  int idle = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(idle >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(idle, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  const std::string hello = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\4\0\0\0\0\0", 9);
  REQUIRE(::write(idle, hello.data(), hello.size()) == static_cast<ssize_t>(hello.size()));
  char frame[9];
  REQUIRE(::recv(idle, frame, sizeof frame, MSG_WAITALL) == 9);
  CHECK(frame[3] == 4);  // SETTINGS: the server took the connection
  // A call in flight when the stop begins, answered 200 ms into it.
  auto busy = own_connection(port);
  grpc::Status answered;
  std::thread caller([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    raftpb::Ack ack;
    answered = busy->RequestVote(&ctx, raftpb::RaftBatch{}, &ack);
  });
  for (int i = 0; i < 100 && peer.arrived.load() == 0; ++i)  // bounded: 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(peer.arrived.load() == 1);
  std::thread answerer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    peer.answer();
  });
  const auto t0 = std::chrono::steady_clock::now();
  stopping.stop(*server, std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - t0;
  caller.join();
  answerer.join();
  CHECK(answered.ok());  // answered, not cancelled by the stop
  // Not a speed check: with gRPC's own Shutdown(deadline) the idle client
  // held the stop until gRPC gave up on it (20 s here; the margin is 30 s).
  CHECK(took < std::chrono::seconds(15));
  MESSAGE("stopped in " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  ::close(idle);
}

namespace {

// An older node's RaftService: AppendEntries only (gRPC answers UNIMPLEMENTED
// for Stream).
class unary_only_raft final : public raftpb::RaftService::CallbackService {
 public:
  std::atomic<int> delivered{0};
  grpc::ServerUnaryReactor* AppendEntries(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                          raftpb::Ack*) override {
    delivered += req->messages_size();
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

}  // namespace

TEST_CASE("a peer without RaftService.Stream (an older node) gets its appends as unary calls") {
  lone_peer<unary_only_raft> f;
  auto& old_node = f.peer;
  auto& t = f.transport;
  const raft::message m = heartbeat();
  // The first stream's refusal arrives asynchronously; until then a heartbeat
  // may be lost, as any Raft message may. Then every one arrives.
  for (int i = 0; i < 100 && old_node.delivered.load() == 0; ++i) {  // bounded: 5 s
    caf::anon_send(t, send_atom::value, raft_outbox{{m}});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(old_node.delivered.load() > 0);
  const int before = old_node.delivered.load();
  for (int i = 0; i < 10; ++i) caf::anon_send(t, send_atom::value, raft_outbox{{m}});
  for (int i = 0; i < 100 && old_node.delivered.load() < before + 10; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(old_node.delivered.load() == before + 10);
}

TEST_CASE("member_directory: a node outside its own configuration accepts anyone; a member only members") {
  config::node_config cfg = make_config(4, 0);
  cfg.join = true;
  cfg.members.push_back({4, "127.0.0.1:4", "", ""});
  transport::member_directory d(cfg);
  CHECK(d.current()->empty());       // joining: nothing until the leader's configuration arrives
  CHECK(d.accepts(9));               // whoever leads may add it
  CHECK_FALSE(d.accepts(0));
  CHECK(d.address(1) == "127.0.0.1:1");  // the seed list stands in for addresses
  CHECK_FALSE(d.update(raft::membership{}));  // an empty configuration is no news
  CHECK(d.update(conf_of({{1, true, "10.0.0.1:1", "", ""}, {4, false, "127.0.0.1:4", "", ""}})));
  CHECK_FALSE(d.update(conf_of({{1, true, "10.0.0.1:1", "", ""}, {4, false, "127.0.0.1:4", "", ""}})));
  CHECK(d.accepts(1));
  CHECK_FALSE(d.accepts(9));
  CHECK(d.address(1) == "10.0.0.1:1");  // the replicated address wins
}
