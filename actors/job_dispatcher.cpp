#include "actors/job_dispatcher.hpp"

#include <caf/actor_cast.hpp>
#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "config/limits.hpp"
#include "config/timeouts.hpp"
#include "protocol/feature_level.hpp"
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

// Removes a job from the pending and placed views (a job is in at most one).
void untrack(job_dispatcher_state& st, const std::string& id) {
  if (st.pending.erase(id)) {
    st.assigning_ids.erase(id);
    return;
  }
  if (auto p = st.placed.find(id); p != st.placed.end()) {
    if (auto h = st.held.find(p->second.worker); h != st.held.end() && --h->second == 0) st.held.erase(h);
    st.placed.erase(p);
  }
}

void track(self_ptr self, const jobs::job& j) {
  auto& st = self->state;
  untrack(st, j.id);
  if (jobs::is_terminal(j.status)) {
    auto at = j.completed_at_ns.value_or(0);  // as the table orders them for eviction
    if (!st.oldest_finished || at < *st.oldest_finished) st.oldest_finished = at;
  } else if (j.status == jobs::job_status::pending) {
    st.pending.push(j.id, j.created_at_ns);
  } else {
    // Only what placement and the liveness checks read, not a copy of the job.
    st.placed.insert_or_assign(j.id, placed_job{j.assigned_worker, j.attempts, j.status});
    ++st.held[j.assigned_worker];
  }
}

void arm(self_ptr self);

// The table's oldest completion time, asked anew (after an eviction the next
// oldest is known only to the table). The table answers after every change
// it sent before, so the answer is at least as new as what was seen so far.
void ask_oldest(self_ptr self, const job_table_actor& table) {
  auto& st = self->state;
  if (st.asking_oldest) {
    st.ask_again = true;
    return;
  }
  st.asking_oldest = true;
  self->request(table, caf::infinite, oldest_atom::value)
      .then(
          [=](const oldest_finished& o) {
            auto& st = self->state;
            st.asking_oldest = false;
            st.oldest_finished = o.completed_at_ns;
            if (std::exchange(st.ask_again, false)) ask_oldest(self, table);
            arm(self);
          },
          [=](const caf::error&) {
            // Only when the table is gone (the node stops then): keep a lower bound.
            self->state.asking_oldest = false;
            arm(self);
          });
}

// A job the table no longer has (evicted, or absent from a restored
// snapshot): nothing may be proposed for it any more.
void forget(self_ptr self, const jobs::job& j) { untrack(self->state, j.id); }

bool grace_over(self_ptr self) {
  // A new leader has heard from nobody yet; give every worker one full
  // dead_after window to report before declaring it dead.
  return self->state.now() - self->state.leader_since >= config::dead_after(self->state.cfg);
}

// The lowest level any member reported (1 for one not heard from yet): what
// every node can apply (protocol/feature_level.hpp).
std::uint32_t cluster_feature_level(const job_dispatcher_state& st);
void check_workers(self_ptr self);
void dispatch(self_ptr self);

// One job to put back to pending, and why.
struct lost_job {
  std::string id;
  std::uint32_t attempts;
  std::string why;  // "worker 2 stopped responding", ...
};

// A job the table has on a live worker that the worker does not report: its
// assignment or its result got lost; re-queue it (or fail it, at
// max_attempts) so that no single lost message leaves it non-terminal.
void find_unreported_jobs(self_ptr self, std::vector<lost_job>& lost) {
  auto& st = self->state;
  unreported_graces g{config::unreported_running_grace(st.cfg), config::unreported_assigned_grace(st.cfg)};
  for (const auto& id : find_unreported(st.placed, st.workers, st.unreported, st.now(), g)) {
    const auto& j = st.placed.at(id);
    auto grace = j.status == jobs::job_status::assigned ? g.assigned : g.running;
    lost.push_back({id, j.attempts,
                    "worker " + std::to_string(j.worker) + " did not report the job for " +
                        std::to_string(grace.count()) + " ms (its assignment or result was lost)"});
  }
}

