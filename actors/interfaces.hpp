// The typed interfaces of every actor of a node, in one place so that each
// actor's header can name the handles it talks to without include cycles.
// Read this file to learn who can say what to whom.
#pragma once

#include <caf/all.hpp>

#include "protocol/messages.hpp"
#include "transport/interface.hpp"  // peer_transport_actor: calls to other members

namespace troupe {

// Anyone who wants to hear about leadership changes (dispatcher, heartbeats, supervisor).
using role_listener = caf::typed_actor<caf::reacts_to<role_change>>;

// Anyone who follows committed job changes (dispatcher, supervisor, StreamJobs, SSE).
using change_listener = caf::typed_actor<caf::reacts_to<job_changes>>;

// Anyone who follows the leader's view of worker liveness (dispatcher).
using worker_listener = caf::typed_actor<caf::reacts_to<worker_list>>;

// The only owner of the Raft log files. Persists what raft_node's ready says.
using log_store_actor = caf::typed_actor<
    caf::replies_to<persist_atom, persist_request>::with<persist_done>,
    // Installs this node's own snapshot, which snapshot_writer finished at
    // that index, and deletes the log segments it covers; the reply carries
    // the installed data (persist_done). A snapshot no newer than the
    // installed one (the leader's, persisted meanwhile) is removed instead,
    // and the reply carries no data.
    caf::replies_to<install_atom, raft::index_t>::with<persist_done>>;

// Writes this node's own snapshot file beside the log, a piece per message
// as job_table encodes it (the first creates the file, the last completes
// and fsyncs it; each reply: the data's bytes written so far), on a thread
// of its own so that the appends never wait for it. log_store installs the
// finished file. cancel_atom drops the file in progress; a piece of a
// dropped snapshot is refused (unavailable).
using snapshot_writer_actor = caf::typed_actor<
    caf::replies_to<write_atom, snapshot_piece>::with<std::uint64_t>,
    caf::reacts_to<cancel_atom>>;

// The applied state: the job table, its queries and its change stream.
using job_table_actor = caf::typed_actor<
    caf::replies_to<apply_atom, entry_batch>::with<apply_outcomes>,
    caf::replies_to<restore_atom, snapshot_blob>::with<std::uint64_t>,
    // Snapshot the state at the applied index, a piece per request:
    // compact_atom begins and answers the first piece, write_atom the next.
    caf::replies_to<compact_atom>::with<snapshot_piece>,
    caf::replies_to<write_atom>::with<snapshot_piece>,
    caf::reacts_to<cancel_atom, compact_atom>,  // drop the snapshot in progress
    // A backup, a piece per request: backup_atom begins it (the sender takes
    // the pieces; its end drops the backup) and answers the first piece,
    // backup_atom with the piece's id the next.
    caf::replies_to<backup_atom>::with<backup_piece>,
    caf::replies_to<backup_atom, std::uint64_t>::with<backup_piece>,
    caf::replies_to<get_atom, std::string>::with<job_lookup>,
    caf::replies_to<list_atom, list_request>::with<list_reply>,
    caf::replies_to<subscribe_atom, change_listener>::with<job_snapshot_view>,  // every job (streams)
    caf::replies_to<subscribe_atom, change_listener, listener_scope>::with<listener_view>,  // what the scope asks
    caf::reacts_to<unsub_atom, change_listener>,
    caf::replies_to<stats_atom>::with<table_stats>,
    caf::replies_to<oldest_atom>::with<oldest_finished>,  // when the oldest terminal job completed
    caf::replies_to<held_atom, id_list>::with<id_list>,   // which of these ids the table holds
    caf::replies_to<workers_atom, std::uint64_t>::with<worker_load>>;  // one worker: drained? jobs on it?

// Owns the Raft core: ticks it, steps peer messages into it, runs the
// persist -> send -> apply -> advance loop, and answers proposals on commit.
// Failures are caf::errors of protocol/errors.hpp (not_leader with the
// leader's id and address, resource_exhausted, unavailable, deadline_exceeded,
// and the job table's refusals: not_found, failed_precondition,
// resource_exhausted, invalid_argument).
using raft_node_actor = caf::typed_actor<
    caf::reacts_to<tick_atom>,
    caf::reacts_to<step_atom, raft::message>,
    caf::replies_to<propose_atom, logpb::Command>::with<proposal_result>,  // committed and applied
    caf::replies_to<status_atom>::with<raft_status>,
    caf::replies_to<log_atom, std::uint64_t, std::uint32_t>::with<log_page>,
    caf::replies_to<transfer_atom, std::uint64_t>::with<std::uint64_t>,  // the new leader's id
    caf::replies_to<read_atom>::with<std::uint64_t>,  // ReadIndex: answered once applied >= read index
    // Leader only, one change at a time (failed_precondition while one is
    // uncommitted). add: the node joins as a learner, promoted to voter by
    // the core once caught up. remove of the leader itself: leadership is
    // handed over first and the answer is not_leader naming the new leader,
    // so the client's redirect carries the request there.
    caf::replies_to<member_atom, member_change>::with<member_result>,
    caf::reacts_to<subscribe_atom, role_listener>,
    // From the leader's dispatcher: whether jobs wait for a free slot (a
    // backlog), which lengthens the hold of job status reports.
    caf::reacts_to<backlog_atom, bool>,
    // The node is stopping (after its hand-off): no new proposals; unless
    // another node leads, every request still waiting is answered now (how
    // many), as on a fail-stop.
    caf::replies_to<shutdown_atom>::with<std::size_t>>;

// Leader side: liveness of every worker. Every side: sends its own heartbeat.
using heartbeat_tracker_actor = caf::typed_actor<
    caf::reacts_to<tick_atom>,
    caf::reacts_to<role_change>,
    caf::replies_to<heartbeat_atom, worker_report>::with<heartbeat_reply>,
    caf::replies_to<workers_atom>::with<worker_list>,
    caf::reacts_to<subscribe_atom, worker_listener>>;

// Leader only: assigns pending jobs, re-queues the jobs of dead workers, evicts old jobs.
using job_dispatcher_actor = caf::typed_actor<
    // A submit_job command to propose; the leader's dispatcher places it in
    // the entry itself when a worker has a free slot (job_dispatcher.hpp).
    caf::replies_to<submit_atom, logpb::Command>::with<proposal_result>,
    caf::reacts_to<role_change>,
    caf::reacts_to<job_changes>,
    caf::reacts_to<worker_list>,
    caf::reacts_to<tick_atom>>;

// One per running job: drives the executor backend on a detached helper actor.
using job_executor_actor = caf::typed_actor<
    caf::reacts_to<cancel_atom>,
    caf::reacts_to<done_atom, executor_result>>;

// Every node: starts a job_executor for each job assigned here, cancels them,
// and carries their results into the log (directly on the leader, by
// ForwardJobStatus through peer_transport from a follower).
using job_supervisor_actor = caf::typed_actor<
    caf::reacts_to<role_change>,
    caf::reacts_to<job_changes>,
    caf::reacts_to<done_atom, executor_result>,
    caf::reacts_to<tick_atom>,
    caf::reacts_to<running_atom>,                                  // RUNNING reports held long enough are due
    caf::reacts_to<heartbeat_atom, bool>,                          // executor backend health probe result
    caf::replies_to<workers_atom>::with<worker_report>,            // this node's own report
    caf::replies_to<output_atom, std::string>::with<job_output>,   // a job's output stored on this node
    // Node shutdown: stop every job here without reporting it (after a
    // restart it is reported failed, "interrupted"); answers once none runs.
    caf::replies_to<shutdown_atom>::with<std::size_t /*jobs stopped*/>,
    caf::replies_to<topology_atom>::with<topology>>;

}  // namespace troupe
