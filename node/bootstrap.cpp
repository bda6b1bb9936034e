#include "node/bootstrap.hpp"

#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <thread>
#include <unistd.h>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <absl/synchronization/mutex.h>
#include <caf/all.hpp>

#include "actors/heartbeat_tracker.hpp"
#include "actors/job_dispatcher.hpp"
#include "actors/job_supervisor.hpp"
#include "actors/job_table.hpp"
#include "actors/log_store.hpp"
#include "actors/snapshot_writer.hpp"
#include "actors/raft_node.hpp"
#include "config/cpu_list.hpp"
#include "config/timeouts.hpp"
#include "gateway/grpc_gateway.hpp"
#include "gateway/http_gateway.hpp"
#include "node/actor_tree.hpp"
#include "node/cpu_budget.hpp"
#include "node/data_dir_lock.hpp"
#include "node/edge_security.hpp"
#include "node/huge_pages.hpp"
#include "protocol/errors.hpp"
#include "service/node_service.hpp"
#include "runtime/common/log.hpp"
#include "runtime/exec/docker_backend.hpp"
#include "runtime/exec/process_backend.hpp"
#include "runtime/exec/start_journal.hpp"
#include "runtime/storage/state_files.hpp"
#include "runtime/storage/storage_error.hpp"
#include "transport/peer_transport.hpp"

