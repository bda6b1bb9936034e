// raft_node in-process, with stand-ins for log_store, job_table and
// peer_transport: its typed errors, and commit deadlines measured on the
// injected clock (so expiry is driven by the test, not by waiting).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <caf/all.hpp>

#include "actors/raft_membership.hpp"
#include "actors/raft_node.hpp"
#include "protocol/errors.hpp"

using namespace troupe;
using std::chrono::milliseconds;

namespace {

// Keeps every persist request unanswered: nothing this node proposes commits.
struct silent_store_state {
  std::vector<caf::typed_response_promise<persist_done>> held;
};
log_store_actor::behavior_type silent_store(log_store_actor::stateful_pointer<silent_store_state> self) {
  return {
      [=](persist_atom, persist_request&) -> caf::result<persist_done> {
        self->state.held.push_back(self->make_response_promise<persist_done>());
        return self->state.held.back();
      },
      [](install_atom, raft::index_t) { return persist_done{}; },
  };
}

job_table_actor::behavior_type empty_table() {
  return {
      [](apply_atom, entry_batch&) { return apply_outcomes{}; },
      [](restore_atom, snapshot_blob&) { return std::uint64_t{0}; },
      [](compact_atom) { return snapshot_piece{}; },
      [](write_atom) { return snapshot_piece{}; },
      [](cancel_atom, compact_atom) {},
      [](backup_atom) { return backup_piece{}; },
      [](backup_atom, std::uint64_t) { return backup_piece{}; },
      [](get_atom, const std::string&) { return job_lookup{}; },
      [](list_atom, const list_request&) { return list_reply{}; },
      [](subscribe_atom, change_listener) { return job_snapshot_view{}; },
      [](subscribe_atom, change_listener, listener_scope) { return listener_view{}; },
      [](unsub_atom, change_listener) {},
      [](stats_atom) { return table_stats{}; },
      [](oldest_atom) { return oldest_finished{}; },
      [](held_atom, id_list&) { return id_list{}; },
      [](workers_atom, std::uint64_t) { return worker_load{}; },
  };
}

// A node without peers: Raft messages go nowhere, every peer call fails.
peer_transport_actor::behavior_type no_peers() {
  auto none = [] { return make_error(errc::unavailable, "no peers in this test"); };
  return {
      [](send_atom, const raft_outbox&) {},
      [](const role_change&) {},  // membership: nothing to follow here
      [=](report_atom, std::uint64_t, const status_batch&) -> caf::result<report_ack> { return none(); },
      [=](heartbeat_atom, std::uint64_t, const worker_report&) -> caf::result<heartbeat_reply> { return none(); },
      [=](output_atom, std::uint64_t, const std::string&) -> caf::result<job_output> { return none(); },
      [=](drain_atom, std::uint64_t, std::uint64_t, bool) -> caf::result<std::uint64_t> { return none(); },
  };
}

config::node_config make_config(std::size_t members) {
  config::node_config c;
  c.id = 1;
  for (std::uint64_t id = 1; id <= members; ++id) c.members.push_back({id, "127.0.0.1:" + std::to_string(50050 + id), "", ""});
  c.raft.tick_ms = 5;
  c.raft.election_ticks = 10;
  c.raft.heartbeat_ticks = 1;
  c.raft.commit_deadline_ms = 60000;  // far beyond this test's real running time
  return c;
}

struct node {
  caf::actor_system_config acfg;
  std::unique_ptr<caf::actor_system> sys;
  raft_node_actor raft;
  std::vector<caf::actor> all;
  std::shared_ptr<std::atomic<std::int64_t>> skew_ms = std::make_shared<std::atomic<std::int64_t>>(0);

