// Every timeout a node derives from its configuration, in one place. Waits
// nest (a gateway waits for the service, which waits for raft_node, which
// answers a proposal by its commit deadline), so each outer wait is the inner
// one plus one margin: change a setting and every wait that depends on it
// moves with it. Nothing else in the tree writes a timeout literal.
#pragma once

#include <algorithm>
#include <chrono>

#include "config/node_config.hpp"

namespace troupe::config {

using std::chrono::milliseconds;

// Time for an answer to travel one hop further out (actor mailbox, a gRPC
// round trip on a loaded node) beyond the wait of the hop it depends on.
inline constexpr milliseconds hop_margin{1000};

// A question to a local actor that answers from its own state (job table
// lookups, raft status, worker list).
inline constexpr milliseconds query_timeout{5000};

// The spec's bound on DrainNode's wait for the node's jobs to end.
inline constexpr milliseconds drain_jobs_wait{60000};

inline milliseconds tick(const node_config& c) { return milliseconds(c.raft.tick_ms); }

inline milliseconds election_timeout(const node_config& c) {
  return milliseconds(std::uint64_t{c.raft.election_ticks} * c.raft.tick_ms);
}

// raft_node answers every proposal by this deadline (DEADLINE_EXCEEDED).
inline milliseconds commit_deadline(const node_config& c) { return milliseconds(c.raft.commit_deadline_ms); }

// raft_node, leader: a job status report waits up to this long for another
// proposal and goes into the log with it, so that at low load a job's result
// and the next SubmitJob share one commit round instead of two. A job's end
// reaches the table at most this much later; its commit deadline starts
// when the hold ends.
inline milliseconds status_hold(const node_config& c) { return milliseconds(c.raft.status_hold_ms); }

// The hold while jobs wait for a free slot (the leader's dispatcher tells
// raft_node): the longer of the two settings.
inline milliseconds status_hold_busy(const node_config& c) {
  return milliseconds(std::max(c.raft.status_hold_ms, c.raft.status_hold_busy_ms));
}

// A worker lets the leader assign it about what it completes in this window
// beyond its capacity (actors/prefetch_gauge): the round through the leader
// that refills a freed slot, i.e. the result's hold and two commit rounds
// (the result's, then the assignment's) of a loaded cluster, about 20 ms
// each (p99 at 64 in flight, docs/BENCHMARKS.md). The hold is the busy one:
// a prefetch matters when jobs wait for slots.
inline milliseconds prefetch_window(const node_config& c) { return status_hold_busy(c) + milliseconds(40); }

// How long whoever asks raft_node to propose waits for its answer: the
// longest hold of a status report, the commit deadline, checked once per
// tick, plus a hop.
inline milliseconds commit_wait(const node_config& c) {
  return status_hold_busy(c) + commit_deadline(c) + tick(c) + hop_margin;
}

// A leadership transfer that has not completed in this window is aborted: the
// target needs a few election timeouts to catch up and win (at least 2 s on
// fast test settings).
inline milliseconds transfer_window(const node_config& c) {
  return std::max(milliseconds(2000), 3 * election_timeout(c));
}

// A stopping leader hands leadership to a follower before it closes its
// gateways (node/bootstrap.cpp). Waiting for that longer than this is
// pointless: had the leader simply stopped, its followers would have elected
// one of their own by then (each waits a random one to two election timeouts
// after the last heartbeat).
inline milliseconds stop_hand_off_wait(const node_config& c) { return 2 * election_timeout(c); }

// How long whoever asks raft_node for a transfer waits for its answer.
inline milliseconds transfer_wait(const node_config& c) { return transfer_window(c) + tick(c) + hop_margin; }

// A membership change: raft_node answers by its commit deadline, or, when
// the leader removes itself, after handing leadership over (it waits up to
// two transfer windows for that).
inline milliseconds member_change_wait(const node_config& c) {
  return std::max(commit_wait(c), 2 * transfer_window(c) + tick(c) + hop_margin);
}

// A wait one hop further out than `inner` (a gateway over the service, a
// follower forwarding to the leader).
inline milliseconds outer(milliseconds inner) { return inner + hop_margin; }

// A write one node hands to the leader (SubmitJob or CancelJob forwarded by
// the service, a ForwardJobStatus batch, a SetWorkerDraining entry): the
// leader's commit wait plus the hop to it; write_wait adds the hop back to
// whoever asked (a gateway, the supervisor, the drain workflow).
inline milliseconds forward_wait(const node_config& c) { return outer(commit_wait(c)); }
inline milliseconds write_wait(const node_config& c) { return outer(forward_wait(c)); }

// DrainNode / UndrainNode: attempts to commit the drain entry (here, or by
// the leader on request) start within one commit wait; the last one may take
// a forwarded write's wait.
inline milliseconds drain_entry_wait(const node_config& c) { return commit_wait(c) + forward_wait(c); }

// DrainNode: the drain entry commits, the node's jobs end (bounded), then
// leadership is handed away.
inline milliseconds drain_wait(const node_config& c) {
  return drain_entry_wait(c) + drain_jobs_wait + transfer_wait(c) + hop_margin;
}

// The same for a leadership transfer asked on a follower (REST forwards it).
inline milliseconds transfer_forward_wait(const node_config& c) { return outer(transfer_wait(c)); }
inline milliseconds transfer_request_wait(const node_config& c) { return outer(transfer_forward_wait(c)); }

// A question another node answers from its own state: cluster status and
// Raft log on the leader, a job's output (GetJobOutput) on the node that ran
// it; forwarded_query_wait adds the hop back to whoever asked.
inline milliseconds remote_query_wait() { return outer(query_timeout); }
inline milliseconds forwarded_query_wait() { return outer(remote_query_wait()); }

// A backup (AdminService.SaveSnapshot) takes the whole job table into a spool
// file, a piece at a time (each piece a query's wait): far longer than a
// query at a million jobs. The service waits for the ReadIndex, then for the
// image; the gateway one hop longer.
inline constexpr milliseconds table_image_timeout{60000};
inline milliseconds table_image_wait(const node_config& c) { return commit_wait(c) + table_image_timeout; }
inline milliseconds snapshot_request_wait(const node_config& c) { return outer(table_image_wait(c)); }

// Server-sent events: a comment line after this long idle keeps proxies from
// closing the stream and reveals a client that went away; the writer thread
// wakes this often to notice a server shutdown.
inline constexpr milliseconds sse_keepalive{15000};
inline constexpr milliseconds sse_poll{1000};

// A heartbeat is worth sending only until the next one.
inline milliseconds heartbeat_interval(const node_config& c) { return milliseconds(c.worker.heartbeat_ms); }

// A worker silent this long is presumed dead; a new leader also waits this
// long before judging anyone.
inline milliseconds dead_after(const node_config& c) { return milliseconds(c.worker.dead_after_ms); }

// The leader re-queues a job its table has RUNNING on a live worker when that
// worker's heartbeats leave it out for a heartbeat window (a running job, or
// one whose final status is not acknowledged yet, is in every report). An
// ASSIGNED job also gets the time for the assignment to commit and reach the
// worker, which may be catching up after a restart.
inline milliseconds unreported_running_grace(const node_config& c) { return dead_after(c); }
inline milliseconds unreported_assigned_grace(const node_config& c) { return dead_after(c) + commit_wait(c); }


// ---- how often actors look at their own state (periods, not deadlines) ------

// Each of these ticks runs only while there is work for it: an idle node has
// no periodic timer but Raft's tick and the heartbeat's.

// job_supervisor: resend a status batch not yet accepted; ticks only while
// one waits. The executor backend's health is probed when the heartbeat asks
// for this node's report, at most this often.
inline constexpr milliseconds supervisor_tick{200};
// job_supervisor: a job's RUNNING report waits this long after its start. A
// job that ends sooner is reported once, by its final update (which carries
// the start time): one log entry fewer per short job, and at low load one
// commit round on every node and one ForwardJobStatus call fewer. Longer
// jobs show RUNNING this much later.
inline milliseconds running_report_hold(const node_config& c) { return milliseconds(c.worker.running_report_hold_ms); }
inline constexpr milliseconds executor_probe_interval{2000};
// job_dispatcher, leader only: while jobs are pending or placed, retry
// assignments that found every worker full and re-queue dead or silent
// workers' jobs; otherwise it wakes only when the oldest finished job
// reaches jobs.retention_s.
inline constexpr milliseconds dispatcher_tick{1000};

// ---- node-to-node calls (transport/) ----------------------------------------

// One RaftService call carrying a message batch. Raft retransmits whatever is
// lost, so a call stuck longer than this is only worth dropping.
inline constexpr milliseconds raft_call_deadline{5000};

// A connection to the raft wire's port that has not said hello within this
// long is closed (transport/peer_listener.hpp).
inline constexpr milliseconds wire_hello_wait{10000};

// After a wire connection to a peer failed (an older node, a firewall, a
// refusal), its appends stay on the gRPC stream this long before the next try.
inline constexpr milliseconds wire_redial_wait{10000};

// A heartbeat call, and the tracker's wait for peer_transport's answer.
inline milliseconds heartbeat_deadline(const node_config& c) { return heartbeat_interval(c); }
inline milliseconds heartbeat_wait(const node_config& c) { return outer(heartbeat_deadline(c)); }

// ---- shutdown ------------------------------------------------------------------

// After SIGTERM the bootstrap cancels every running job (process group killed,
// container removed) and waits this long for the executors to end.
inline constexpr milliseconds executor_stop_wait{10000};

}  // namespace troupe::config
