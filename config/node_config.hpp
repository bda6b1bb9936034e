// The settings one troupe node runs with, after the config file and the
// command line have been merged and validated. Plain data: no I/O here.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace troupe::config {

// One member of the Raft cluster, as every node must know it.
struct member {
  std::uint64_t id = 0;
  std::string address;       // host:port of its gRPC listener, as peers and clients dial it
  std::string http_address;  // optional: host:port of its REST API / dashboard
  std::string wire_address;  // optional: host:port of its raft wire (transport/wire_format.hpp)
};

struct raft_options {
  // 100 ms ticks, heartbeats every 2: followers start an election 400-800 ms
  // after the last heartbeat (at least 2 heartbeat intervals; pre-vote and
  // check_quorum keep one follower that missed them from disturbing a live
  // leader), so a failover completes within 1 s. An idle node pays for each
  // tick and each heartbeat call: 10 ticks and 5 heartbeats per follower per
  // second (it was 20 and 10 with 50 ms ticks and heartbeats every 2).
  std::uint32_t tick_ms = 100;
  std::uint32_t election_ticks = 4;  // ticks without a leader before a follower starts an election
  std::uint32_t heartbeat_ticks = 2;
  std::uint32_t commit_deadline_ms = 5000;  // a proposal not committed by then fails
  std::uint32_t max_pending_proposals = 256;
  // A job status report waits up to this long on the leader for another
  // proposal to share its commit round. 0: proposed at once. 10, not 5: in a
  // drain (no submits to share with) the reports of 10 ms share one round:
  // ~40% fewer entries per job (docs/BENCHMARKS.md, nineteenth round); 15
  // and more left the workers' prefetched slots empty while results waited.
  std::uint32_t status_hold_ms = 10;
  // The same hold while jobs wait for a free slot (the leader's dispatcher
  // has a backlog): a job's end then waits behind the queue anyway, and in a
  // drain, with no submits to share a round with, a longer hold puts more
  // results in each round. On the PVM host a drain's nodes spent about 45%
  // less CPU per job at 40 than at 10 (docs/BENCHMARKS.md, thirty-sixth
  // round). The workers' prefetch covers the longer refill
  // (config::prefetch_window). Never shorter than status_hold_ms.
  std::uint32_t status_hold_busy_ms = 40;
  std::uint64_t snapshot_every = 10000;  // applied entries between snapshots
  std::uint32_t max_entries_per_append = 512;
  std::uint64_t max_append_bytes = 1 << 20;  // entry bytes per AppendEntries message (etcd's default)
  std::uint32_t snapshot_chunk_bytes = 1 << 20;
  bool pre_vote = true;
  bool check_quorum = true;
};

struct worker_options {
  std::uint32_t heartbeat_ms = 2000;
  std::uint32_t dead_after_ms = 5000;  // a worker silent this long is presumed dead
  std::uint32_t capacity = 4;          // jobs run concurrently by this node's worker
  // Jobs the leader may assign here beyond capacity, at least; they wait on
  // this node (ASSIGNED) and start the moment a slot frees, without a round
  // through the leader. With short jobs the node offers more: what it
  // completes in one such round (actors/prefetch_gauge.hpp). 0: a job is
  // assigned only to a free slot.
  std::uint32_t prefetch = 4;
  std::uint32_t max_attempts = 3;      // runs of one job before it is failed for good
  // A job's RUNNING report waits this long after its start; a job that ends
  // sooner is reported once, by its final update. 0: reported at once.
  std::uint32_t running_report_hold_ms = 50;
};

struct sandbox_options {
  std::string network = "none";
  std::int64_t memory_bytes = 256ll << 20;
  double cpus = 0.5;
  std::int64_t pids_limit = 256;
  bool drop_all_capabilities = true;
  bool no_new_privileges = true;
  bool read_only_rootfs = true;
};

// The process backend: jobs run as an unprivileged user in a per-job working
// directory outside the data dir, with a minimal environment and rlimits.
struct process_options {
  std::string user;  // empty: "nobody" when the node runs as root, else the node's own user
  std::string work_dir = "/tmp/troupe-jobs";  // job directories (reused slots) are made below <work_dir>/node-<id>/
  std::uint64_t max_processes = 256;          // RLIMIT_NPROC
  std::uint64_t max_file_bytes = 1ull << 30;  // RLIMIT_FSIZE: one file a job writes
  std::uint64_t cpu_s = 0;                    // RLIMIT_CPU; 0: the job's timeout
  std::uint32_t nice = 10;                    // 0-19: jobs run at this nice value, so they never starve the node's Raft path
  std::string cpus;                           // CPU list ("1", "2-7"): jobs run only there; "": any CPU the node may use
};

