#include "actors/heartbeat_tracker.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/raft_membership.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "runtime/common/log.hpp"

namespace troupe {
namespace {

using self_ptr = heartbeat_tracker_actor::stateful_pointer<heartbeat_tracker_state>;
using clock = heartbeat_tracker_state::clock;

bool is_leader(self_ptr self) { return self->state.role.role == raft::role::leader; }

// The workers: the voters of the replicated configuration. A learner is
// not one yet: it is still catching up (its supervisor would start nothing
// before that anyway) and becomes a worker when the leader promotes it,
// which happens once its log is close to the leader's. A removed node is
// none, and the dispatcher re-queues what it held. Before raft_node's first
// announcement (a joining node) the config file's members stand in.
std::vector<raft::member> workers_of(const heartbeat_tracker_state& st) {
  std::vector<raft::member> out;
  if (st.role.conf.empty()) {
    for (const auto& m : st.cfg.members) out.push_back(raft::member{m.id, true, m.address, m.http_address, m.wire_address});
    return out;
  }
  for (const auto& m : st.role.conf.members())
    if (m.voter) out.push_back(m);
  return out;
}

bool is_worker(const heartbeat_tracker_state& st, std::uint64_t id) {
  for (const auto& m : workers_of(st))
    if (m.id == id) return true;
  return false;
}

worker_list snapshot(self_ptr self) {
  auto& st = self->state;
  worker_list out;
  auto now = clock::now();
  auto dead_after = config::dead_after(st.cfg);
  for (const auto& m : workers_of(st)) {
    worker_state w;
    w.report.node_id = m.id;
    w.report.address = m.address;
    w.report.http_address = m.http_address;
    auto it = st.workers.find(m.id);
    if (it != st.workers.end()) {
      w.report = it->second.report;
      auto age = now - it->second.last_seen;
      w.last_seen_ms_ago = std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
      w.alive = age < dead_after;
    }
    out.workers.push_back(std::move(w));
  }
  return out;
}

std::string fingerprint(const worker_list& l) {
  std::string f;
  for (const auto& w : l.workers) {
    f += std::to_string(w.report.node_id);
    f += w.alive ? 'A' : 'd';
    f += w.report.executor_ok ? 'E' : 'x';
    f += ':' + std::to_string(w.report.capacity) + '+' + std::to_string(w.report.prefetch);
    // The leader compares what workers run with its table (job_dispatcher).
    for (const auto& j : w.report.running_jobs) f += '/' + j;
    f += ',';
  }
  return f;
}

void publish_if_changed(self_ptr self) {
  auto list = snapshot(self);
  auto f = fingerprint(list);
  if (f == self->state.last_published) return;
  self->state.last_published = f;
  for (auto& l : self->state.listeners) self->send(l, list);
}

// Leader: take note of one worker's heartbeat.
void record(self_ptr self, const worker_report& r) {
  auto& st = self->state;
  // A learner's heartbeats count from its promotion on; a removed node's
  // never (the transport refuses them before they get here, too).
  if (!is_worker(st, r.node_id)) return;
  auto& entry = st.workers[r.node_id];
  bool first = entry.last_seen == clock::time_point{};
  bool was_dead = !first && clock::now() - entry.last_seen >= config::dead_after(st.cfg);
  if (!first && entry.report.prefetch != r.prefetch)
    TLOG(debug, "heartbeat_tracker") << "worker " << r.node_id << " offers a prefetch of " << r.prefetch << " (was "
                                     << entry.report.prefetch << ")";
  entry.report = r;
  entry.last_seen = clock::now();
  if (first || was_dead)
    TLOG(info, "heartbeat_tracker") << "worker " << r.node_id << (first ? " registered" : " is alive again")
                                    << " (executor " << r.executor_backend << (r.executor_ok ? "" : ", unhealthy")
                                    << ")";
  if (st.registered.insert(r.node_id).second) {
    logpb::Command cmd;
    cmd.mutable_register_worker()->set_worker_id(r.node_id);
    cmd.mutable_register_worker()->set_address(r.address);
    self->request(st.raft, config::commit_wait(st.cfg), propose_atom::value, std::move(cmd))
        .then([](const proposal_result&) {}, [](const caf::error&) {});
  }
  publish_if_changed(self);
}

void send_beat(self_ptr self, worker_report report) {
  auto& st = self->state;
  if (is_leader(self)) {
    record(self, report);
    return;
  }
  // With no leader known the beat goes to another member, whose answer
  // names its leader: a node whose configuration is too old to list that
  // leader learns it so (peer_transport), and a worker report sent to a
  // follower is only dropped.
  auto leader = st.role.leader_id;
  self->request(st.transport, config::heartbeat_wait(st.cfg), heartbeat_atom::value, leader, std::move(report))
      .then([](const heartbeat_reply&) {},
            [leader](const caf::error& e) {
              TLOG(debug, "heartbeat_tracker") << "heartbeat to leader " << leader
                                               << " failed: " << describe(e).message;
            });
}

void beat(self_ptr self) {
  self->state.last_beat = clock::now();
  // A report is worth sending only until the next beat.
  self->request(self->state.supervisor, config::heartbeat_interval(self->state.cfg), workers_atom::value)
      .then([=](worker_report& r) { send_beat(self, std::move(r)); }, [](const caf::error&) {});
}

// Ticks only when something is due: this node's next heartbeat and, on the
// leader, the moment the first live worker would turn dead unless heard from
// (then listeners hear it at once). A tick already coming at or before that
// stays; an early or extra one only re-checks.
void schedule_tick(self_ptr self) {
  auto& st = self->state;
  auto now = clock::now();
  auto at = st.last_beat + config::heartbeat_interval(st.cfg);
  if (is_leader(self))
    for (const auto& [id, w] : st.workers) {
      auto dies = w.last_seen + config::dead_after(st.cfg);
      if (dies > now && dies < at) at = dies;
    }
  if (st.next_tick > now && st.next_tick <= at) return;
  st.next_tick = at;
  // Rounded up: the tick never fires before next_tick.
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(std::max(at - now, clock::duration::zero()));
  self->delayed_send(self, delay, tick_atom::value);
}

}  // namespace

heartbeat_tracker_actor::behavior_type heartbeat_tracker(
    heartbeat_tracker_actor::stateful_pointer<heartbeat_tracker_state> self, config::node_config cfg,
    peer_transport_actor transport, raft_node_actor raft, job_supervisor_actor supervisor) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.transport = std::move(transport);
  st.raft = raft;
  st.supervisor = supervisor;
  self->send(raft, subscribe_atom::value, caf::actor_cast<role_listener>(self));
  schedule_tick(self);
  return {
      [=](tick_atom) {
        auto& st = self->state;
        if (clock::now() - st.last_beat >= config::heartbeat_interval(st.cfg)) beat(self);
        if (is_leader(self)) publish_if_changed(self);  // notices workers going silent
        schedule_tick(self);
      },
      [=](const role_change& rc) {
        auto& st = self->state;
        bool leader_changed = rc.leader_id != st.role.leader_id;
        bool became_leader = rc.role == raft::role::leader && st.role.role != raft::role::leader;
        const bool conf_changed = rc.conf != st.role.conf;
        st.role = rc;
        if (conf_changed)
          for (auto it = st.workers.begin(); it != st.workers.end();)  // forget removed workers
            it = is_worker(st, it->first) ? std::next(it) : st.workers.erase(it);
        if (conf_changed && is_leader(self)) publish_if_changed(self);
        if (became_leader) {
          // A new leader starts with a fresh view; workers prove liveness anew.
          st.workers.clear();
          st.registered.clear();
          st.last_published.clear();
        }
        if (leader_changed && rc.leader_id != raft::no_node) beat(self);
        schedule_tick(self);
      },
      [=](heartbeat_atom, const worker_report& r) -> heartbeat_reply {
        heartbeat_reply rep;
        rep.leader_id = self->state.role.leader_id;
        rep.term = self->state.role.term;
        if (rep.leader_id != raft::no_node)
          rep.leader_address = member_address(self->state.role.conf, self->state.cfg, rep.leader_id);
        if (!is_leader(self)) return rep;
        rep.accepted = true;
        record(self, r);
        return rep;
      },
      [=](workers_atom) -> worker_list { return snapshot(self); },
      [=](subscribe_atom, worker_listener l) {
        self->state.listeners.push_back(l);
        self->send(l, snapshot(self));
      },
  };
}

}  // namespace troupe