// The first `limit` by id of the jobs dead or removed workers hold, taken
// from st.lost_ids (walked and sorted anew only when it is empty or the
// workers changed). Returns how many it took.
std::size_t find_jobs_of_dead_workers(self_ptr self, std::vector<lost_job>& lost, std::size_t limit) {
  auto& st = self->state;
  std::set<std::uint64_t> dead, listed;
  for (const auto& w : st.workers.workers) {
    listed.insert(w.report.node_id);
    if (!w.alive) dead.insert(w.report.node_id);
  }
  // A worker missing from the list was removed from the configuration
  // (troupe member remove): it is gone for good, like a dead one. An empty
  // list is no news (nothing heard yet), not the removal of everyone.
  auto removed = [&](std::uint64_t w) { return !listed.empty() && !listed.count(w); };
  auto gone = [&](std::uint64_t w) { return dead.count(w) || removed(w); };
  if (st.lost_ids.empty() || st.lost_dead != dead || st.lost_listed != listed) {
    std::vector<std::string> found;
    for (const auto& p : st.placed)
      if (gone(p.second.worker)) found.push_back(p.first);
    std::sort(found.begin(), found.end());  // placed is hashed: the same order as an ordered map gave
    st.lost_ids.assign(std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
    st.lost_dead = dead;
    st.lost_listed = listed;
  }
  std::size_t taken = 0;
  while (taken < limit && !st.lost_ids.empty()) {
    std::string id = std::move(st.lost_ids.front());
    st.lost_ids.pop_front();
    auto p = st.placed.find(id);
    if (p == st.placed.end() || !gone(p->second.worker)) continue;  // finished or re-queued since
    const auto w = p->second.worker;
    lost.push_back({std::move(id), p->second.attempts,
                    "worker " + std::to_string(w) + (removed(w) ? " was removed from the cluster" : " stopped responding")});
    ++taken;
  }
  return taken;
}

// One log line per reason: a dead worker can hold thousands of jobs, and a
// line for each (the table's failover storm at a million jobs was ~46,000)
// buried everything else. The ids are in the debug log.
void log_requeues(const std::vector<lost_job>& lost) {
  std::map<std::string, std::vector<const lost_job*>> by_why;
  for (const auto& l : lost) by_why[l.why].push_back(&l);
  for (const auto& [why, jobs] : by_why) {
    std::string ids;
    for (std::size_t i = 0; i < jobs.size() && i < 5; ++i) ids += (i ? ", " : "") + jobs[i]->id;
    if (jobs.size() > 5) ids += ", and " + std::to_string(jobs.size() - 5) + " more";
    TLOG(warn, "job_dispatcher") << "re-queueing " << jobs.size() << (jobs.size() == 1 ? " job" : " jobs") << ": "
                                 << why << " (" << ids << ")";
  }
  for (const auto& l : lost)
    TLOG(debug, "job_dispatcher") << "re-queueing job " << l.id << " (attempt " << l.attempts << "): " << l.why;
}

// Re-queues what dead or silent workers hold, in requeue_jobs entries of at
// most config::requeue_batch_jobs and config::assign_batch_bytes (a dead
// worker's jobs cost an entry or a few, not one each), one entry in flight
// at a time; its answer looks again, which proposes the rest. While a member
// runs a build before feature level 4, which would apply requeue_jobs as a
// no-op, one requeue_job per entry, all proposed at once, as before.
// `unreported`: also look for jobs live workers leave out (a walk of every
// placed job; time-based, so the tick and worker-list updates do it, not
// each entry's answer).
void requeue_lost(self_ptr self, bool unreported) {
  auto& st = self->state;
  // Nothing is looked for while entries are in flight, so nothing found is
  // already proposed.
  if (st.requeue_entries_in_flight > 0 || !grace_over(self)) return;
  const bool batched = cluster_feature_level(st) >= feature_level_requeue_jobs;
  std::vector<lost_job> lost;
  const auto of_dead = find_jobs_of_dead_workers(self, lost, batched ? config::requeue_batch_jobs : SIZE_MAX);
  if (unreported) find_unreported_jobs(self, lost);
  if (lost.empty()) return;
  std::vector<logpb::Command> entries;
  std::uint64_t bytes = 0;
  std::size_t proposed = 0;
  const auto at_ns = wall_clock_ns();
  for (const auto& l : lost) {
    logpb::RequeueJobCommand r;
    r.set_job_id(l.id);
    r.set_reason(l.why);
    r.set_max_attempts(st.cfg.worker.max_attempts);
    r.set_at_ns(at_ns);
    const auto size = r.ByteSizeLong() + 4;
    if (!batched) {
      entries.emplace_back();
      *entries.back().mutable_requeue_job() = std::move(r);
    } else {
      if (entries.empty() || bytes + size > config::assign_batch_bytes(st.cfg) ||
          static_cast<std::size_t>(entries.back().requeue_jobs().requeues_size()) == config::requeue_batch_jobs) {
        if (!entries.empty()) break;  // the rest after this entry's answer
        entries.emplace_back();
        bytes = 0;
      }
      *entries.back().mutable_requeue_jobs()->add_requeues() = std::move(r);
      bytes += size;
    }
    ++proposed;
  }
  // Dead workers' jobs this entry had no room for go back, in order.
  for (auto i = of_dead; i > proposed; --i) st.lost_ids.push_front(std::move(lost[i - 1].id));
  lost.resize(proposed);
  log_requeues(lost);
  for (auto& entry : entries) {
    const auto n = batched ? entry.requeue_jobs().requeues_size() : 1;
    ++st.requeue_entries_in_flight;
    propose(self, std::move(entry), [=](const caf::error& e) {
      auto& st = self->state;
      --st.requeue_entries_in_flight;
      if (e) {
        // Refused or not committed: looked at again on the next tick, from
        // a fresh walk (its jobs left lost_ids).
        st.lost_ids.clear();
        TLOG(debug, "job_dispatcher") << "re-queueing " << n << " jobs: " << self->system().render(e);
      } else if (batched && st.leader) {
        requeue_lost(self, false);  // jobs left for the next entry
      }
    });
  }
}

// Re-queues what dead or silent workers hold. Time-based, so it runs on the
// tick and when the worker list changes, not on every job change.
void check_workers(self_ptr self) {
  if (!self->state.leader) return;
  requeue_lost(self, true);
}

std::uint32_t cluster_feature_level(const job_dispatcher_state& st) {
  std::uint32_t level = feature_level;
  for (const auto& w : st.workers.workers) level = std::min(level, w.report.feature_level);
  return level;
}

// The workers that may take jobs, with the jobs each holds (placed, and
// reserved by proposals in flight) and how many it takes.
struct worker_slots {
  std::map<std::uint64_t, std::uint32_t> load, capacity;

  // Least loaded first; among equals, the first after the worker chosen
  // last, so an idle cluster spreads jobs instead of piling them on node 1.
  // 0 when every worker is full. The choice counts as load.
  std::uint64_t take(std::uint64_t& last_assigned) {
    std::uint64_t best = 0;
    auto better = [&](std::uint64_t w) {
      if (best == 0 || load[w] != load[best]) return best == 0 || load[w] < load[best];
      return (w > last_assigned) && !(best > last_assigned && best < w);
    };
    for (const auto& [w, n] : load)
      if (n < capacity[w] && better(w)) best = w;
    if (best == 0) return 0;
    ++load[best];
    last_assigned = best;
    return best;
  }
};

worker_slots slots(const job_dispatcher_state& st) {
  worker_slots s;
  for (const auto& w : st.workers.workers)
    if (w.alive && !st.draining.count(w.report.node_id) && w.report.executor_ok) {
      const auto id = w.report.node_id;
      auto h = st.held.find(id);
      auto r = st.reserved.find(id);
      s.load[id] = (h == st.held.end() ? 0 : h->second) + (r == st.reserved.end() ? 0 : r->second);
      // What it runs at once, plus what it takes to start when a slot frees
      // (none from a build before prefetch).
      s.capacity[id] = (w.report.capacity ? w.report.capacity : st.cfg.worker.capacity) + w.report.prefetch;
    }
  return s;
}

void unreserve(job_dispatcher_state& st, std::uint64_t worker) {
  if (auto it = st.reserved.find(worker); it != st.reserved.end() && --it->second == 0) st.reserved.erase(it);
}

// Pending jobs wait for a slot, beyond those the assign_jobs entry in flight
// placed.
bool jobs_wait(const job_dispatcher_state& st) { return st.pending.size() > st.assigning_ids.size(); }

void place(self_ptr self) {
  auto& st = self->state;
  if (!st.leader || st.assigning || st.pending.empty()) return;
  auto free = slots(st);
  if (free.load.empty()) return;
  logpb::Command cmd;
  auto* batch = cmd.mutable_assign_jobs();
  const auto now_ns = wall_clock_ns();
  std::uint64_t bytes = 0;
  // Oldest first; returns false to stop.
  st.pending.for_each([&](std::int64_t, const std::string& id) {
    const auto best = free.take(st.last_assigned);
    if (best == 0) return false;  // every worker is full
    auto* a = batch->add_assignments();
    a->set_job_id(id);
    a->set_worker_id(best);
    a->set_assigned_at_ns(now_ns);
    bytes += a->ByteSizeLong() + 2;
    return bytes < config::assign_batch_bytes(st.cfg);  // else the rest go in the next entry
  });
  if (batch->assignments().empty()) return;
  if (cluster_feature_level(st) < feature_level_assign_jobs) {
    // A member runs an older build (a rolling upgrade): it would apply
    // assign_jobs as a no-op. One assign_job per entry, as before it.
    logpb::Command one;
    *one.mutable_assign_job() = batch->assignments(0);
    cmd = std::move(one);
  }
  st.assigning = true;
  std::vector<std::uint64_t> workers;
  auto mark = [&](const logpb::AssignJobCommand& a) {
    st.assigning_ids.insert(a.job_id());
    ++st.reserved[a.worker_id()];
    workers.push_back(a.worker_id());
  };
  if (cmd.has_assign_job())
    mark(cmd.assign_job());
  else
    for (const auto& a : cmd.assign_jobs().assignments()) mark(a);
  const auto n = workers.size();
  propose(self, std::move(cmd), [=](const caf::error& e) {
    auto& st = self->state;
    st.assigning = false;
    st.assigning_ids.clear();
    for (auto w : workers) unreserve(st, w);
    if (e) {
      // The jobs stay pending; the next change or tick places them again
      // (not at once, so a failing proposal does not spin).
      TLOG(debug, "job_dispatcher") << "assigning " << n << " jobs: " << self->system().render(e);
      return;
    }
    dispatch(self);  // jobs submitted while this entry was in flight
  });
}

// Tells raft_node when jobs start or stop waiting for a slot (what is still
// pending after placement), on a change only: while they wait it holds job
// status reports longer (config::status_hold_busy), for fewer, fuller rounds.
void tell_backlog(self_ptr self) {
  auto& st = self->state;
  const bool wait = st.leader && jobs_wait(st);
  if (wait == st.told_backlog) return;
  st.told_backlog = wait;
  self->send(st.raft, backlog_atom::value, wait);
}

void dispatch(self_ptr self) {
  place(self);
  tell_backlog(self);
}

// A SubmitJob on its way to raft_node. Placed in its own entry when this node
// leads, every member applies assign_to, no older job waits (it would be
// overtaken) and a worker has a free slot; otherwise passed on as it is, and
// placed later like any pending job. A follower's raft_node refuses it as
// not the leader, for node_service to forward. Jobs of the assign_jobs entry
// in flight do not wait: their entry goes to raft_node first. (Counting them
// as waiting sent every submit at a steady 1 in flight unplaced, each then
// followed by an assign_jobs entry: issue #12.)
caf::result<proposal_result> submit(self_ptr self, logpb::Command& cmd) {
  auto& st = self->state;
  std::uint64_t worker = 0;
  if (st.leader && !jobs_wait(st) && cluster_feature_level(st) >= feature_level_submit_assign)
    worker = slots(st).take(st.last_assigned);
  if (worker == 0) return self->delegate(st.raft, propose_atom::value, std::move(cmd));
  cmd.mutable_submit_job()->set_assign_to(worker);
  ++st.reserved[worker];
  auto rp = self->make_response_promise<proposal_result>();
  auto release = [=] { unreserve(self->state, worker); };
  self->request(st.raft, config::commit_wait(st.cfg), propose_atom::value, std::move(cmd))
      .then(
          [=](proposal_result& r) mutable {
            release();
            rp.deliver(std::move(r));
          },
          [=](caf::error& e) mutable {
            release();
            rp.deliver(std::move(e));
            dispatch(self);  // a slot it held may be free again
          });
  return rp;
}

std::int64_t retention_ns(const job_dispatcher_state& st) {
  return static_cast<std::int64_t>(st.cfg.jobs.retention_s) * 1000000000ll;
}

void evict_old(self_ptr self) {
  auto& st = self->state;
  if (!st.leader || st.evicting || !st.oldest_finished) return;
  auto cutoff = wall_clock_ns() - retention_ns(st);
  if (*st.oldest_finished > cutoff) return;
  logpb::Command cmd;
  cmd.mutable_evict_jobs()->set_completed_before_ns(cutoff);
  st.evicting = true;
  propose(self, std::move(cmd), [=](const caf::error& e) {
    self->state.evicting = false;
    // Applied: the table's oldest is newer now (asked even when the change
    // stream named no eviction, so a stale value cannot repeat empty
    // evictions). Refused: tried again a tick later.
    if (!e) ask_oldest(self, self->state.table);
    arm(self);
  });
}

// When the next tick is needed, if at all. Only the leader acts on ticks.
// While a job is pending or placed: every dispatcher_tick (dead and silent
// workers are judged by time; a failed assignment is retried). Retention:
// when the oldest finished job reaches it (never sooner than a tick from now,
// so an eviction that keeps failing does not spin).
std::optional<clock::time_point> next_tick(const job_dispatcher_state& st) {
  if (!st.leader) return std::nullopt;
  std::optional<clock::time_point> at;
  auto now = st.now();
  if (!st.pending.empty() || !st.placed.empty()) at = now + tick_every;
  // Not while an eviction or a question about the oldest is on its way: its
  // answer arms the timer anew.
  if (st.oldest_finished && !st.evicting && !st.asking_oldest) {
    auto due_in = std::chrono::nanoseconds(*st.oldest_finished + retention_ns(st) - wall_clock_ns());
    auto evict_at = now + std::max<clock::duration>(std::chrono::duration_cast<clock::duration>(due_in), tick_every);
    if (!at || evict_at < *at) at = evict_at;
  }
  return at;
}

// Schedules the next tick unless one at or before it is coming already
// (a tick that turns out early or superfluous only re-checks and re-arms).
void arm(self_ptr self) {
  auto& st = self->state;
  auto at = next_tick(st);
  auto now = st.now();
  if (!at || (st.armed && *st.armed > now && *st.armed <= *at)) return;
  st.armed = *at;
  // Rounded up: the tick never fires before `armed`.
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(std::max<clock::duration>(*at - now, clock::duration::zero()));
  self->delayed_send(self, delay, tick_atom::value);
}

}  // namespace

