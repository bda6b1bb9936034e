#include "actors/job_supervisor.hpp"

#include "protocol/feature_level.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/job_executor.hpp"
#include "actors/output_reader.hpp"
#include "runtime/exec/output_store.hpp"
#include "config/limits.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/metrics.hpp"
#include "runtime/common/wall_clock.hpp"
#include "runtime/jobs/uuid.hpp"
#include "transport/status_report.hpp"

namespace troupe {
namespace {

using self_ptr = job_supervisor_actor::stateful_pointer<job_supervisor_state>;
using clock = job_supervisor_state::clock;

constexpr auto tick_every = config::supervisor_tick;

void flush(self_ptr self);
void report_held(self_ptr self);

// A tick resends what is waiting (a batch refused as not final, or one that
// found no leader); with nothing waiting, none is scheduled.
void arm_tick(self_ptr self) {
  auto& st = self->state;
  if (st.ticking || (st.outbox.empty() && !st.in_flight)) return;
  st.ticking = true;
  self->delayed_send(self, tick_every, tick_atom::value);
}

// Counts the RUNNING updates in the outbox by job (delta +1 as they go in,
// -1 as they leave), so that a final update looks for one only when there is
// one: a restarted node queues thousands of final reports at once.
template <class It>
void count_running(job_supervisor_state& st, It first, It last, int delta) {
  for (; first != last; ++first) {
    if (first->status() != scheduler::JOB_STATUS_RUNNING) continue;
    auto& n = st.outbox_running[first->job_id()];
    n += delta;
    if (n == 0) st.outbox_running.erase(first->job_id());
  }
}

void queue(self_ptr self, logpb::JobStatusUpdate u) {
  auto& st = self->state;
  auto& outbox = st.outbox;
  if (u.status() != scheduler::JOB_STATUS_RUNNING) {
    // The job ended before its RUNNING update left: the final update says
    // both (it carries the start time), so the log gets one update, not two.
    if (st.outbox_running.count(u.job_id())) {
      for (auto it = outbox.begin(); it != outbox.end(); ++it) {
        if (it->job_id() == u.job_id() && it->attempt() == u.attempt() &&
            it->status() == scheduler::JOB_STATUS_RUNNING) {
          u.set_started_at_ns(it->at_ns());
          count_running(st, it, std::next(it), -1);
          outbox.erase(it);
          break;
        }
      }
    }
    // The start and the end are two readings of this node's wall clock: one
    // stepped back in between would report a start after the end, which the
    // leader refuses for good (peer_validation) with the rest of the batch;
    // the leader's dispatcher would later re-queue those jobs as unreported
    // and run them again. Such a job is reported as started when it ended.
    if (u.started_at_ns() > u.at_ns()) u.set_started_at_ns(u.at_ns());
  }
  outbox.push_back(std::move(u));
  count_running(st, std::prev(outbox.end()), outbox.end(), +1);
  flush(self);
}

// One timer for all held RUNNING reports: it fires when the oldest is due.
void arm_held_reports(self_ptr self) {
  auto& st = self->state;
  if (st.held_timer || st.held_reports.empty()) return;
  st.held_timer = true;
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(st.held_reports.front().due - clock::now());
  self->delayed_send(self, std::max(wait, std::chrono::milliseconds(1)), running_atom::value);
}

void start(self_ptr self, const jobs::job& j) {
  auto& st = self->state;
  exec::job_spec spec;
  spec.job_id = j.id;
  spec.node_id = st.cfg.id;
  spec.command = j.command;
  spec.image = j.image.empty() ? st.cfg.executor.default_image : j.image;
  spec.attempt = j.attempts;
  // 0 asks for the default. The service refuses more than max_timeout_s at
  // submit; entries committed before that check (or under a larger limit)
  // are held to this node's limit all the same.
  spec.timeout = std::chrono::seconds(
      std::min<std::uint32_t>(j.timeout_s ? j.timeout_s : st.cfg.executor.timeout_s, st.cfg.executor.max_timeout_s));
  spec.output_dir = st.cfg.data_dir + "/outputs";
  spec.output_cap_bytes = st.cfg.executor.output_cap_bytes;
  spec.inline_limit = st.cfg.executor.output_inline_bytes;
  spec.journal = st.journal;
  auto exec = self->spawn(job_executor, st.backend, spec, j.attempts, caf::actor_cast<job_supervisor_actor>(self));
  self->monitor(exec);
  const auto now = clock::now();
  st.running[j.id] = {exec, j.attempts, now, wall_clock_ns()};
  st.launched[j.id] = j.attempts;
  TLOG(info, "job_supervisor") << "spawned job_executor #" << exec.id() << " for job " << j.id << " (attempt "
                               << j.attempts << ", image " << spec.image << ", backend " << st.backend->name()
                               << "); parent job_supervisor #" << self->id() << " monitors it";
  st.held_reports.push_back({j.id, j.attempts, now + config::running_report_hold(st.cfg)});
  report_held(self);  // at once when the hold is 0
}

// Queues the RUNNING report of each held job whose hold is over and that
// still runs here (one that ended was reported by its final update).
void report_held(self_ptr self) {
  auto& st = self->state;
  const auto now = clock::now();
  while (!st.held_reports.empty() && st.held_reports.front().due <= now) {
    auto h = std::move(st.held_reports.front());
    st.held_reports.pop_front();
    auto it = st.running.find(h.job_id);
    if (st.stopping || it == st.running.end() || it->second.attempt != h.attempt) continue;
    it->second.running_reported = true;
    logpb::JobStatusUpdate u;
    u.set_job_id(h.job_id);
    u.set_status(scheduler::JOB_STATUS_RUNNING);
    u.set_executed_by(st.cfg.id);
    u.set_attempt(h.attempt);
    u.set_at_ns(it->second.started_ns);
    queue(self, std::move(u));
  }
  arm_held_reports(self);
}

// Starts waiting jobs while slots are free.
void start_waiting(self_ptr self) {
  auto& st = self->state;
  while (!st.stopping && !st.waiting.empty() && st.running.size() < st.cfg.worker.capacity) {
    jobs::job j = std::move(st.waiting.front());
    st.waiting_by_id.erase(j.id);
    st.waiting.pop_front();
    start(self, j);
  }
}

const jobs::job* find_waiting(const job_supervisor_state& st, const std::string& id) {
  auto it = st.waiting_by_id.find(id);
  return it == st.waiting_by_id.end() ? nullptr : &*it->second;
}

void stop_waiting(job_supervisor_state& st, const std::string& id) {
  auto it = st.waiting_by_id.find(id);
  if (it == st.waiting_by_id.end()) return;
  st.waiting.erase(it->second);
  st.waiting_by_id.erase(it);
}

// Whether this node recorded starting the job's current attempt (a record
// left by an earlier process: this one has not launched it).
bool started_here(const job_supervisor_state& st, const jobs::job& j) {
  return st.journal->recorded(j.id) == std::optional<std::uint32_t>(j.attempts);
}

void reconcile(self_ptr self, const jobs::job& j) {
  auto& st = self->state;
  if (st.stopping) return;  // the node is shutting down: start and report nothing
  if (!st.caught_up) {
    st.deferred[j.id] = j;  // only its latest state counts
    return;
  }
  auto self_id = st.cfg.id;
  auto run = st.running.find(j.id);
  bool mine = j.assigned_worker == self_id;
  // The table shows the job's current attempt assigned to or running on
  // this node. Caught up, the table is at least as new as any start record: a record
  // of an attempt it does not show live here is never asked for again.
  bool live = mine && (j.status == jobs::job_status::assigned || j.status == jobs::job_status::running);
  st.journal->settle(j.id, live ? std::optional<std::uint32_t>(j.attempts) : std::nullopt);
  // A finished job needs no memory of its attempts here any more.
  if (jobs::is_terminal(j.status)) st.launched.erase(j.id);
  if (run != st.running.end()) {
    // Stop what no longer belongs to this attempt here: cancelled, finished
    // elsewhere, or re-queued after this node was declared dead.
    bool keep = live && run->second.attempt == j.attempts;
    if (!keep) {
      run->second.moved_on = true;
      TLOG(info, "job_supervisor") << "cancelling job " << j.id << " here (now " << jobs::to_string(j.status)
                                   << ")";
      self->send(run->second.executor, cancel_atom::value);
    }
    return;
  }
  // Waiting for a slot here: it keeps its place while the table still has
  // this attempt assigned here; cancelled, re-queued or evicted, it leaves
  // without ever starting (a newer attempt assigned here queues again below).
  if (const jobs::job* w = find_waiting(st, j.id)) {
    if (mine && j.status == jobs::job_status::assigned && w->attempts == j.attempts) return;
    stop_waiting(st, j.id);
  }
  // A finished job is done with, here too: its start record only matters
  // while the table still expects an outcome.
  if (jobs::is_terminal(j.status)) return;
  auto seen = st.launched.find(j.id);
  if (!mine || (seen != st.launched.end() && seen->second >= j.attempts)) return;
  // Started here before this process restarted (RUNNING in the log, or its
  // start recorded on disk though the report never committed): its outcome
  // is unknowable and running it again could repeat side effects, so it is
  // reported failed. At most once per attempt and node.
  bool started_before = j.status == jobs::job_status::running || started_here(st, j);
  if (j.status == jobs::job_status::assigned && !started_before) {
    if (st.running.size() >= st.cfg.worker.capacity) {
      st.waiting_by_id.emplace(j.id, st.waiting.insert(st.waiting.end(), j));
      return;
    }
    start(self, j);
  } else if (started_before) {
    st.launched[j.id] = j.attempts;
    logpb::JobStatusUpdate u;
    u.set_job_id(j.id);
    u.set_status(scheduler::JOB_STATUS_FAILED);
    u.set_executed_by(self_id);
    u.set_attempt(j.attempts);
    u.set_error("interrupted: node " + std::to_string(self_id) + " restarted while the job was running");
    u.set_at_ns(wall_clock_ns());
    u.set_completed_at_ms(ns_to_ms(u.at_ns()));
    TLOG(warn, "job_supervisor") << "job " << j.id << " was running here before a restart; reporting it failed";
    queue(self, std::move(u));
  }
}

// The batch in flight goes back to the front of the outbox, in order; any
// answer still on its way for it will no longer match.
void requeue(self_ptr self) {
  auto& st = self->state;
  if (!st.in_flight) return;
  auto& u = st.in_flight->updates;
  count_running(st, u.begin(), u.end(), +1);
  st.outbox.insert(st.outbox.begin(), u.begin(), u.end());
  st.in_flight.reset();
}

// An answer for batch a.seq: only the batch in flight can be settled by it
// (a late answer for a batch resent under a newer seq changes nothing).
void settle(self_ptr self, const report_ack& a) {
  auto& st = self->state;
  if (!st.in_flight || st.in_flight->seq != a.seq) return;
  if (!a.final) {
    TLOG(debug, "job_supervisor") << "status batch " << a.seq << " not accepted (" << a.message
                                  << "); retrying";
    requeue(self);  // resent on the next tick
    arm_tick(self);
    return;
  }
  st.in_flight.reset();
  flush(self);
}

// Sends the outbox as one numbered batch: proposed here on the leader,
// forwarded to it from a follower. One batch in flight at a time keeps the
// updates of a job in order.
void flush(self_ptr self) {
  auto& st = self->state;
  arm_tick(self);
  if (st.in_flight || st.outbox.empty()) return;
  auto leader = st.role.leader_id;
  if (leader == raft::no_node) return;  // retried on tick
  // One batch is one log entry: packed up to config::status_batch_bytes (one
  // update always goes) so it never exceeds the entry limit peers enforce,
  // and to config::status_batch_updates so its apply stays short.
  std::size_t n = 0, bytes = 0;
  while (n < std::min(st.outbox.size(), config::status_batch_updates) &&
         (n == 0 || bytes + st.outbox[n].ByteSizeLong() <= config::status_batch_bytes(st.cfg)))
    bytes += st.outbox[n++].ByteSizeLong();
  st.in_flight = status_batch{++st.last_seq, {}};
  count_running(st, st.outbox.begin(), st.outbox.begin() + static_cast<std::ptrdiff_t>(n), -1);
  st.in_flight->updates.assign(std::make_move_iterator(st.outbox.begin()),
                               std::make_move_iterator(st.outbox.begin() + static_cast<std::ptrdiff_t>(n)));
  st.outbox.erase(st.outbox.begin(), st.outbox.begin() + static_cast<std::ptrdiff_t>(n));
  auto seq = st.in_flight->seq;
  if (leader == st.cfg.id) {
    propose(
        self, st.raft, config::commit_wait(st.cfg), status_command(*st.in_flight),
        [=](std::uint64_t) { settle(self, acknowledge(seq, caf::error{})); },
        [=](const caf::error& e) { settle(self, acknowledge(seq, e)); });
    return;
  }
  self->request(st.transport, config::write_wait(st.cfg), report_atom::value, leader, *st.in_flight)
      .then([=](report_ack& a) { settle(self, a); },
            // A refusal by the leader's validation (invalid_argument) or its
            // peer authentication is final, like one by its job table:
            // resending it would block the outbox. Unlike the table's (an
            // answer, e.g. a report on a job cancelled meanwhile), it is
            // abnormal: the table still expects these outcomes, and the
            // leader will re-queue the jobs as unreported. Say which.
            [=](caf::error& e) {
              auto ack = acknowledge(seq, e);
              auto& st = self->state;
              if (ack.final && st.in_flight && st.in_flight->seq == seq) {
                std::string ids;
                for (const auto& u : st.in_flight->updates) ids += (ids.empty() ? "" : ", ") + u.job_id();
                TLOG(warn, "job_supervisor") << "leader " << leader << " refused status batch " << seq << " ("
                                             << ack.message << "); dropped the updates of " << ids;
              }
              settle(self, ack);
            });
}

void probe_executor(self_ptr self) {
  auto& st = self->state;
  if (st.probing) return;
  st.probing = true;
  st.last_probe = clock::now();
  auto me = caf::actor_cast<job_supervisor_actor>(self);
  // healthy() talks to the Docker daemon; keep that wait off the actor, in a
  // detached helper the actor system waits for at shutdown.
  self->spawn<caf::detached>([backend = st.backend, me](caf::blocking_actor*) {
    bool ok = false;
    try {
      ok = backend->healthy();
    } catch (...) {
    }
    caf::anon_send(me, heartbeat_atom::value, ok);
  });
}

// Deletes the stored output of jobs the table evicted, in a detached helper
// (file system work stays off the actor; the actor system waits for it).
void remove_outputs(self_ptr self, std::vector<std::string> ids) {
  if (ids.empty()) return;
  self->spawn<caf::detached>([dir = self->state.cfg.data_dir + "/outputs", ids = std::move(ids)](caf::blocking_actor*) {
    for (const auto& id : ids) {
      try {
        exec::remove_output(dir, id);
      } catch (const std::exception& e) {
        TLOG(warn, "job_supervisor") << "could not delete the output of evicted job " << id << ": " << e.what();
      }
    }
    TLOG(debug, "job_supervisor") << "deleted the output of " << ids.size() << " evicted job(s)";
  });
}

// A job left the table: its output goes, now or when its executor here ends.
void forget(self_ptr self, const std::string& id, std::vector<std::string>& to_remove) {
  auto& st = self->state;
  st.deferred.erase(id);
  stop_waiting(st, id);
  if (!jobs::is_valid_uuid(id)) return;  // never names a path
  if (st.running.count(id))
    st.evicted_running.insert(id);
  else
    to_remove.push_back(id);
}

// Once after a (re)start, with the table applied up to the cluster's commit
// index: output directories of jobs the table no longer holds belong to jobs
// evicted while this node was down. The table is asked which of the listed
// ids it holds; it answers from its state then, at least as new as when this
// node caught up (a job created later has a fresh id and a directory not in
// the list, so nothing chosen here can come back); deleted in a helper.
void sweep_outputs(self_ptr self) {
  auto& st = self->state;
  if (st.swept || !st.caught_up || !st.have_table) return;
  st.swept = true;
  // Every job live here has been acted on by now, and each one started
  // here, before or after the restart, is in `launched` with its attempt:
  // any other start record, left by an earlier process, is of a job the
  // table has moved past.
  st.journal->retain([&](const std::string& id, std::uint32_t attempt) {
    auto it = st.launched.find(id);
    return it != st.launched.end() && it->second == attempt;
  });
  id_list listed;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(st.cfg.data_dir + "/outputs", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string id = it->path().filename().string();
    if (jobs::is_valid_uuid(id)) listed.ids.push_back(std::move(id));
  }
  if (ec) TLOG(warn, "job_supervisor") << "could not list " << st.cfg.data_dir << "/outputs: " << ec.message();
  if (listed.ids.empty()) return;
  self->request(st.table, caf::infinite, held_atom::value, listed)
      .then(
          [=](id_list& held) {
            auto& st = self->state;
            std::set<std::string> keep(std::make_move_iterator(held.ids.begin()),
                                       std::make_move_iterator(held.ids.end()));
            std::vector<std::string> stale;
            for (const auto& id : listed.ids)
              if (!keep.count(id) && !st.running.count(id)) stale.push_back(id);
            if (!stale.empty())
              TLOG(info, "job_supervisor") << "deleting the output of " << stale.size()
                                           << " job(s) evicted while this node was down";
            remove_outputs(self, std::move(stale));
          },
          [=](const caf::error& e) {
            TLOG(warn, "job_supervisor") << "could not ask the job table which outputs to keep: "
                                         << self->system().render(e);
          });
}

// The running jobs in id order (running is hashed), for the walks whose
// order shows: shutdown's log lines and the topology answer.
std::vector<const std::pair<const std::string, job_supervisor_state::running_job>*> by_id(
    const job_supervisor_state& st) {
  std::vector<const std::pair<const std::string, job_supervisor_state::running_job>*> out;
  out.reserve(st.running.size());
  for (const auto& p : st.running) out.push_back(&p);
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  return out;
}

// Shutdown: answer every waiter once no executor is left.
void check_stopped(self_ptr self) {
  auto& st = self->state;
  if (!st.stopping || !st.running.empty()) return;
  for (auto& w : st.stop_waiters) w.deliver(st.stopped);
  st.stop_waiters.clear();
}

}  // namespace

job_supervisor_actor::behavior_type job_supervisor(job_supervisor_actor::stateful_pointer<job_supervisor_state> self,
                                                   config::node_config cfg, std::shared_ptr<exec::backend> backend,
                                                   std::shared_ptr<exec::start_journal> journal,
                                                   peer_transport_actor transport, raft_node_actor raft,
                                                   job_table_actor table) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.backend = std::move(backend);
  st.journal = std::move(journal);
  st.transport = std::move(transport);
  st.raft = raft;
  st.table = table;
  st.prefetch.emplace(st.cfg.worker.prefetch, config::prefetch_window(st.cfg), config::max_worker_slots, clock::now());
  // Containers of ours that no running job owns were left by a crash.
  try {
    for (const auto& id : st.backend->orphaned_jobs(st.cfg.id)) {
      TLOG(warn, "job_supervisor") << "removing container of job " << id << " left by an earlier run";
      st.backend->remove_job_artifacts(id);
    }
  } catch (const std::exception& e) {
    TLOG(warn, "job_supervisor") << "could not list leftover containers: " << e.what();
  }
  self->set_down_handler([=](caf::down_msg& dm) {
    for (auto it = self->state.running.begin(); it != self->state.running.end(); ++it) {
      if (it->second.executor.address() == dm.source) {
        TLOG(info, "job_supervisor") << "job_executor for job " << it->first << " exited ("
                                     << self->system().render(dm.reason) << ")";
        self->state.running.erase(it);
        break;
      }
    }
    start_waiting(self);
    check_stopped(self);
  });
  self->send(raft, subscribe_atom::value, caf::actor_cast<role_listener>(self));
  // Only the non-terminal jobs assigned here: with no executor running yet,
  // reconcile() acts on no other job.
  listener_scope scope;
  scope.active = true;
  scope.active_on = st.cfg.id;
  self->request(table, caf::infinite, subscribe_atom::value, caf::actor_cast<change_listener>(self), scope)
      .then([=](listener_view& v) {
        self->state.have_table = true;
        for (const auto& j : v.active) reconcile(self, j);
        sweep_outputs(self);
      });
  probe_executor(self);
  return {
      [=](const role_change& rc) {
        auto& st = self->state;
        bool leader_changed = rc.leader_id != st.role.leader_id;
        st.role = rc;
        if (rc.caught_up && !st.caught_up) {
          st.caught_up = true;
          TLOG(info, "job_supervisor") << "caught up with the log; acting on " << st.deferred.size()
                                       << " job(s) seen meanwhile";
          auto jobs = std::move(st.deferred);
          st.deferred.clear();
          // In id order, as when deferred was an ordered map.
          std::vector<const jobs::job*> order;
          order.reserve(jobs.size());
          for (const auto& p : jobs) order.push_back(&p.second);
          std::sort(order.begin(), order.end(), [](const jobs::job* a, const jobs::job* b) { return a->id < b->id; });
          for (const auto* j : order) reconcile(self, *j);
          sweep_outputs(self);
        }
        if (leader_changed) {
          // Whatever was in flight to the old leader may be lost: send it again,
          // as a new batch. Updates are idempotent (stale or duplicate ones are
          // ignored on apply).
          requeue(self);
          flush(self);
        }
      },
      [=](const job_changes& jc) {
        // Act on each job's final state in this batch only, in id order.
        // Pointers into the message, sorted (stable: of one job's changes
        // the last comes last), not a map keyed by copies of the ids: every
        // node's supervisor sees every change of the cluster.
        std::vector<const jobs::job*> last;
        last.reserve(jc.changes.size());
        std::vector<std::string> evicted;
        for (const auto& c : jc.changes) {
          if (c.kind != jobs::change_kind::evicted) {
            last.push_back(&c.after);
          } else {
            // An earlier change of this batch (say, a cancel) still reaches
            // the job's executor through `last`.
            forget(self, c.after.id, evicted);
          }
        }
        std::stable_sort(last.begin(), last.end(), [](const jobs::job* a, const jobs::job* b) { return a->id < b->id; });
        for (std::size_t i = 0; i < last.size(); ++i)
          if (i + 1 == last.size() || last[i + 1]->id != last[i]->id) reconcile(self, *last[i]);
        remove_outputs(self, std::move(evicted));
      },
      [=](done_atom, executor_result& r) {
        auto& st = self->state;
        TLOG(info, "job_supervisor") << "job " << r.job_id << " finished: "
                                     << scheduler::JobStatus_Name(r.update.status())
                                     << (r.update.has_exit_code() ? " exit " + std::to_string(r.update.exit_code()) : "")
                                     << (r.update.error().empty() ? "" : " (" + r.update.error() + ")");
        if (auto run = st.running.find(r.job_id); run != st.running.end()) {
          if (run->second.moved_on) st.journal->settle(r.job_id, std::nullopt);
          metrics::global()
              .get_histogram("troupe_job_run_seconds", "Run time of jobs executed on this node, start to done",
                             metrics::duration_buckets())
              .observe(std::chrono::duration<double>(clock::now() - run->second.started).count());
          // Its RUNNING was still held: the final update says when it started.
          if (!run->second.running_reported && r.update.started_at_ns() == 0)
            r.update.set_started_at_ns(run->second.started_ns);
        }
        st.running.erase(r.job_id);
        st.prefetch->completed();
        start_waiting(self);
        if (st.evicted_running.erase(r.job_id)) remove_outputs(self, {r.job_id});
        if (st.stopping && r.update.status() == scheduler::JOB_STATUS_CANCELLED) {
          // Stopped by the node's shutdown, not by a CancelJob: still RUNNING in
          // the log, reported failed ("interrupted") after the restart.
          TLOG(info, "job_supervisor") << "job " << r.job_id << " stopped by the shutdown; not reported";
        } else {
          queue(self, std::move(r.update));
        }
        check_stopped(self);
      },
      [=](tick_atom) {
        self->state.ticking = false;
        flush(self);  // and arms the next tick while something waits
      },
      [=](running_atom) {
        self->state.held_timer = false;
        report_held(self);
      },
      [=](heartbeat_atom, bool ok) {
        auto& st = self->state;
        st.probing = false;
        if (ok != st.executor_ok) {
          if (ok)
            TLOG(info, "job_supervisor") << "executor backend " << st.backend->name() << " is healthy again";
          else
            TLOG(warn, "job_supervisor") << "executor backend " << st.backend->name()
                                         << " is unreachable; this node takes no jobs until it recovers";
        }
        st.executor_ok = ok;
      },
      [=](workers_atom) -> worker_report {
        auto& st = self->state;
        // The heartbeat asks for this report every heartbeat interval: the
        // executor's health is probed then (at most every probe_interval), so
        // an idle node needs no timer of its own for it. The report carries
        // the last probe's answer.
        if (!st.stopping && clock::now() - st.last_probe >= config::executor_probe_interval) probe_executor(self);
        worker_report r;
        r.node_id = st.cfg.id;
        r.address = st.cfg.advertise_addr.empty() ? st.cfg.self().address : st.cfg.advertise_addr;
        r.http_address = st.cfg.self().http_address;
        r.executor_ok = st.executor_ok;
        r.executor_backend = st.backend->name();
        r.capacity = st.cfg.worker.capacity;
        r.prefetch = st.prefetch->prefetch(clock::now());
        r.feature_level = feature_level;
        // Running or waiting here, or finished with its status not yet
        // acknowledged: the leader takes a job missing from this list for lost
        // (job_dispatcher). Sorted and unique, as before (running is hashed now).
        auto& held = r.running_jobs;
        held.reserve(st.running.size() + st.waiting.size() + st.outbox.size() +
                     (st.in_flight ? st.in_flight->updates.size() : 0));
        for (const auto& p : st.running) held.push_back(p.first);
        for (const auto& w : st.waiting) held.push_back(w.id);
        for (const auto& u : st.outbox) held.push_back(u.job_id());
        if (st.in_flight)
          for (const auto& u : st.in_flight->updates) held.push_back(u.job_id());
        std::sort(held.begin(), held.end());
        held.erase(std::unique(held.begin(), held.end()), held.end());
        return r;
      },
      [=](output_atom, const std::string& job_id) -> caf::result<job_output> {
        if (!jobs::is_valid_uuid(job_id))
          return make_error(errc::invalid_argument,
                            "malformed job id \"" + job_id.substr(0, 64) + "\": expected a UUID");
        auto reader = self->spawn<caf::detached>(output_reader, self->state.cfg.data_dir + "/outputs");
        return self->delegate(reader, output_atom::value, job_id);
      },
      [=](shutdown_atom) -> caf::result<std::size_t> {
        auto& st = self->state;
        st.stopping = true;
        for (const auto* p : by_id(st)) {
          TLOG(info, "job_supervisor") << "stopping job " << p->first << " for the node's shutdown";
          self->send(p->second.executor, cancel_atom::value);
        }
        st.stopped += st.running.size();
        if (st.running.empty()) return st.stopped;
        auto rp = self->make_response_promise<std::size_t>();
        st.stop_waiters.push_back(rp);
        return rp;
      },
      [=](topology_atom) -> topology {
        topology t;
        for (const auto* p : by_id(self->state))
          t.actors.push_back({"job_executor", p->second.executor.id(), "job_supervisor#" + std::to_string(self->id()),
                              "monitored by job_supervisor#" + std::to_string(self->id()), "job " + p->first});
        return t;
      },
  };
}

}  // namespace troupe
