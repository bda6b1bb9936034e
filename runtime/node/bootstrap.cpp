#include "runtime/node/bootstrap.hpp"

#include <csignal>
#include <filesystem>

#include <caf/all.hpp>

#include "actors/heartbeat_tracker.hpp"
#include "actors/job_dispatcher.hpp"
#include "actors/job_supervisor.hpp"
#include "actors/job_table.hpp"
#include "actors/log_store.hpp"
#include "actors/peer_transport.hpp"
#include "actors/raft_node.hpp"
#include "gateway/grpc_gateway.hpp"
#include "gateway/http_gateway.hpp"
#include "protocol/errors.hpp"
#include "service/node_service.hpp"
#include "runtime/common/log.hpp"
#include "runtime/exec/docker_backend.hpp"
#include "runtime/exec/process_backend.hpp"
#include "runtime/storage/state_files.hpp"
#include "runtime/storage/storage_error.hpp"

namespace troupe {
namespace {

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

std::shared_ptr<exec::backend> make_backend(const config::node_config& cfg) {
  const auto& e = cfg.executor;
  exec::docker_options d;
  d.socket_path = e.docker_socket;
  d.sandbox.network = e.sandbox.network;
  d.sandbox.memory_bytes = e.sandbox.memory_bytes;
  d.sandbox.nano_cpus = static_cast<std::int64_t>(e.sandbox.cpus * 1e9);
  d.sandbox.pids_limit = e.sandbox.pids_limit;
  d.sandbox.drop_all_capabilities = e.sandbox.drop_all_capabilities;
  d.sandbox.no_new_privileges = e.sandbox.no_new_privileges;
  d.sandbox.read_only_rootfs = e.sandbox.read_only_rootfs;
  if (e.backend == "process") {
    TLOG(info, "node") << "executor: process backend (configured)";
    return exec::make_process_backend({});
  }
  std::shared_ptr<exec::backend> docker = exec::make_docker_backend(d);
  auto describe = [&] { return static_cast<exec::docker_backend&>(*docker).describe(); };
  if (e.backend == "docker") {
    if (!docker->healthy())
      TLOG(warn, "node") << "executor: docker backend configured but " << e.docker_socket
                         << " does not answer; this node takes no jobs until it does";
    else
      TLOG(info, "node") << "executor: " << describe();
    return docker;
  }
  if (docker->healthy()) {
    TLOG(info, "node") << "executor: " << describe() << " (auto: the daemon answers)";
    return docker;
  }
  TLOG(info, "node") << "executor: process backend (auto: no Docker daemon answers on " << e.docker_socket
                     << "); jobs run as plain processes without container isolation";
  return exec::make_process_backend({});
}

struct recovered {
  std::shared_ptr<storage::segmented_log> log;
  raft::hard_state hs;
  std::optional<raft::snapshot> snap;
  raft::restored_state restored;
};

recovered recover(const std::string& dir) {
  recovered r;
  r.log = std::make_shared<storage::segmented_log>(storage::segmented_log::open(dir));
  const auto& rep = r.log->recovery();
  if (rep.truncated)
    TLOG(warn, "log_store") << "recovery: " << rep.describe();
  r.hs = storage::load_hard_state(dir);
  r.snap = storage::load_snapshot(dir);
  r.restored.hs = r.hs;
  if (r.snap) {
    r.restored.snap = r.snap->meta;
    r.restored.snap_data = r.snap->data;  // a restarted leader can send it to lagging followers
  }
  auto from = std::max<raft::index_t>(r.log->first_index(), r.restored.snap.index + 1);
  if (r.log->last_index() >= from) r.restored.entries = r.log->read(from, r.log->last_index() + 1);
  TLOG(info, "log_store") << "recovered " << dir << ": term " << r.hs.term << ", vote " << r.hs.vote << ", log "
                          << r.log->first_index() << ".." << r.log->last_index() << ", snapshot "
                          << (r.snap ? std::to_string(r.snap->meta.index) : std::string("none"));
  return r;
}

}  // namespace

int run_node(const config::node_config& cfg) {
  log::set_node_id(cfg.id);
  TLOG(info, "node") << "troupe node " << cfg.id << " starting (config " << cfg.source << ", data " << cfg.data_dir
                     << ", " << cfg.members.size() << " members)";
  std::string raft_dir = cfg.data_dir + "/raft";
  std::filesystem::create_directories(raft_dir);
  std::filesystem::create_directories(cfg.data_dir + "/outputs");
  recovered rec;
  try {
    rec = recover(raft_dir);
  } catch (const std::exception& e) {
    TLOG(error, "node") << "cannot open the Raft log: " << e.what();
    return 1;
  }
  auto backend = make_backend(cfg);

  caf::actor_system_config acfg;
  acfg.set("scheduler.max-threads", std::max<std::size_t>(4, std::thread::hardware_concurrency()));
  register_error_category(acfg);
  caf::actor_system sys{acfg};
  auto peers = std::make_shared<const peer_clients>(cfg);

  auto store = sys.spawn<caf::detached>(log_store, rec.log, raft_dir, rec.hs);
  auto table = sys.spawn(job_table);
  if (rec.snap) {
    caf::scoped_actor s{sys};
    s->request(table, caf::infinite, restore_atom::value, snapshot_blob{*rec.snap})
        .receive([](std::uint64_t) {}, [](caf::error&) {});
  }
  auto transport = sys.spawn(peer_transport, peers);
  auto init = std::make_shared<raft_node_init>();
  init->cfg = cfg;
  init->restored = rec.restored;
  init->store = store;
  init->table = table;
  init->transport = transport;
  auto raft = sys.spawn(raft_node, init);
  auto supervisor = sys.spawn(job_supervisor, cfg, backend, peers, raft, table);
  auto tracker = sys.spawn(heartbeat_tracker, cfg, peers, raft, supervisor);
  auto dispatcher = sys.spawn(job_dispatcher, cfg, raft, table, tracker);
  auto service_init = std::make_shared<node_service_init>();
  service_init->cfg = cfg;
  service_init->raft = raft;
  service_init->table = table;
  service_init->tracker = tracker;
  service_init->supervisor = supervisor;
  service_init->peers = peers;

  std::shared_ptr<grpc_server> server;
  std::unique_ptr<http_server> http;
  node_service_actor service;
  auto stop_all = [&] {
    for (auto a : {caf::actor_cast<caf::actor>(raft), caf::actor_cast<caf::actor>(store),
                   caf::actor_cast<caf::actor>(table), caf::actor_cast<caf::actor>(transport),
                   caf::actor_cast<caf::actor>(supervisor), caf::actor_cast<caf::actor>(tracker),
                   caf::actor_cast<caf::actor>(dispatcher), caf::actor_cast<caf::actor>(service)})
      if (a) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  };
  try {
    // The actor tree: logged once here, served by GET /api/topology.
    auto ref = [](const char* name, const auto& h) { return std::string(name) + "#" + std::to_string(h.id()); };
    auto& t = service_init->fixed_actors.actors;
    t.push_back({"log_store", store.id(), "bootstrap", "monitored by bootstrap", "detached thread; owns " + raft_dir});
    t.push_back({"job_table", table.id(), "bootstrap", "monitored by bootstrap; monitors its change listeners",
                 "applied state, queries, change stream"});
    t.push_back({"peer_transport", transport.id(), "bootstrap", "monitored by bootstrap",
                 "RaftService client to " + std::to_string(cfg.members.size() - 1) + " peers"});
    t.push_back({"raft_node", raft.id(), "bootstrap", "monitored by bootstrap",
                 "-> " + ref("log_store", store) + ", " + ref("peer_transport", transport) + ", " +
                     ref("job_table", table)});
    t.push_back({"job_supervisor", supervisor.id(), "bootstrap", "monitored by bootstrap; monitors its job_executors",
                 "-> " + ref("raft_node", raft) + "; executor backend " + backend->name()});
    t.push_back({"heartbeat_tracker", tracker.id(), "bootstrap", "monitored by bootstrap",
                 "-> " + ref("raft_node", raft) + ", " + ref("job_supervisor", supervisor)});
    t.push_back({"job_dispatcher", dispatcher.id(), "bootstrap", "monitored by bootstrap",
                 "-> " + ref("raft_node", raft) + ", " + ref("job_table", table) + ", " +
                     ref("heartbeat_tracker", tracker)});
    t.push_back({"http_gateway", 0, "bootstrap", "cpp-httplib threads",
                 "REST and dashboard on " + cfg.http_listen + " -> node_service"});
    // The service adds its own entry (its id) when asked for the tree.
    service = sys.spawn(node_service, service_init);
    server = start_grpc_server(sys, cfg, service, raft, tracker);
    http = std::make_unique<http_server>(sys, cfg, service);
  } catch (const std::exception& e) {
    TLOG(error, "node") << e.what();
    stop_all();
    _exit(1);
  }
  TLOG(info, "topology") << "node " << cfg.id << " actor tree (spawned by the bootstrap, which stops the node if a "
                            "core actor dies):";
  for (const auto& e : service_init->fixed_actors.actors)
    TLOG(info, "topology") << "  " << e.name << (e.actor_id ? "#" + std::to_string(e.actor_id) : std::string())
                           << " [" << e.monitors << "] " << e.detail;
  TLOG(info, "topology") << "  node_service#" << service.id() << " [monitored by bootstrap] every client operation";
  // Not an actor (gRPC's callback threads run it), so not in GET /api/topology.
  TLOG(info, "topology") << "  grpc_gateway [gRPC callback threads, server owned by the bootstrap] gRPC on "
                         << cfg.grpc_listen << " -> node_service";

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  {
    caf::scoped_actor guard{sys};
    std::vector<caf::actor> core{caf::actor_cast<caf::actor>(store), caf::actor_cast<caf::actor>(table),
                                 caf::actor_cast<caf::actor>(transport), caf::actor_cast<caf::actor>(raft),
                                 caf::actor_cast<caf::actor>(supervisor), caf::actor_cast<caf::actor>(tracker),
                                 caf::actor_cast<caf::actor>(dispatcher), caf::actor_cast<caf::actor>(service)};
    for (auto& a : core) guard->monitor(a);
    bool running = true;
    while (running && !stop_requested) {
      guard->receive(
          [&](caf::down_msg& dm) {
            TLOG(error, "node") << "core actor " << caf::to_string(dm.source) << " stopped ("
                                << sys.render(dm.reason) << "); stopping the node";
            running = false;
            rc = 1;
          },
          caf::after(std::chrono::milliseconds(200)) >> [] {});
    }
    TLOG(info, "node") << "shutting down";
    http.reset();
    server.reset();
  }
  stop_all();
  _exit(rc);  // executor threads may still be blocked in the backend; do not wait for them
}

}  // namespace troupe