job_dispatcher_actor::behavior_type job_dispatcher(job_dispatcher_actor::stateful_pointer<job_dispatcher_state> self,
                                                   config::node_config cfg, raft_node_actor raft,
                                                   job_table_actor table, heartbeat_tracker_actor tracker,
                                                   std::function<std::chrono::steady_clock::time_point()> now) {
  self->state.cfg = std::move(cfg);
  self->state.raft = raft;
  self->state.table = table;
  self->state.now = std::move(now);
  self->send(raft, subscribe_atom::value, caf::actor_cast<role_listener>(self));
  self->send(tracker, subscribe_atom::value, caf::actor_cast<worker_listener>(self));
  // Only what it keeps: the non-terminal jobs -- not a copy of every job. Of
  // the finished ones, the oldest completion time (ask_oldest).
  listener_scope scope;
  scope.active = true;
  self->request(table, caf::infinite, subscribe_atom::value, caf::actor_cast<change_listener>(self), scope)
      .then([=](listener_view& v) {
        auto& st = self->state;
        st.draining = std::move(v.draining);
        for (const auto& j : v.active) track(self, j);
        dispatch(self);
        arm(self);
      });
  ask_oldest(self, table);
  return {
      [=](submit_atom, logpb::Command& cmd) { return submit(self, cmd); },
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
        st.lost_ids.clear();  // a new term: what was found may have changed hands
        check_workers(self);
        dispatch(self);
        arm(self);
      },
      [=](const job_changes& jc) {
        auto& st = self->state;
        bool evicted = false;
        for (const auto& c : jc.changes) {
          if (c.kind == jobs::change_kind::evicted) {
            forget(self, c.after);
            evicted = true;
            continue;
          }
          track(self, c.after);
        }
        if (evicted) ask_oldest(self, table);
        for (const auto& w : jc.workers) {
          if (w.draining)
            st.draining.insert(w.worker_id);
          else
            st.draining.erase(w.worker_id);
        }
        dispatch(self);
        arm(self);
      },
      [=](const worker_list& wl) {
        self->state.workers = wl;
        check_workers(self);
        dispatch(self);
        arm(self);
      },
      [=](tick_atom) {
        auto& st = self->state;
        if (st.armed && st.now() >= *st.armed) st.armed.reset();
        check_workers(self);
        dispatch(self);
        evict_old(self);
        arm(self);
      },
  };
}

}  // namespace troupe
