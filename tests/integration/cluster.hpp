// A real troupe cluster for integration tests: N troupe-node processes on free
// loopback ports, each with its own config, data dir and log file in a fresh
// temporary directory. Every process is started by fork/exec and stopped by
// pid; the destructor kills and reaps whatever is still running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "membership.grpc.pb.h"
#include "scheduler.grpc.pb.h"

namespace troupe::integration {

using std::chrono::milliseconds;

// What a test client presents to a node: TLS (trusting ca_file, with an
// optional client certificate) and a bearer token. All empty: plaintext and
// no token, the default. A token is sent only over TLS (gRPC refuses call
// credentials on a plaintext channel); add it per call there.
struct client_security {
  std::string ca_file;
  std::string cert_file, key_file;
  std::string token;
};

// One [[auth.tokens]] block: role "read" | "submit" | "admin".
struct token_spec {
  std::string name, token, role;
};

// Settings written into every node's TOML; defaults favour test speed.
struct cluster_options {
  std::size_t nodes = 3;
  // Nodes nodes+1 .. nodes+spare_nodes get ports, a data dir and a config
  // with [node] join = true, listing the first `nodes` and themselves; the
  // first nodes do not list them. start_all() leaves them alone: a test adds
  // one (`troupe member add`) and then start()s it.
  std::size_t spare_nodes = 0;
  std::uint32_t tick_ms = 50;
  std::uint32_t election_ticks = 10;
  std::uint32_t heartbeat_ticks = 2;
  std::uint32_t commit_deadline_ms = 5000;
  std::uint32_t max_pending_proposals = 256;
  std::uint64_t snapshot_every = 10000;
  std::uint32_t worker_heartbeat_ms = 500;
  std::uint32_t worker_dead_after_ms = 1500;
  std::uint32_t worker_capacity = 4;
  std::uint64_t max_active = 0;  // [jobs] max_active; 0 = the node's default
  std::string log_level = "info";
  // [executor]: "process" | "docker" | "auto". docker_socket and
  // default_image are written only when set (else the node's defaults apply).
  std::string executor_backend = "process";
  std::string docker_socket;
  std::string default_image;
  // Appended as is to every node's TOML (whole tables, e.g.
  // "[executor.process]\nwork_dir = ...\n"), for settings no field above covers.
  std::string extra_toml;
  // When set, node `from` lists peer `to` at this address instead of the
  // peer's own gRPC listener (tests/chaos routes every link through a
  // fault-injecting proxy this way). A node always lists itself directly.
  std::function<std::string(std::uint64_t from, std::uint64_t to)> peer_address;
  // Every node gets a raft wire port ([listen] wire, and wire in each member's
  // entry; mutual TLS with tls_dir's files when set), unless this is false.
  // peer_wire_address routes it as peer_address routes gRPC.
  bool raft_wire = true;
  std::function<std::string(std::uint64_t from, std::uint64_t to)> peer_wire_address;
  // When set, more NAME=value environment entries for node `id`'s process
  // (e.g. a node whose clock libfaketime puts ahead).
  std::function<std::vector<std::string>(std::uint64_t id)> node_env;
  // [tls]: a directory made by scripts/make-certs.sh holding ca.crt and every
  // node's node-<id>.crt/.key. Empty: no [tls].
  std::string tls_dir;
  std::vector<token_spec> tokens;  // [[auth.tokens]]
  // What the cluster's own stubs (stub(), status(), wait_for_leader()) present.
  client_security client;
};

// Polls `done` every `step` until it returns true or `timeout` passes.
// Returns whether it became true. The loop is bounded by both time and count.
bool wait_until(milliseconds timeout, const std::function<bool()>& done, milliseconds step = milliseconds(50));

// Status of a SchedulerService call made with a deadline.
std::unique_ptr<scheduler::SchedulerService::Stub> make_stub(const std::string& address);
std::unique_ptr<scheduler::SchedulerService::Stub> make_stub(const std::string& address, const client_security& sec);
// The channel make_stub uses, for other services' stubs (tests forge peer calls).
std::shared_ptr<grpc::Channel> make_channel(const std::string& address, const client_security& sec);
// The contents of `path`; throws std::runtime_error naming it when unreadable.
std::string read_text_file(const std::string& path);
void set_deadline(grpc::ClientContext& ctx, milliseconds d);

class cluster;
// ListMembers as node `id` answers it (local: its own configuration; else
// the leader's, which a follower refuses with "Not the leader"). false when
// the call failed.
bool list_members(cluster& c, std::uint64_t id, bool local, membership::ListMembersResponse& out,
                  const client_security& sec = {}, milliseconds deadline = milliseconds(2000));
// Whether `r` lists node `id` (voter or learner).
bool is_member(const membership::ListMembersResponse& r, std::uint64_t id);
// Whether `r` lists node `id` as a voter (false when it is a learner or absent).
bool is_voter(const membership::ListMembersResponse& r, std::uint64_t id);

class cluster {
 public:
  explicit cluster(cluster_options opts = {});
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  // Starts every node but the spare ones. Does not wait for a leader.
  void start_all();
  // Starts node `id` (1-based), with `extra_args` after its --config (e.g.
  // "--join"). Each start logs to a new file (see log_path).
  void start(std::uint64_t id, const std::vector<std::string>& extra_args = {});
  // SIGKILL, then reap.
  void kill9(std::uint64_t id);
  // SIGTERM, wait (bounded) for a clean exit, SIGKILL if it does not come.
  // Returns the exit status as reported by waitpid.
  int terminate(std::uint64_t id, milliseconds grace = milliseconds(10000));
  bool running(std::uint64_t id) const;
  // Deletes everything in node `id`'s data dir (not the dir itself, which
  // may be a mount point); the node must not run. Returns the entries removed.
  std::size_t wipe_data_dir(std::uint64_t id);
  // Whether node `id` had been started and has exited by itself since (it is
  // reaped here, `status` gets waitpid's status); false while it runs or when
  // it was not started.
  bool exited(std::uint64_t id, int* status = nullptr);
  pid_t pid(std::uint64_t id) const;