namespace troupe {
namespace {

volatile std::sig_atomic_t stop_requested = 0;
// The handler's way to wake the bootstrap at once (write is async-signal-safe),
// so the bootstrap can wait without a timeout: an idle node wakes up for
// nothing.
int signal_pipe[2] = {-1, -1};
void on_signal(int) {
  stop_requested = 1;
  const char c = 1;
  [[maybe_unused]] auto n = ::write(signal_pipe[1], &c, 1);
}

exec::process_options process_options(const config::node_config& cfg) {
  const auto& p = cfg.executor.process;
  exec::process_options o;
  o.user = p.user;
  o.work_dir = p.work_dir;
  o.max_processes = p.max_processes;
  o.max_file_bytes = p.max_file_bytes;
  o.cpu_s = p.cpu_s;
  o.nice = static_cast<int>(p.nice);
  if (!p.cpus.empty()) {
    std::string error;
    auto cpus = config::parse_cpu_list(p.cpus, error);
    // The config's validation refused it already; never "any CPU" instead.
    if (!cpus) throw std::runtime_error("[executor.process] cpus: " + error);
    o.cpus = std::move(*cpus);
  }
  return o;
}

// The process backend, saying whom jobs run as. Throws std::runtime_error
// when the configured user or work_dir cannot be used (run_node stops then).
std::shared_ptr<exec::backend> make_process(const config::node_config& cfg) {
  auto b = std::make_shared<exec::process_backend>(process_options(cfg));
  TLOG(info, "node") << "executor: process jobs run as " << b->user().name << " (uid " << b->user().uid << ") in "
                     << cfg.executor.process.work_dir << "/node-" << cfg.id
                     << (cfg.executor.process.cpus.empty() ? "" : ", on CPUs " + cfg.executor.process.cpus);
  return b;
}

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
  // One data dir, one node (data_dir_lock): it tells this node's containers
  // from those of a node with the same id in another cluster on the daemon.
  std::error_code ec;
  d.owner = std::filesystem::weakly_canonical(cfg.data_dir, ec).string();
  if (ec || d.owner.empty()) d.owner = cfg.data_dir;
  if (e.backend == "process") {
    TLOG(info, "node") << "executor: process backend (configured)";
    return make_process(cfg);
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
  return make_process(cfg);
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
  if (auto n = storage::remove_unfinished_snapshots(dir))
    TLOG(info, "log_store") << "removed " << n << " unfinished snapshot file(s) from " << dir;
  r.restored.hs = r.hs;
  // The snapshot's bytes stay in r.snap alone: run_actors restores the job
  // table from them and then hands them to Raft (restored.snap_data) without
  // a copy kept here for the node's lifetime.
  if (r.snap) r.restored.snap = r.snap->meta;
  auto from = std::max<raft::index_t>(r.log->first_index(), r.restored.snap.index + 1);
  if (r.log->last_index() >= from) r.restored.entries = r.log->read(from, r.log->last_index() + 1);
  TLOG(info, "log_store") << "recovered " << dir << ": term " << r.hs.term << ", vote " << r.hs.vote << ", log "
                          << r.log->first_index() << ".." << r.log->last_index() << ", snapshot "
                          << (r.snap ? std::to_string(r.snap->meta.index) : std::string("none"));
  return r;
}

// Stops the gateways, then the node's jobs (unreported), then the core actors;
// returns once every actor was told to stop (the actor system's destructor
// waits for them, detached helpers included).
void shut_down(caf::actor_system& sys, const actor_tree& tree, job_supervisor_actor supervisor,
               std::unique_ptr<http_server>& http, std::shared_ptr<grpc_server>& server) {
  caf::scoped_actor self{sys};
  // 1. No new requests: the HTTP server joins its threads, the gRPC server
  // shuts down.
  // Each step's time is logged: a fail-stop that lingers keeps the node's
  // ports and lock, and delays its restart.
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [&t0] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  };
  http.reset();
  TLOG(info, "node") << "HTTP server stopped (" << ms() << " ms)";
  server.reset();
  TLOG(info, "node") << "gRPC server stopped (" << ms() << " ms)";
  // 2. Stop the jobs running here, without reporting them: they were
  // interrupted, and the restarted node reports them failed.
  self->request(supervisor, config::executor_stop_wait, shutdown_atom::value)
      .receive([](std::size_t n) { TLOG(info, "node") << n << " running job(s) stopped"; },
               [&](caf::error& e) {
                 TLOG(warn, "node") << "jobs did not all stop within " << config::executor_stop_wait.count()
                                    << " ms (" << sys.render(e) << "); stopping the core actors anyway";
               });
  // 3. The core actors, last spawned first.
  auto core = tree.actors();
  for (auto it = core.rbegin(); it != core.rend(); ++it) self->send_exit(*it, caf::exit_reason::user_shutdown);
}

// A leader stopping on a signal first hands leadership to a live follower,
// with its gateways still open (calls in flight are answered, new ones
// redirected to the successor): the cluster then has a leader within a
// round trip and a fsync, not after an election timeout, and no peer call
// waits on this node for a commit that can no longer come while its server
// shuts down. Bounded by config::stop_hand_off_wait; past it the node stops
// anyway and the followers elect a leader themselves. Then raft_node takes
// no more proposals, and a node that still leads answers every request still
// waiting on it (raft_node's shutdown message says why).
void hand_over_before_stop(caf::actor_system& sys, const config::node_config& cfg, const node_service_actor& service,
                          const raft_node_actor& raft) {
  caf::scoped_actor self{sys};
  const auto t0 = std::chrono::steady_clock::now();
  self->request(service, config::stop_hand_off_wait(cfg), shutdown_atom::value)
      .receive(
          [&](const std::string& handed) {
            if (handed.empty()) return;
            TLOG(info, "node") << handed << " ("
                               << std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - t0)
                                      .count()
                               << " ms)";
          },
          [&](caf::error& e) {
            TLOG(warn, "node") << "leadership not handed away within " << config::stop_hand_off_wait(cfg).count()
                               << " ms (" << sys.render(e) << "); stopping anyway";
          });
  self->request(raft, config::query_timeout, shutdown_atom::value)
      .receive(
          [](std::size_t n) {
            if (n > 0) TLOG(info, "node") << n << " request(s) still waiting on raft_node answered";
          },
          [&](caf::error& e) { TLOG(warn, "node") << "raft_node did not stop taking proposals: " << sys.render(e); });
}

int run_actors(caf::actor_system& sys, const config::node_config& cfg, recovered& rec,
               std::shared_ptr<exec::backend> backend, std::shared_ptr<exec::start_journal> journal);

