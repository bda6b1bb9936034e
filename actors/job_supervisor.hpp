// job_supervisor: every node's owner of the jobs assigned to it. Follows the
// committed job changes; spawns (and monitors) a job_executor for each job
// assigned here, at most [worker] capacity at a time (the rest wait here, in
// order, for a slot), cancels it when a CancelJob commits or the job is
// re-queued elsewhere, and carries every status change into the log: proposed directly
// on the leader, sent by ForwardJobStatus (peer_transport) from a follower,
// in numbered batches kept until their own call is acknowledged as final.
// Answers this node's worker report for heartbeats and reads its stored job
// outputs (in a detached output_reader). On node shutdown it stops every job
// without reporting it. After a (re)start it acts on no job before raft_node
// reports it has caught up with the cluster's commit index. Deletes the
// stored output of jobs the table evicted (and, after a restart, of every job
// it no longer holds).
#pragma once

#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/interfaces.hpp"
#include "actors/prefetch_gauge.hpp"
#include "config/node_config.hpp"
#include "runtime/exec/backend.hpp"
#include "runtime/exec/start_journal.hpp"

namespace troupe {

struct job_supervisor_state {
  static inline const char* name = "job_supervisor";
  using clock = std::chrono::steady_clock;
  struct running_job {
    job_executor_actor executor;
    std::uint32_t attempt = 0;
    clock::time_point started{};  // for the run time histogram
    std::int64_t started_ns = 0;  // wall clock, for the RUNNING report or the final one
    bool running_reported = false;
    // The table moved past this attempt while it ran: its start record,
    // possibly written after the table's change was seen, goes when it ends.
    bool moved_on = false;
  };
  // RUNNING reports not sent yet (config::running_report_hold), in start order.
  struct held_report {
    std::string job_id;
    std::uint32_t attempt = 0;
    clock::time_point due{};
  };
  std::deque<held_report> held_reports;
  bool held_timer = false;  // a running_atom is on its way
  config::node_config cfg;
  std::shared_ptr<exec::backend> backend;
  // The attempts started here (the backend records each before it runs):
  // after a restart, the ones a job may have run with.
  std::shared_ptr<exec::start_journal> journal;
  peer_transport_actor transport;
  raft_node_actor raft;
  role_change role;
  // By job id. Hashed: every job change of the cluster (not only this node's)
  // looks its id up here; nothing walks them in an order that matters.
  std::unordered_map<std::string, running_job> running;
  // Assigned here while every slot ([worker] capacity) was busy: started in
  // assignment order as slots free. The prefetch this node's report offers
  // bounds them at the leader, but a node restarted on a table with many
  // jobs assigned to it (a backup, a lowered capacity) holds them all, and
  // every job change of the cluster looks its id up here: indexed, not
  // walked.
  std::list<jobs::job> waiting;
  std::unordered_map<std::string, std::list<jobs::job>::iterator> waiting_by_id;
  std::unordered_map<std::string, std::uint32_t> launched;  // latest attempt this process started or reported, per unfinished job
  std::vector<logpb::JobStatusUpdate> outbox;     // waiting for the next batch
  std::unordered_map<std::string, std::uint32_t> outbox_running;  // RUNNING updates in the outbox, by job
  std::optional<status_batch> in_flight;          // sent; only an ack of its own seq settles it
  std::uint64_t last_seq = 0;
  bool executor_ok = true;
  bool probing = false;
  bool stopping = false;  // node shutdown: start nothing, report nothing
  // Until raft_node says this node has caught up (role_change::caught_up),
  // the table may show intermediate states (a job ASSIGNED here that completed
  // later in the log): the latest state of each job waits here, and is acted
  // on once caught up.
  bool caught_up = false;
  std::unordered_map<std::string, jobs::job> deferred;  // acted on in id order once caught up
  // Output files of jobs the table no longer holds are deleted: on each
  // eviction in the change stream, and once after a (re)start (when caught up
  // and the table's snapshot is in) for every output directory of a job the
  // table does not hold (asked of the table then: no id set is kept here).
  std::unordered_set<std::string> evicted_running;  // evicted while an executor here still ran it: deleted when done
  job_table_actor table;
  bool have_table = false;
  // A tick is scheduled. Ticks run only while a status batch waits to be
  // sent or acknowledged; the executor probe rides on the heartbeat's report.
  bool ticking = false;
  clock::time_point last_probe{};
  // The prefetch this node's report offers the leader: [worker] prefetch or,
  // with short jobs, what it completes in a refill window (prefetch_gauge).
  std::optional<prefetch_gauge> prefetch;
  bool swept = false;
  std::size_t stopped = 0;
  std::vector<caf::typed_response_promise<std::size_t>> stop_waiters;
};

job_supervisor_actor::behavior_type job_supervisor(job_supervisor_actor::stateful_pointer<job_supervisor_state> self,
                                                   config::node_config cfg, std::shared_ptr<exec::backend> backend,
                                                   std::shared_ptr<exec::start_journal> journal,
                                                   peer_transport_actor transport, raft_node_actor raft,
                                                   job_table_actor table);

}  // namespace troupe
