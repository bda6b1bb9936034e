#include "actors/job_dispatcher.hpp"

#include <caf/actor_cast.hpp>
#include <caf/stateful_actor.hpp>

#include "config/limits.hpp"
#include "config/timeouts.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/wall_clock.hpp"

namespace troupe {
namespace {

using self_ptr = job_dispatcher_actor::stateful_pointer<job_dispatcher_state>;
using clock = job_dispatcher_state::clock;

constexpr auto tick_every = config::dispatcher_tick;

// `then` gets no error when the entry committed and applied, else why not.
void propose(self_ptr self, logpb::Command cmd, std::function<void(const caf::error&)> then) {
  self->request(self->state.raft, config::commit_wait(self->state.cfg), propose_atom::value, std::move(cmd))
      .then([then](const proposal_result&) { then(caf::error{}); }, [then](const caf::error& e) { then(e); });
}

// Removes a job from the pending and placed views (not from `finished`).
void untrack(job_dispatcher_state& st, const std::string& id) {
  if (auto p = st.pending_since.find(id); p != st.pending_since.end()) {
    st.pending.erase({p->second, id});
    st.pending_since.erase(p);
  }
  if (auto p = st.placed.find(id); p != st.placed.end()) {
    if (auto h = st.held.find(p->second.assigned_worker); h != st.held.end() && --h->second == 0) st.held.erase(h);
    st.placed.erase(p);
  }
}

void track(self_ptr self, const jobs::job& j) {
  auto& st = self->state;
  untrack(st, j.id);
  if (jobs::is_terminal(j.status)) {
    st.finished.insert({j.completed_at_ns.value_or(j.created_at_ns), j.id});
  } else if (j.status == jobs::job_status::pending) {
    st.pending_since[j.id] = j.created_at_ns;
    st.pending.insert({j.created_at_ns, j.id});
  } else {
    st.placed[j.id] = j;
    ++st.held[j.assigned_worker];
  }
}

// A job the table no longer has (evicted, or absent from a restored
// snapshot): nothing may be proposed for it any more.
void forget(self_ptr self, const jobs::job& j) {
  auto& st = self->state;
  untrack(st, j.id);
  st.finished.erase({j.completed_at_ns.value_or(j.created_at_ns), j.id});
}

bool grace_over(self_ptr self) {
  // A new leader has heard from nobody yet; give every worker one full
  // dead_after window to report before declaring it dead.
  return self->state.now() - self->state.leader_since >= config::dead_after(self->state.cfg);
}

void propose_requeue(self_ptr self, const std::string& id, std::string reason) {
  auto& st = self->state;
  logpb::Command cmd;
  auto* r = cmd.mutable_requeue_job();
  r->set_job_id(id);
  r->set_reason(std::move(reason));
  r->set_max_attempts(st.cfg.worker.max_attempts);
  r->set_at_ns(wall_clock_ns());
  st.requeueing.insert(id);
  propose(self, std::move(cmd), [=](const caf::error&) { self->state.requeueing.erase(id); });
}

// A job the table has on a live worker that the worker does not report: its
// assignment or its result got lost; re-queue it (or fail it, at
// max_attempts) so that no single lost message leaves it non-terminal.
void requeue_unreported(self_ptr self) {
  auto& st = self->state;
  if (!grace_over(self)) return;
  unreported_graces g{config::unreported_running_grace(st.cfg), config::unreported_assigned_grace(st.cfg)};
  for (const auto& id : find_unreported(st.placed, st.workers, st.unreported, st.now(), g)) {
    if (st.requeueing.count(id)) continue;
    const auto& j = st.placed.at(id);
    auto grace = j.status == jobs::job_status::assigned ? g.assigned : g.running;
    TLOG(warn, "job_dispatcher") << "re-queueing job " << id << " (attempt " << j.attempts << ", "
                                 << jobs::to_string(j.status) << "): worker " << j.assigned_worker
                                 << " is alive but has not reported it for " << grace.count() << " ms";
    propose_requeue(self, id,
                    "worker " + std::to_string(j.assigned_worker) + " did not report the job for " +
                        std::to_string(grace.count()) + " ms (its assignment or result was lost)");
  }
}

void requeue_dead(self_ptr self) {
  auto& st = self->state;
  if (!grace_over(self)) return;
  std::set<std::uint64_t> dead, listed;
  for (const auto& w : st.workers.workers) {
    listed.insert(w.report.node_id);
    if (!w.alive) dead.insert(w.report.node_id);
  }
  // A worker missing from the list was removed from the configuration
  // (troupe member remove): it is gone for good, like a dead one. An empty
  // list is no news (nothing heard yet), not the removal of everyone.
  auto removed = [&](std::uint64_t w) { return !listed.empty() && !listed.count(w); };
  for (const auto& [id, j] : st.placed) {
    const bool gone = removed(j.assigned_worker);
    if ((!dead.count(j.assigned_worker) && !gone) || st.requeueing.count(id)) continue;
    TLOG(warn, "job_dispatcher") << "re-queueing job " << id << " (attempt " << j.attempts << "): worker "
                                 << j.assigned_worker << (gone ? " was removed from the cluster" : " is dead");
    propose_requeue(self, id, "worker " + std::to_string(j.assigned_worker) +
                                  (gone ? " was removed from the cluster" : " stopped responding"));
  }
}

// Re-queues what dead or silent workers hold. Time-based, so it runs on the
// tick and when the worker list changes, not on every job change.
void check_workers(self_ptr self) {
  if (!self->state.leader) return;
  requeue_dead(self);
  requeue_unreported(self);
}

void dispatch(self_ptr self) {
  auto& st = self->state;
  if (!st.leader || st.assigning || st.pending.empty()) return;
  // Load: the jobs each worker holds now.
  std::map<std::uint64_t, std::uint32_t> load, capacity;
  for (const auto& w : st.workers.workers)
    if (w.alive && !st.draining.count(w.report.node_id) && w.report.executor_ok) {
      auto h = st.held.find(w.report.node_id);
      load[w.report.node_id] = h == st.held.end() ? 0 : h->second;
      capacity[w.report.node_id] = w.report.capacity ? w.report.capacity : st.cfg.worker.capacity;
    }
  if (load.empty()) return;
  logpb::Command cmd;
  auto* batch = cmd.mutable_assign_jobs();
  const auto now_ns = wall_clock_ns();
  std::uint64_t bytes = 0;
  for (const auto& [created, id] : st.pending) {
    // Least loaded first; among equals, the first after the worker chosen
    // last, so an idle cluster spreads jobs instead of piling them on node 1.
    std::uint64_t best = 0;
    auto better = [&](std::uint64_t w) {
      if (best == 0 || load[w] != load[best]) return best == 0 || load[w] < load[best];
      return (w > st.last_assigned) && !(best > st.last_assigned && best < w);
    };
    for (const auto& [w, n] : load)
      if (n < capacity[w] && better(w)) best = w;
    if (best == 0) break;  // every worker is full
    ++load[best];
    st.last_assigned = best;
    auto* a = batch->add_assignments();
    a->set_job_id(id);
    a->set_worker_id(best);
    a->set_assigned_at_ns(now_ns);
    bytes += a->ByteSizeLong() + 2;
    if (bytes >= config::assign_batch_bytes(st.cfg)) break;  // the rest go in the next entry
  }
  if (batch->assignments().empty()) return;
  st.assigning = true;
  const auto n = batch->assignments_size();
  propose(self, std::move(cmd), [=](const caf::error& e) {
    self->state.assigning = false;
    if (e) {
      // The jobs stay pending; the next change or tick places them again
      // (not at once, so a failing proposal does not spin).
      TLOG(debug, "job_dispatcher") << "assigning " << n << " jobs: " << self->system().render(e);
      return;
    }
    dispatch(self);  // jobs submitted while this entry was in flight
  });
}

void evict_old(self_ptr self) {
  auto& st = self->state;
  if (!st.leader || st.evicting || st.finished.empty()) return;
  auto cutoff = wall_clock_ns() - static_cast<std::int64_t>(st.cfg.jobs.retention_s) * 1000000000ll;
  if (st.finished.begin()->first > cutoff) return;
  logpb::Command cmd;
  cmd.mutable_evict_jobs()->set_completed_before_ns(cutoff);
  st.evicting = true;
  propose(self, std::move(cmd), [=](const caf::error&) { self->state.evicting = false; });
}

}  // namespace

job_dispatcher_actor::behavior_type job_dispatcher(job_dispatcher_actor::stateful_pointer<job_dispatcher_state> self,
                                                   config::node_config cfg, raft_node_actor raft,
                                                   job_table_actor table, heartbeat_tracker_actor tracker,
                                                   std::function<std::chrono::steady_clock::time_point()> now) {
  self->state.cfg = std::move(cfg);
  self->state.raft = raft;
  self->state.now = std::move(now);
  self->send(raft, subscribe_atom::value, caf::actor_cast<role_listener>(self));
  self->send(tracker, subscribe_atom::value, caf::actor_cast<worker_listener>(self));
  // Only what it keeps: the non-terminal jobs, and the (completion time, id)
  // of finished ones for retention -- not a copy of every job.
  listener_scope scope;
  scope.active = true;
  scope.finished = true;
  self->request(table, caf::infinite, subscribe_atom::value, caf::actor_cast<change_listener>(self), scope)
      .then([=](listener_view& v) {
        auto& st = self->state;
        st.draining = std::move(v.draining);
        for (const auto& j : v.active) track(self, j);
        // Ascending, so each insert lands at the end in O(1).
        for (auto& f : v.finished) st.finished.insert(st.finished.end(), std::move(f));
        dispatch(self);
      });
  self->delayed_send(self, tick_every, tick_atom::value);
  return {
      [=](const role_change& rc) {
        auto& st = self->state;
        bool leader = rc.role == raft::role::leader;
        if (leader && !st.leader) {
          st.leader_since = st.now();
          st.unreported.clear();
          TLOG(info, "job_dispatcher") << "active: this node leads term " << rc.term;
        } else if (!leader && st.leader) {
          TLOG(info, "job_dispatcher") << "idle: no longer the leader";
        }
        st.leader = leader;
        check_workers(self);
        dispatch(self);
      },
      [=](const job_changes& jc) {
        auto& st = self->state;
        for (const auto& c : jc.changes) {
          if (c.kind == jobs::change_kind::evicted) {
            forget(self, c.after);
            continue;
          }
          track(self, c.after);
        }
        for (const auto& w : jc.workers) {
          if (w.draining)
            st.draining.insert(w.worker_id);
          else
            st.draining.erase(w.worker_id);
        }
        dispatch(self);
      },
      [=](const worker_list& wl) {
        self->state.workers = wl;
        check_workers(self);
        dispatch(self);
      },
      [=](tick_atom) {
        check_workers(self);
        dispatch(self);
        evict_old(self);
        self->delayed_send(self, tick_every, tick_atom::value);
      },
  };
}

}  // namespace troupe