  std::size_t size() const { return opts_.nodes; }
  const client_security& client() const { return opts_.client; }  // what its own stubs present
  const std::string& dir() const { return dir_; }
  std::string grpc_address(std::uint64_t id) const;
  std::string wire_address(std::uint64_t id) const;  // "" without the wire
  std::string http_address(std::uint64_t id) const;
  std::string data_dir(std::uint64_t id) const;
  // The TOML file node `id` starts with (written by the constructor), for
  // runs of troupe-node with other flags (--restore, --check-config).
  std::string config_path(std::uint64_t id) const;
  // Log file of the latest start of node `id`, and its contents.
  std::string log_path(std::uint64_t id) const;
  std::string log_text(std::uint64_t id) const;
  std::vector<std::uint64_t> ids() const;
  // Whether every one of `nodes` logged that its gRPC server is serving
  // within `timeout`. With TLS no stub may dial before: a synchronous gRPC
  // 1.51 channel whose first TLS connect was refused never completes a
  // later handshake (nothing polls it between calls).
  bool wait_serving(const std::vector<std::uint64_t>& nodes, milliseconds timeout) const;

  scheduler::SchedulerService::Stub& stub(std::uint64_t id);

  // GetClusterStatus of node `id` as it answers (forwarded to the leader when
  // it knows one). false when the call failed.
  bool status(std::uint64_t id, scheduler::GetClusterStatusResponse& out, milliseconds deadline = milliseconds(2000));
  // The leader as seen by node `id` itself: asks every running node and
  // returns the id that a node reports for itself as role "leader" and every
  // other running node agrees on. 0 if there is none yet.
  std::uint64_t agreed_leader();
  // Waits (bounded) until the running nodes agree on a leader; returns it or 0.
  std::uint64_t wait_for_leader(milliseconds timeout = milliseconds(15000));
  // Any running node other than `not_this`.
  std::uint64_t some_follower(std::uint64_t leader) const;

  // Prints the last `lines` lines of every node's log to stderr.
  void dump_logs(std::size_t lines = 40) const;

 private:
  struct node {
    std::uint64_t id = 0;
    std::uint16_t grpc_port = 0;
    std::uint16_t http_port = 0;
    std::uint16_t wire_port = 0;  // 0: no raft wire
    pid_t pid = -1;
    int starts = 0;
    std::string config_path;
    std::unique_ptr<scheduler::SchedulerService::Stub> stub;
  };
  node& at(std::uint64_t id);
  const node& at(std::uint64_t id) const;
  void write_config(const node& n) const;
  void reap(node& n, milliseconds timeout);

  cluster_options opts_;
  std::string dir_;
  std::vector<node> nodes_;
  std::size_t failures_at_start_ = 0;
};

// Counts failed doctest assertions (see test_main.cpp), so a cluster can
// print its nodes' logs when the test that used it failed.
std::size_t failed_assertions();
// A test case that could not run here (e.g. no test dockerd) calls this; when
// every test case that ran did, the binary exits 77 (ctest: skipped).
void note_skipped_test();

// The path of the troupe-node and troupe binaries: $TROUPE_NODE_BINARY and
// $TROUPE_CLI_BINARY when set, else the paths CMake compiled in.
const char* node_binary();
const char* cli_binary();
// scripts/make-certs.sh of the source tree ($TROUPE_MAKE_CERTS when set).
const char* make_certs_script();
// Runs it with `args` (OUT_DIR ID... [--client NAME]...); throws
// std::runtime_error with its output when it fails.
void make_certs(const std::vector<std::string>& args);

// The environment (for cluster_options::node_env) that runs a node with its
// wall clock moved by `offset` (libfaketime's FAKETIME syntax: "+600s",
// "-2d"); its monotonic clock, which Raft and every timeout use, stays true.
// Throws when Debian's faketime package (scripts/setup.sh) is missing.
std::vector<std::string> faketime_env(const std::string& offset);

}  // namespace troupe::integration