// The job table as of the recovered snapshot, built here, before its actor
// starts: this is the main thread, which allocates from malloc's main heap,
// the one glibc advises huge pages for; a CAF worker would build it in an
// arena of its own, 4 KiB pages at a time (node/huge_pages.hpp). At a
// million jobs on a paravirtualised host that halved the restore (docs/
// BENCHMARKS.md, thirtieth round). No malloc_trim after it: measured at 1M
// jobs, node RSS once serving was the same with it and without (1059 vs 1061
// MiB): the decode leaves no per-job garbage. Throws what the decode throws
// (a snapshot its CRC passed but this version cannot read).
restored_table restore_table(const raft::snapshot& snap) {
  const auto t0 = std::chrono::steady_clock::now();
  restored_table r{std::make_shared<jobs::job_table>(), snap.meta.index, snap.meta.term};
  r.table->restore(snap.data.view());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  TLOG(info, "node") << "job table restored from the snapshot at index " << snap.meta.index << " ("
                     << r.table->size() << " jobs) in " << ms.count() << " ms";
  return r;
}

}  // namespace

int run_node(const config::node_config& cfg) {
  log::set_node_id(cfg.id);
  // Debian builds abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: every lock gRPC takes updates a global lock-order graph
  // (GraphCycles, ~1.5% of all CPU under load). It only finds bugs in gRPC
  // itself, so it is off, before gRPC starts.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  TLOG(info, "node") << "troupe node " << cfg.id << " starting (config " << cfg.source << ", data " << cfg.data_dir
                     << ", " << cfg.members.size() << " members in the config file"
                     << (cfg.join ? "; joining a running cluster" : "") << ")";
  TLOG(info, "node") << "malloc: " << node::describe_huge_pages();
  if (!check_edge_security(cfg)) return 1;
  // First, before anything reads or writes the data dir: a second process on
  // the same dir must stop here, not after replacing committed entries.
  std::optional<node::data_dir_lock> lock;
  try {
    lock.emplace(cfg.data_dir);
  } catch (const std::exception& e) {
    TLOG(error, "node") << e.what();
    return 1;
  }
  std::string raft_dir = cfg.data_dir + "/raft";
  std::filesystem::create_directories(raft_dir);
  std::filesystem::create_directories(cfg.data_dir + "/outputs");
  // Jobs run as other users (the process backend): the Raft log and every
  // job's stored output are the node's alone.
  for (const auto& d : {raft_dir, cfg.data_dir + "/outputs"}) {
    std::error_code ec;
    std::filesystem::permissions(d, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);
    if (ec) TLOG(warn, "node") << "cannot make " << d << " private (mode 0700): " << ec.message();
  }
  std::shared_ptr<exec::start_journal> journal;
  try {
    journal = std::make_shared<exec::start_journal>(cfg.data_dir + "/outputs");
  } catch (const std::exception& e) {
    TLOG(error, "node") << "cannot open the record of jobs started here: " << e.what();
    return 1;
  }
  recovered rec;
  try {
    rec = recover(raft_dir);
  } catch (const std::exception& e) {
    TLOG(error, "node") << "cannot open the Raft log: " << e.what();
    return 1;
  }
  std::shared_ptr<exec::backend> backend;
  try {
    backend = make_backend(cfg);
  } catch (const std::exception& e) {
    TLOG(error, "node") << "cannot start the executor: " << e.what();
    return 1;
  }
  int rc = 0;
  {
    caf::actor_system_config acfg;
    // The sharing policy: idle workers block on a condition variable and wake
    // when a message arrives. CAF's default work-stealing policy polls its
    // queues while idle (then sleeps up to 10 ms between polls), which cost an
    // idle node ~28% of a core and added up to a relaxed sleep to a lone
    // request's latency. Every blocking call (disk, executor backends) runs in
    // a detached actor or its own thread, so one worker per CPU the node may
    // use suffices (cpu_budget.hpp: affinity and cgroup quota count). At
    // least two, so that one long handler (the job table's snapshot encode)
    // never holds up raft_node's heartbeats.
    const auto cpus = node::read_cpu_budget();
    const std::size_t workers = std::max(2u, cpus.usable());
    TLOG(info, "node") << "CAF scheduler: " << workers << " workers (CPUs: " << cpus.describe() << ")";
    acfg.set("scheduler.policy", caf::atom("sharing"));
    acfg.set("scheduler.max-threads", workers);
    register_error_category(acfg);
    caf::actor_system sys{acfg};
    rc = run_actors(sys, cfg, rec, backend, journal);
    TLOG(info, "node") << "waiting for every actor to end";
  }  // ~actor_system waits for every actor, the executors' detached helpers included
  TLOG(info, "node") << "stopped";
  return rc;
}

