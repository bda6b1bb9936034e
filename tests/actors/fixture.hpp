// In-process actor tests: CAF's deterministic test coordinator runs every
// actor of one or more nodes on one thread, and the test clock drives their
// timers (ticks, deadlines). Whole raft_nodes talk through fake_network, which
// routes Raft messages between them and can cut links (NuRaft's fake network
// and etcd's interaction tests are the models). Real log_store (files in a
// temporary directory) and real job_table: only the wire is fake.
#pragma once

#include <caf/all.hpp>
#include <caf/test/dsl.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/job_table.hpp"
#include "actors/log_store.hpp"
#include "actors/snapshot_writer.hpp"
#include "actors/raft_node.hpp"
#include "config/node_config.hpp"
#include "protocol/errors.hpp"
#include "runtime/storage/segmented_log.hpp"

namespace troupe::test {

// The actor system config every fixture runs: troupe errors render readably.
struct test_config : caf::actor_system_config {
  test_config() { register_error_category(*this); }
};

// A fresh directory under /tmp, removed with the fixture.
struct temp_dir {
  std::string path;
  temp_dir() {
    auto base = std::filesystem::temp_directory_path() / "troupe-actor-test-XXXXXX";
    std::string tmpl = base.string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// What an asked actor answered: a value, a (described) error, or nothing yet.
template <class T>
struct answer {
  std::optional<T> value;
  std::optional<error_info> error;
  bool done() const { return value || error; }
};

// Routes Raft messages between the raft_nodes of an in-process cluster.
// Links are directed; cut() drops every message from a to b until heal().
struct fake_network {
  std::map<std::uint64_t, raft_node_actor> nodes;
  std::set<std::pair<std::uint64_t, std::uint64_t>> cut_links;
  std::uint64_t delivered = 0, dropped = 0;

  bool up(std::uint64_t from, std::uint64_t to) const { return !cut_links.count({from, to}); }
  void isolate(std::uint64_t id) {
    for (const auto& [other, _] : nodes)
      if (other != id) cut_links.insert({id, other}), cut_links.insert({other, id});
  }
  void heal() { cut_links.clear(); }
};

// Answers for the transport's peer calls other than Raft messages; a test
// sets the ones it needs. Unset ones answer unavailable.
struct peer_script {
  std::function<caf::result<report_ack>(std::uint64_t leader, const status_batch&)> report;
  std::function<caf::result<heartbeat_reply>(std::uint64_t leader, const worker_report&)> heartbeat;
  std::function<caf::result<job_output>(std::uint64_t node, const std::string& id)> output;
  std::function<caf::result<std::uint64_t>(std::uint64_t leader, std::uint64_t node, bool draining)> drain;
  std::vector<std::pair<std::uint64_t, status_batch>> reports;  // every report call, in order
};

inline peer_transport_actor::behavior_type fake_transport(peer_transport_actor::pointer self, std::uint64_t id,
                                                          std::shared_ptr<fake_network> net,
                                                          std::shared_ptr<peer_script> script) {
  auto unavailable = [] { return make_error(errc::unavailable, "fake network: no answer scripted"); };
  return {
      [=](send_atom, const raft_outbox& out) {
        for (const auto& m : out.messages) {
          auto it = net->nodes.find(m.to);
          if (it == net->nodes.end() || !net->up(id, m.to)) {
            ++net->dropped;
            continue;
          }
          ++net->delivered;
          self->send(it->second, step_atom::value, m);
        }
      },
      // Membership: every fake node reaches every other already.
      [](const role_change&) {},
      [=](report_atom, std::uint64_t leader, const status_batch& b) -> caf::result<report_ack> {
        script->reports.emplace_back(leader, b);
        if (script->report) return script->report(leader, b);
        return unavailable();
      },
      [=](heartbeat_atom, std::uint64_t leader, const worker_report& r) -> caf::result<heartbeat_reply> {
        if (script->heartbeat) return script->heartbeat(leader, r);
        return unavailable();
      },
      [=](output_atom, std::uint64_t node, const std::string& job) -> caf::result<job_output> {
        if (script->output) return script->output(node, job);
        return unavailable();
      },
      [=](drain_atom, std::uint64_t leader, std::uint64_t node, bool draining) -> caf::result<std::uint64_t> {
        if (script->drain) return script->drain(leader, node, draining);
        return unavailable();
      },
  };
}

// heartbeat_tracker that says nothing by itself; tests send worker lists.
inline heartbeat_tracker_actor::behavior_type quiet_tracker() {
  return {
      [](tick_atom) {},
      [](const role_change&) {},
      [](heartbeat_atom, const worker_report&) { return heartbeat_reply{}; },
      [](workers_atom) { return worker_list{}; },
      [](subscribe_atom, worker_listener) {},
  };
}

inline config::node_config node_config_for(std::uint64_t id, std::size_t members, const std::string& data_dir) {
  config::node_config c;
  c.source = "<test>";
  c.id = id;
  c.data_dir = data_dir;
  for (std::uint64_t m = 1; m <= members; ++m)
    c.members.push_back({m, "127.0.0.1:" + std::to_string(50050 + m), "127.0.0.1:" + std::to_string(8080 + m), ""});
  return c;
}

// One node's core actors: log_store, job_table, raft_node and its transport.
struct test_node {
  std::uint64_t id = 0;
  config::node_config cfg;
  std::unique_ptr<temp_dir> dir;
  log_store_actor store;
  snapshot_writer_actor writer;
  job_table_actor table;
  peer_transport_actor transport;
  raft_node_actor raft;
};

// The base of every fixture here. Actors with timers (raft ticks, the
// dispatcher's tick) always have one pending, so CAF's run(), which also
// fires pending timers, would never return: settle() runs messages only, and
// time passes only when a test says so (advance_time). Every actor a test
// owns is stopped before the coordinator's own final run().
struct sim_fixture : test_coordinator_fixture<test_config> {
  std::vector<caf::actor> owned;

  template <class Handle>
  Handle own(Handle h) {
    owned.push_back(caf::actor_cast<caf::actor>(h));
    return h;
  }
  void settle() { consume_messages(); }

  // Asks `h` from a short-lived actor; the answer lands in the returned
  // object once the messages involved have run.
  template <class T, class Handle, class... Ts>
  std::shared_ptr<answer<T>> ask(const Handle& h, Ts... xs) {
    auto a = std::make_shared<answer<T>>();
    sys.spawn([=](caf::event_based_actor* s) {
      s->request(h, caf::infinite, xs...).then([=](T& v) { a->value = std::move(v); },
                                               [=](caf::error& e) { a->error = describe(e); });
    });
    settle();
    return a;
  }

  ~sim_fixture() override {
    for (auto& a : owned) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    consume_messages();
  }
};

// A cluster of `n` nodes on one test coordinator.
struct cluster_fixture : sim_fixture {
  std::shared_ptr<fake_network> net = std::make_shared<fake_network>();
  std::shared_ptr<peer_script> script = std::make_shared<peer_script>();
  std::vector<test_node> nodes;

  void start(std::size_t n, std::function<void(config::node_config&)> tweak = {}) {
    for (std::uint64_t id = 1; id <= n; ++id) {
      test_node t;
      t.id = id;
      t.dir = std::make_unique<temp_dir>();
      t.cfg = node_config_for(id, n, t.dir->path);
      if (tweak) tweak(t.cfg);
      auto raft_dir = t.dir->path + "/raft";
      std::filesystem::create_directories(raft_dir);
      auto log = std::make_shared<storage::segmented_log>(storage::segmented_log::open(raft_dir));
      // Not detached as in production: the test coordinator runs it.
      t.store = own(sys.spawn(log_store, log, raft_dir, raft::hard_state{}, raft::index_t{0}));
      t.writer = own(sys.spawn(snapshot_writer, raft_dir));
      t.table = own(sys.spawn(job_table));
      t.transport = own(sys.spawn(fake_transport, id, net, script));
      auto init = std::make_shared<raft_node_init>();
      init->cfg = t.cfg;
      init->store = t.store;
      init->snapshot_writer = t.writer;
      init->table = t.table;
      init->transport = t.transport;
      init->now = [this] { return sched.clock().now(); };
      t.raft = own(sys.spawn(raft_node, init));
      net->nodes[id] = t.raft;
      nodes.push_back(std::move(t));
    }
    settle();
  }

  test_node& node(std::uint64_t id) { return nodes.at(id - 1); }

  // Lets `ms` of test time pass, one raft tick at a time, running every
  // message each tick causes.
  void pass(std::chrono::milliseconds ms) {
    auto tick = std::chrono::milliseconds(nodes.front().cfg.raft.tick_ms);
    for (auto t = std::chrono::milliseconds(0); t < ms; t += tick) {
      sched.clock().advance_time(tick);
      settle();
    }
  }

  raft_status status(std::uint64_t id) {
    auto a = ask<raft_status>(node(id).raft, status_atom::value);
    if (!a->value) throw std::runtime_error("raft_node did not answer status");
    return *a->value;
  }

  // The id of the single leader that every connected node agrees on, after at
  // most `limit` of test time; 0 if none.
  std::uint64_t wait_for_leader(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto tick = std::chrono::milliseconds(nodes.front().cfg.raft.tick_ms);
    for (auto t = std::chrono::milliseconds(0); t < limit; t += tick) {
      pass(tick);
      for (auto& n : nodes)
        if (leader_of(n.id) == n.id) return n.id;
    }
    return 0;
  }

  std::uint64_t leader_of(std::uint64_t id) { return status(id).leader_id; }

  // A 3-node cluster whose leader is cut off from its followers, holding a
  // proposal of `command` that cannot commit: the leader, and the answer.
  struct waiting_leader {
    std::uint64_t id;
    std::shared_ptr<answer<proposal_result>> waiting;
  };
  waiting_leader isolated_leader_waiting(const std::string& command);
};

// A submit_job command as a gateway would hand it to raft_node.
inline logpb::Command submit_command(const std::string& command) {
  logpb::Command c;
  c.mutable_submit_job()->set_command(command);
  return c;
}

inline cluster_fixture::waiting_leader cluster_fixture::isolated_leader_waiting(const std::string& command) {
  start(3);
  auto l = wait_for_leader();
  CAF_REQUIRE_NOT_EQUAL(l, 0u);
  net->isolate(l);
  auto waiting = ask<proposal_result>(node(l).raft, propose_atom::value, submit_command(command));
  CAF_REQUIRE(!waiting->done());
  return {l, waiting};
}

}  // namespace troupe::test