struct executor_options {
  std::string backend = "docker";  // "docker" | "process" | "auto" (docker when its socket answers, else process)
  std::string docker_socket = "/var/run/docker.sock";
  std::string default_image = "alpine:latest";
  std::uint32_t timeout_s = 30;       // when a job asks for none
  std::uint32_t max_timeout_s = 86400;  // a job asking for more is refused (INVALID_ARGUMENT)
  std::uint64_t output_cap_bytes = 1 << 20;      // output beyond this is dropped
  std::uint64_t output_inline_bytes = 64 << 10;  // larger output is stored as a file, not in the log
  sandbox_options sandbox;
  process_options process;
};

struct jobs_options {
  std::uint64_t retention_s = 3600;  // finished jobs are forgotten after this
  std::uint64_t max_active = 10000;  // submissions beyond this are refused
  std::uint32_t max_command_bytes = 1024;
};

// [tls]: all three files or none. With them every listener speaks TLS only and
// peers must present a certificate signed by ca_file whose CN (or a DNS SAN)
// is node-<id>. Relative paths are resolved against the config file's directory.
struct tls_options {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

enum class role : std::uint8_t { read = 1, submit = 2, admin = 3 };  // each includes the ones below it
const char* to_string(role r);

// [[auth.tokens]]: when any is configured, clients must present one as
// "authorization: Bearer <token>". Only the SHA-256 of a token is kept.
struct auth_token {
  std::string name;
  std::string token_sha256;  // lowercase hex of SHA-256(token)
  role grants = role::read;
};

struct auth_options {
  std::vector<auth_token> tokens;
  bool enabled() const { return !tokens.empty(); }
};

// Bounds on what clients may hold of a node.
struct limits_options {
  std::uint64_t client_message_bytes = 4 << 20;  // gRPC request/response size from and to clients
  std::uint32_t stream_subscribers = 64;         // StreamJobs calls open at once (and /api/events streams)
  std::uint32_t http_connections = 256;          // HTTP connections open at once; more are refused
  std::uint32_t http_header_bytes = 16 << 10;    // request line + headers
  std::uint32_t http_headers = 100;              // header fields per request
  std::uint32_t http_request_timeout_ms = 10000;  // to receive a whole request head and body
  std::uint32_t http_idle_timeout_ms = 30000;     // a keep-alive connection with no request is closed
};

// [http]: names the REST API answers to, besides its own addresses.
struct http_options {
  std::vector<std::string> allowed_hosts;  // extra Host header values (host or host:port); "*" allows any
};

struct log_options {
  std::string level = "info";  // trace|debug|info|warn|error
};

struct node_config {
  std::string source;  // the config file path, or "<flags>"
  std::uint64_t id = 0;
  std::string data_dir;
  std::string grpc_listen = "0.0.0.0:50051";
  std::string http_listen = "0.0.0.0:8081";
  // Optional: the raft wire's listener (transport/peer_listener.hpp). Peers
  // whose [[members]] entry names this node's wire send their appends and
  // heartbeats over it instead of a gRPC stream. Not with [tls] (yet).
  std::string wire_listen;
  std::string advertise_addr;   // address clients should dial for this node; default: own members[] address
  std::vector<member> members;  // every member including this node, sorted by id
  // This node is being added to a running cluster (`troupe member add` on the
  // leader): it starts with no configuration and waits for the leader's. Its
  // members list still names itself and the members it can reach; once the
  // cluster replicated a configuration, that one wins over members.
  bool join = false;
  raft_options raft;
  worker_options worker;
  executor_options executor;
  jobs_options jobs;
  log_options log;
  tls_options tls;
  auth_options auth;
  limits_options limits;
  http_options http;

  // This node's own entry in members; throws config_error when it has none
  // (which validate() rules out).
  const member& self() const;
  // nullptr when no member has that id.
  const member* find_member(std::uint64_t id) const;
};

// Every problem with a configuration. what() is one line naming the file (or
// "<flags>"), the key and the problem. Keys and values quoted in it come from
// the file and may hold line breaks (TOML allows "\n" in quoted keys and
// strings), so the constructor writes CR and LF as \r and \n.
struct config_error : std::runtime_error {
  explicit config_error(const std::string& what);
};

}  // namespace troupe::config