namespace {

int run_actors(caf::actor_system& sys, const config::node_config& cfg, recovered& rec,
               std::shared_ptr<exec::backend> backend, std::shared_ptr<exec::start_journal> journal) {
  const std::string raft_dir = cfg.data_dir + "/raft";
  // On this thread, before any actor starts (restore_table says why).
  restored_table from;
  if (rec.snap) {
    try {
      from = restore_table(*rec.snap);
    } catch (const std::exception& e) {
      TLOG(error, "node") << "cannot restore the job table from " << storage::snapshot_path(raft_dir) << ": "
                          << e.what();
      return 1;
    }
  }
  // Channels and accepted senders start from [[members]] and follow the
  // replicated configuration once raft_node announces it (peer_transport).
  auto peers = std::make_shared<peer_clients>(cfg);
  auto members = std::make_shared<transport::member_directory>(cfg);

  // Each spawn adds its row to the tree at once, naming the handles it was given.
  actor_tree tree;
  auto store = sys.spawn<caf::detached>(log_store, rec.log, raft_dir, rec.hs, rec.restored.snap.index);
  tree.add("log_store", store, {}, "detached thread; owns " + raft_dir);
  auto writer = sys.spawn<caf::detached>(snapshot_writer, raft_dir);
  tree.add("snapshot_writer", writer, {}, "detached thread; writes this node's snapshots into " + raft_dir);
  auto table = from.table ? sys.spawn(job_table_from, std::move(from)) : sys.spawn(job_table);
  tree.add("job_table", table, {}, "applied state, queries, change stream", "monitors its change listeners");
  if (rec.snap) {
    // A restarted leader can send the snapshot to lagging followers: Raft
    // keeps the file's bytes, mapped (raft_node's take_mapped_snapshot says
    // why), and the bytes read here go once the table is restored.
    try {
      rec.restored.snap_data = storage::map_snapshot_data(raft_dir, rec.snap->meta.index);
    } catch (const storage::storage_error& e) {
      TLOG(warn, "node") << "keeping the snapshot in memory: " << e.what();
      rec.restored.snap_data = std::move(rec.snap->data);
    }
    rec.snap.reset();
  }
  auto transport = sys.spawn(peer_transport, cfg, peers, members);
  tree.add("peer_transport", transport, {},
           "RaftService and InternalService client to every other member of the replicated configuration");
  auto init = std::make_shared<raft_node_init>();
  init->cfg = cfg;
  init->restored = std::move(rec.restored);
  init->store = store;
  init->snapshot_writer = writer;
  init->table = table;
  init->transport = transport;
  auto raft = sys.spawn(raft_node, init);
  caf::anon_send(raft, subscribe_atom::value, caf::actor_cast<role_listener>(transport));
  tree.add("raft_node", raft, {"log_store", "snapshot_writer", "peer_transport", "job_table"}, "");
  auto supervisor = sys.spawn(job_supervisor, cfg, backend, journal, transport, raft, table);
  tree.add("job_supervisor", supervisor, {"raft_node", "job_table", "peer_transport"},
           "executor backend " + backend->name(), "monitors its job_executors");
  auto tracker = sys.spawn(heartbeat_tracker, cfg, transport, raft, supervisor);
  tree.add("heartbeat_tracker", tracker, {"raft_node", "job_supervisor", "peer_transport"}, "");
  auto dispatcher = sys.spawn(job_dispatcher, cfg, raft, table, tracker,
                              std::function<std::chrono::steady_clock::time_point()>(
                                  [] { return std::chrono::steady_clock::now(); }));
  tree.add("job_dispatcher", dispatcher, {"raft_node", "job_table", "heartbeat_tracker"}, "");
  auto service_init = std::make_shared<node_service_init>();
  service_init->cfg = cfg;
  service_init->raft = raft;
  service_init->table = table;
  service_init->dispatcher = dispatcher;
  service_init->tracker = tracker;
  service_init->supervisor = supervisor;
  service_init->transport = transport;
  service_init->peers = peers;

  std::shared_ptr<grpc_server> server;
  std::unique_ptr<http_server> http;
  int rc = 0;
  node_service_actor service;
  try {
    tree.add_external("http_gateway", "http::server, a thread per connection; REST and dashboard on " + cfg.http_listen +
                                          " -> node_service");
    // node_service serves the tree (GET /api/topology) and adds its own row.
    service_init->fixed_actors = tree.describe();
    service = sys.spawn(node_service, service_init);
    tree.add("node_service", service,
             {"raft_node", "job_table", "job_dispatcher", "heartbeat_tracker", "job_supervisor", "peer_transport"},
             "every client operation, from both gateways");
    server = start_grpc_server(sys, cfg, service, peer_inbox{raft, tracker, supervisor}, members);
    http = std::make_unique<http_server>(sys, cfg, service);
  } catch (const std::exception& e) {
    TLOG(error, "node") << e.what();
    shut_down(sys, tree, supervisor, http, server);
    return 1;
  }
  TLOG(info, "topology") << "node " << cfg.id << " actor tree (spawned by the bootstrap, which stops the node if a "
                            "core actor dies):";
  for (const auto& e : tree.describe().actors)
    TLOG(info, "topology") << "  " << e.name << (e.actor_id ? "#" + std::to_string(e.actor_id) : std::string())
                           << " [" << e.monitors << "] " << e.detail;
  // Not an actor (gRPC's callback threads run it), so not in GET /api/topology.
  TLOG(info, "topology") << "  grpc_gateway [gRPC callback threads, server owned by the bootstrap] SchedulerService, AdminService on "
                         << cfg.grpc_listen << " -> node_service; RaftService and InternalService (transport) in to "
                         << "raft_node, heartbeat_tracker, job_supervisor";

  if (::pipe2(signal_pipe, O_CLOEXEC) != 0) {
    TLOG(error, "node") << "cannot create the signal pipe: " << std::strerror(errno);
    shut_down(sys, tree, supervisor, http, server);
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  {
    caf::scoped_actor guard{sys};
    for (auto& a : tree.actors()) guard->monitor(a);
    // Turns a byte on the signal pipe into a message to the guard.
    std::thread signal_watcher([to = caf::actor_cast<caf::actor>(guard)] {
      char c = 0;
      while (::read(signal_pipe[0], &c, 1) < 0 && errno == EINTR) {
      }
      caf::anon_send(to, shutdown_atom::value);
    });
    bool running = !stop_requested;
    while (running) {
      guard->receive(
          [&](caf::down_msg& dm) {
            TLOG(error, "node") << "core actor " << caf::to_string(dm.source) << " stopped ("
                                << sys.render(dm.reason) << "); stopping the node";
            running = false;
            rc = 1;
          },
          [&](shutdown_atom) { running = false; });
    }
    const char c = 0;  // wakes the watcher when no signal did
    [[maybe_unused]] auto n = ::write(signal_pipe[1], &c, 1);
    signal_watcher.join();
  }
  TLOG(info, "node") << "shutting down";
  if (rc == 0) hand_over_before_stop(sys, cfg, service, raft);  // a core actor that died takes no part
  shut_down(sys, tree, supervisor, http, server);
  return rc;
}

}  // namespace

}  // namespace troupe