  explicit node(std::size_t members) {
    register_error_category(acfg);
    sys = std::make_unique<caf::actor_system>(acfg);
    auto init = std::make_shared<raft_node_init>();
    init->cfg = make_config(members);
    init->store = sys->spawn(silent_store);
    init->table = sys->spawn(empty_table);
    init->transport = sys->spawn(no_peers);
    auto skew = skew_ms;
    init->now = [skew] { return std::chrono::steady_clock::now() + milliseconds(skew->load()); };
    raft = sys->spawn(raft_node, init);
    for (auto a : {caf::actor_cast<caf::actor>(raft), caf::actor_cast<caf::actor>(init->store),
                   caf::actor_cast<caf::actor>(init->table), caf::actor_cast<caf::actor>(init->transport)})
      all.push_back(a);
  }
  ~node() {
    for (auto& a : all) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  raft_status status() {
    caf::scoped_actor self{*sys};
    raft_status out;
    self->request(raft, milliseconds(2000), status_atom::value).receive([&](raft_status& s) { out = s; }, [](caf::error&) {});
    return out;
  }

  // The error a submit proposal is answered with (none: it succeeded).
  caf::error propose_submit(milliseconds wait) {
    caf::scoped_actor self{*sys};
    logpb::Command cmd;
    cmd.mutable_submit_job()->set_command("echo x");
    caf::error out;
    self->request(raft, wait, propose_atom::value, cmd)
        .receive([](proposal_result&) {}, [&](caf::error& e) { out = std::move(e); });
    return out;
  }
};

}  // namespace

TEST_CASE("a follower that knows no leader answers not_leader with the spec's text") {
  node n(3);  // its peers never answer: no leader is ever elected
  auto e = n.propose_submit(milliseconds(2000));
  auto info = describe(e);
  CHECK(info.code == errc::not_leader);
  CHECK(info.message == "Not the leader: the leader is unknown (election in progress)");
  CHECK(info.leader_id == 0);
}

TEST_CASE("a proposal that does not commit answers deadline_exceeded once the injected clock passes its deadline") {
  node n(1);  // a single voter elects itself
  auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  while (n.status().role != raft::role::leader && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  REQUIRE(n.status().role == raft::role::leader);
  // The store never persists, so the entry never commits; a minute on the
  // node's clock passes after 100 ms of real time.
  std::thread clock_jump([&] {
    std::this_thread::sleep_for(milliseconds(100));
    n.skew_ms->store(61000);
  });
  auto started = std::chrono::steady_clock::now();
  auto e = n.propose_submit(milliseconds(10000));
  auto waited = std::chrono::steady_clock::now() - started;
  clock_jump.join();
  auto info = describe(e);
  CHECK(info.code == errc::deadline_exceeded);
  CHECK_MESSAGE(info.message.find("not committed within 60000 ms") == 0, info.message);
  CHECK(waited < milliseconds(5000));
}

TEST_CASE("a membership change writes wire addresses only when one is added with the change") {
  // [[members]] name every seed member's wire; the core knows their ids only.
  auto cfg = make_config(3);
  for (auto& m : cfg.members) m.wire_address = "127.0.0.1:5006" + std::to_string(m.id);
  const auto conf = with_addresses(raft::membership::of_voters({1, 2, 3}), cfg);
  CHECK(conf.find(1)->address == cfg.members[0].address);  // gRPC addresses are filled in
  CHECK(conf.find(1)->wire_address.empty());                // wire addresses are not

  // A plain add: the entry is encoding version 1, which builds of feature
  // level 2-4 read.
  auto plain = plan_change(conf, member_change{member_change::op::add, 4, "127.0.0.1:50054", "", ""}, cfg);
  REQUIRE(plain);
  CHECK(raft::encode(*plain)[4] == 1);

  // With a wire address: version 2, carrying that one only.
  auto wired = plan_change(conf, member_change{member_change::op::add, 4, "127.0.0.1:50054", "", "127.0.0.1:50064"}, cfg);
  REQUIRE(wired);
  CHECK(raft::encode(*wired)[4] == 2);
  CHECK(wired->find(4)->wire_address == "127.0.0.1:50064");
  CHECK(wired->find(1)->wire_address.empty());

  // A seed member's wire from [[members]] is taken, as is a gRPC address.
  // So is the new node's own gRPC address.
  for (const char* taken : {"127.0.0.1:50062", "127.0.0.1:50052", "127.0.0.1:50054"})
    CHECK_MESSAGE(!plan_change(conf, member_change{member_change::op::add, 4, "127.0.0.1:50054", "", taken}, cfg),
                  taken);
}
