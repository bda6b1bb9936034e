// Typed messages the actors of one node exchange. Every actor runs in the same
// process (peers talk over gRPC, never CAF remoting), so payload structs are
// registered as local-only with CAF_ALLOW_UNSAFE_MESSAGE_TYPE instead of
// needing serializers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "runtime/jobs/job_table.hpp"
#include "runtime/raft/core.hpp"
#include "log_command.pb.h"

namespace troupe::backup {
class spool_file;
}

namespace troupe {

// ---- atoms (10 characters at most) ----------------------------------------
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using step_atom = caf::atom_constant<caf::atom("step")>;
using propose_atom = caf::atom_constant<caf::atom("propose")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using log_atom = caf::atom_constant<caf::atom("log")>;
using transfer_atom = caf::atom_constant<caf::atom("transfer")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using persist_atom = caf::atom_constant<caf::atom("persist")>;
using compact_atom = caf::atom_constant<caf::atom("compact")>;
using write_atom = caf::atom_constant<caf::atom("write")>;
using install_atom = caf::atom_constant<caf::atom("install")>;
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsub_atom = caf::atom_constant<caf::atom("unsub")>;
using send_atom = caf::atom_constant<caf::atom("send")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using workers_atom = caf::atom_constant<caf::atom("workers")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using report_atom = caf::atom_constant<caf::atom("report")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using topology_atom = caf::atom_constant<caf::atom("topology")>;
using undrain_atom = caf::atom_constant<caf::atom("undrain")>;
using output_atom = caf::atom_constant<caf::atom("output")>;
using forward_atom = caf::atom_constant<caf::atom("forward")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using submit_atom = caf::atom_constant<caf::atom("submit")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>;
using member_atom = caf::atom_constant<caf::atom("member")>;
using backup_atom = caf::atom_constant<caf::atom("backup")>;
using oldest_atom = caf::atom_constant<caf::atom("oldest")>;
using held_atom = caf::atom_constant<caf::atom("held")>;
using running_atom = caf::atom_constant<caf::atom("running")>;
using backlog_atom = caf::atom_constant<caf::atom("backlog")>;

// ---- raft_node <-> log_store -------------------------------------------------
struct persist_request {
  std::optional<raft::hard_state> hard_state;
  std::optional<raft::snapshot> snapshot;
  std::vector<raft::entry> entries;
};
struct persist_done {
  raft::index_t last_index = 0;
  std::uint64_t fsync_us = 0;
  // A snapshot this request installed in its file: the index and the data
  // mapped from the file, which raft_node hands the core (empty if none).
  // If the file cannot be mapped: empty for the leader's snapshot, of which
  // the core holds a heap copy; read into memory for one of ours.
  raft::index_t snapshot_index = 0;
  raft::snapshot_bytes snapshot_file;
};

struct raft_outbox {  // raft_node -> peer_transport
  std::vector<raft::message> messages;
};

// ---- raft_node <-> job_table --------------------------------------------------
struct entry_batch {
  std::vector<raft::entry> entries;
};
struct apply_outcome {
  std::uint64_t index = 0;
  jobs::refusal refused = jobs::refusal::none;
  std::string error;  // non-empty: the command had no effect, and why
};
struct apply_outcomes {
  std::vector<apply_outcome> results;
};
struct snapshot_blob {
  raft::snapshot snap;
};

// ---- raft_node -> job_table -> raft_node -> log_store: a compaction --------
// A piece of the snapshot the table is taking, on its way to the file. The
// table sets meta.index (its applied index when it began; 0: no snapshot in
// progress, a snapshot from the leader replaced the table meanwhile);
// raft_node completes the meta with the term and configuration as of that
// index before handing the piece to log_store.
struct snapshot_piece {
  raft::snapshot_meta meta;
  std::string bytes;
  bool first = false;
  bool last = false;
};

// ---- job_table -> backup_taker -> node_service -> gateway: a backup ---------
// A piece of a backup's image of the job table (AdminService.SaveSnapshot).
// The table fixes the image when the first piece is asked for (its applied
// index, that entry's term, its job count: in every piece) and answers a
// piece per request, as for a compaction; `id` names the backup in the next
// request.
struct backup_piece {
  std::uint64_t id = 0;
  raft::index_t index = 0;
  raft::term_t term = 0;
  std::uint64_t job_count = 0;
  std::string bytes;  // the next bytes of jobs::job_table::snapshot() as it was
  bool last = false;
};

// The whole image, spooled to an anonymous file of the leader's data
// directory (runtime/backup/spool_file.hpp), which the gateway streams.
struct table_image {
  raft::index_t index = 0;
  raft::term_t term = 0;
  std::uint64_t job_count = 0;
  std::shared_ptr<const backup::spool_file> data;  // the snapshot bytes compaction would store
};

// ---- job_table queries and change stream ---------------------------------------
struct job_lookup {
  bool found = false;
  jobs::job job;
};
struct list_request {
  jobs::list_query query;
};
struct list_reply {
  std::string error;  // e.g. "invalid page_token"
  jobs::list_result result;
};
struct job_changes {  // one applied batch: job changes, then drain changes, in log order each
  std::vector<jobs::job_change> changes;
  std::vector<jobs::worker_change> workers;
};
struct job_snapshot_view {  // answer to subscribe: current jobs, then changes
  std::vector<jobs::job> jobs;
  std::uint64_t applied_index = 0;
  std::set<std::uint64_t> draining;  // workers drained by a committed set_worker_draining
};
// A listener's subscription that copies only what it keeps. At a million
// jobs the full job_snapshot_view is a copy of every job per listener, most of
// them terminal and of no use to the dispatcher or the supervisor.
struct listener_scope {
  bool active = false;            // non-terminal jobs, in full
  std::uint64_t active_on = 0;    // with `active`: only those assigned to this worker; 0 = every one
  bool finished = false;          // (completion time, id) of every terminal job
  bool ids = false;               // every job's id
};
struct listener_view {  // answer to a scoped subscribe: what the scope asked for, then changes
  std::uint64_t applied_index = 0;
  std::set<std::uint64_t> draining;  // always: workers drained by a committed set_worker_draining
  std::vector<jobs::job> active;     // creation order
  // (completed_at_ns, or created_at_ns when it has none; id), ascending.
  std::vector<std::pair<std::int64_t, std::string>> finished;
  std::vector<std::string> ids;  // creation order
};
// What the table says of one worker (DrainNode waits on it).
// The completion time of the table's oldest terminal job (what evict_jobs
// would take first), for the dispatcher's retention timer.
struct oldest_finished {
  std::optional<std::int64_t> completed_at_ns;  // nullopt: no terminal job
};
// Some job ids; asked with held_atom, the table answers those it holds
// (the supervisor's sweep of stored outputs after a restart).
struct id_list {
  std::vector<std::string> ids;
};
struct worker_load {
  std::uint64_t worker_id = 0;
  bool draining = false;
  std::size_t active = 0;  // jobs assigned to or running on it
  std::uint64_t applied_index = 0;
};
struct table_stats {
  std::uint64_t applied_index = 0;
  std::size_t total = 0;
  std::size_t active = 0;
  std::vector<std::pair<std::string, std::size_t>> by_status;
  std::vector<std::uint64_t> draining;  // workers drained in the table, ascending
};

// ---- proposals ----------------------------------------------------------------
// raft_node's answer to a proposal that committed with the term it was
// proposed in and applied without refusal. Every other fate is a caf::error
// (protocol/errors.hpp).
struct proposal_result {
  std::uint64_t index = 0;
  std::string job_id;  // submit_job: the id the leader chose
  std::int64_t created_at_ns = 0;
};

// ---- job output (the whole of it lives on the node that ran the job) ----------
struct job_output {
  bool found = false;
  std::string stdout_data;
  std::string stderr_data;
  bool truncated = false;
  std::uint64_t stdout_bytes = 0;
  std::uint64_t stderr_bytes = 0;
};

// ---- raft status --------------------------------------------------------------
struct peer_status {
  std::uint64_t id = 0;
  std::uint64_t match = 0;
  std::uint64_t next = 0;
  bool recent_active = false;
  bool voter = true;  // false: a learner catching up
};
struct raft_status {
  std::uint64_t node_id = 0;
  raft::role role = raft::role::follower;
  std::uint64_t term = 0;
  std::uint64_t leader_id = 0;
  std::uint64_t commit_index = 0;
  std::uint64_t applied_index = 0;
  std::uint64_t first_index = 0;
  std::uint64_t last_index = 0;
  std::uint64_t transfer_target = 0;
  std::uint64_t proposals = 0;   // proposals accepted since start
  std::uint64_t elections = 0;   // elections this node started
  std::size_t pending = 0;       // proposals awaiting commit
  std::vector<peer_status> peers;
  // The latest configuration in this node's log (thesis 4.1: in effect once
  // appended) with every member's addresses filled in, the index it came
  // from, and whether that index is committed.
  raft::membership conf{};
  std::uint64_t conf_index = 0;
  bool conf_committed = true;
};
struct role_change {
  raft::role role = raft::role::follower;
  std::uint64_t term = 0;
  std::uint64_t leader_id = 0;
  // This node has applied everything that was committed when it started (or
  // restarted): the job table shows no intermediate state any more. Until
  // then its entries may be replayed from a stale restored commit index in
  // pieces, and a job seen ASSIGNED may have completed later in the log.
  // Never goes back to false.
  bool caught_up = false;
  // As in raft_status: raft_node also tells its role listeners whenever the
  // configuration changes, so that the transport, the heartbeat tracker and
  // the dispatcher follow members being added and removed.
  raft::membership conf{};
  std::uint64_t conf_index = 0;
  bool conf_committed = true;
};
// A membership change asked of the leader (troupe member add/remove).
struct member_change {
  enum class op : std::uint8_t { add, remove } kind = op::add;
  std::uint64_t id = 0;
  std::string address;       // add: the new node's peer address (host:port)
  std::string http_address;  // add: optional
  std::string wire_address;  // add: optional, its raft wire (transport/wire_format.hpp)
};
// Answered once the change is committed: the configuration it made.
struct member_result {
  raft::membership conf{};
  std::uint64_t index = 0;
};
// GetRaftLogEntries answers at most this many entries per page.
inline constexpr std::uint32_t max_log_page = 1000;
struct log_page {
  std::vector<raft::entry> entries;
  std::uint64_t commit_index = 0;
  std::uint64_t last_index = 0;
  std::uint64_t first_index = 0;
};

// ---- heartbeats and workers -----------------------------------------------------
struct worker_report {  // what a node says of itself in WorkerHeartbeat
  std::uint64_t node_id = 0;
  std::string address;
  std::string http_address;
  bool executor_ok = true;
  std::string executor_backend;
  std::vector<std::string> running_jobs;
  std::uint32_t capacity = 0;
  std::uint32_t feature_level = 1;  // protocol/feature_level.hpp
  std::uint32_t prefetch = 0;       // jobs taken beyond capacity, waiting for a slot
};
struct worker_state {
  worker_report report;
  bool alive = false;
  std::int64_t last_seen_ms_ago = -1;  // -1: never seen
};
struct worker_list {
  std::vector<worker_state> workers;
};
struct heartbeat_reply {
  bool accepted = false;
  std::uint64_t leader_id = 0;
  std::uint64_t term = 0;
  std::string leader_address;  // as the answering node's configuration lists it
};

// ---- job execution ---------------------------------------------------------------
struct executor_result {
  std::string job_id;
  std::uint32_t attempt = 0;
  logpb::JobStatusUpdate update;
};

// ---- topology ----------------------------------------------------------------------
struct topology_entry {
  std::string name;
  std::uint64_t actor_id = 0;
  std::string parent;    // who spawned it
  std::string monitors;  // what it monitors / is linked to
  std::string detail;    // e.g. job id
};
struct topology {
  std::vector<topology_entry> actors;
};

}  // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::member_change)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::member_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::persist_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::persist_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::raft_outbox)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::entry_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::apply_outcomes)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::snapshot_blob)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::snapshot_piece)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::backup_piece)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::table_image)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::job_lookup)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::list_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::list_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::job_changes)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::job_snapshot_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::listener_scope)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::listener_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::oldest_finished)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::id_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::table_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::worker_load)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::proposal_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::job_output)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::raft_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::role_change)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::log_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::worker_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::worker_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::heartbeat_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::executor_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::topology)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::raft::message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(::troupe::logpb::Command)
