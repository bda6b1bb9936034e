// job_dispatcher in-process: placement (least loaded, round-robin among
// equals, up to capacity), drain read from the job table, and no proposals
// for jobs a restored snapshot no longer has. A real job_table; raft_node is
// a stand-in that applies every proposal to that table at once, as a leader
// whose entries always commit would.
#define CAF_SUITE job_dispatcher
#include "protocol/feature_level.hpp"
#include "tests/actors/fixture.hpp"

#include <algorithm>
#include <functional>
#include <utility>

#include "actors/job_dispatcher.hpp"
#include "config/limits.hpp"
#include "config/timeouts.hpp"
#include "runtime/jobs/job_table.hpp"

using namespace troupe;
using namespace troupe::test;
using std::chrono::milliseconds;

namespace {

struct applied_log {
  std::uint64_t next_index = 1;
  std::vector<logpb::Command> proposals;  // what the dispatcher proposed, in order
  // Set: requeue_jobs entries wait, proposed but not committed, until the
  // stand-in gets a tick_atom (the test's "commit them now").
  bool hold_requeues = false;
  bool hold_assigns = false;  // the same for assign_jobs entries
  std::vector<std::function<void()>> held;
  std::vector<bool> backlog;  // what the dispatcher said of its backlog, in order
};

// raft_node as a leader whose every proposal commits and applies at once
// (requeue_jobs entries on the test's word when it holds them).
raft_node_actor::behavior_type instant_leader(raft_node_actor::pointer self, job_table_actor table,
                                              std::shared_ptr<applied_log> log) {
  return {
      [=](tick_atom) {
        for (auto& commit : std::exchange(log->held, {})) commit();
      },
      [](step_atom, const raft::message&) {},
      [=](propose_atom, logpb::Command& cmd) -> caf::result<proposal_result> {
        log->proposals.push_back(cmd);
        auto rp = self->make_response_promise<proposal_result>();
        auto commit = [=, data = cmd.SerializeAsString()]() mutable {
          raft::entry e;
          e.term = 1;
          e.index = log->next_index++;
          e.data = std::move(data);
          self->request(table, caf::infinite, apply_atom::value, entry_batch{{e}})
              .then([=](apply_outcomes& out) mutable {
                const auto& o = out.results.at(0);
                if (o.refused != jobs::refusal::none)
                  rp.deliver(make_error(errc::failed_precondition, o.error));
                else
                  rp.deliver(proposal_result{o.index, {}, 0});
              });
        };
        if ((log->hold_requeues && cmd.has_requeue_jobs()) || (log->hold_assigns && cmd.has_assign_jobs()))
          log->held.push_back(std::move(commit));
        else
          commit();
        return rp;
      },
      [](status_atom) { return raft_status{}; },
      [](log_atom, std::uint64_t, std::uint32_t) { return log_page{}; },
      [](transfer_atom, std::uint64_t) { return std::uint64_t{0}; },
      [](read_atom) { return std::uint64_t{0}; },
      [](member_atom, const member_change&) -> caf::result<member_result> {
        return make_error(errc::failed_precondition, "no membership changes here");
      },
      [=](subscribe_atom, role_listener l) { self->send(l, role_change{raft::role::leader, 1, 1}); },
      [=](backlog_atom, bool jobs_wait) { log->backlog.push_back(jobs_wait); },
      [](shutdown_atom) { return std::size_t{0}; },
  };
}

worker_list live_workers(std::initializer_list<std::uint64_t> ids, std::uint32_t capacity) {
  worker_list wl;
  for (auto id : ids) {
    worker_state w;
    w.report.node_id = id;
    w.report.capacity = capacity;
    w.report.executor_ok = true;
    w.report.feature_level = feature_level;
    w.alive = true;
    wl.workers.push_back(w);
  }
  return wl;
}

logpb::Command submit(const std::string& id, std::int64_t created_ns) {
  logpb::Command c;
  auto* s = c.mutable_submit_job();
  s->set_job_id(id);
  s->set_command("sleep 100");
  s->set_created_at_ns(created_ns);
  return c;
}

// A status report from `worker` on a job (attempt 0: unchecked), at `at_ns`.
logpb::Command report(const std::string& id, std::uint64_t worker, scheduler::JobStatus status, std::int64_t at_ns,
                      std::uint32_t attempt = 0) {
  logpb::Command c;
  auto* u = c.mutable_batch_update_job_status()->add_updates();
  u->set_job_id(id);
  u->set_status(status);
  u->set_executed_by(worker);
  u->set_attempt(attempt);
  u->set_at_ns(at_ns);
  return c;
}

logpb::Command running(const std::string& id, std::uint64_t worker) {
  return report(id, worker, scheduler::JOB_STATUS_RUNNING, 2000, 1);
}

worker_list reporting(std::uint64_t worker, std::vector<std::string> jobs) {
  auto wl = live_workers({worker}, 4);
  wl.workers.front().report.running_jobs = std::move(jobs);
  return wl;
}

std::string job_id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

struct dispatcher_fixture : sim_fixture {
  std::shared_ptr<applied_log> log = std::make_shared<applied_log>();
  job_table_actor table = own(sys.spawn(job_table));
  raft_node_actor raft = own(sys.spawn(instant_leader, table, log));
  heartbeat_tracker_actor tracker = own(sys.spawn(quiet_tracker));
  job_dispatcher_actor dispatcher;
  std::unique_ptr<temp_dir> dir = std::make_unique<temp_dir>();

  dispatcher_fixture() { start_dispatcher(node_config_for(1, 3, dir->path)); }

  // A dispatcher on the test clock.
  void start_dispatcher(const config::node_config& cfg) {
    dispatcher = own(sys.spawn(job_dispatcher, cfg, raft, table, tracker,
                               std::function<std::chrono::steady_clock::time_point()>(
                                   [this] { return sched.clock().now(); })));
    settle();
  }

  // Commits `cmd` as the leader would (through the stand-in raft_node).
  void commit(const logpb::Command& cmd) {
    self->send(raft, propose_atom::value, cmd);
    settle();
  }

  // A SubmitJob as node_service sends it: through the dispatcher.
  std::shared_ptr<answer<proposal_result>> submit_through(const std::string& id, std::int64_t created_ns) {
    return ask<proposal_result>(dispatcher, submit_atom::value, submit(id, created_ns));
  }
  // The worker each submit entry placed its job on (0: left pending), in order.
  std::vector<std::uint64_t> placed_in_submits() const {
    std::vector<std::uint64_t> out;
    for (const auto& c : log->proposals)
      if (c.has_submit_job()) out.push_back(c.submit_job().assign_to());
    return out;
  }
  // The last element of `v`, by value: CAF_CHECK_EQUAL binds its operands
  // with auto&&, so `v().back()` there would refer into a destroyed vector.
  template <class T>
  static T last(const std::vector<T>& v) {
    CAF_REQUIRE(!v.empty());
    return v.back();
  }
  std::size_t assign_entries() const {
    std::size_t n = 0;
    for (const auto& c : log->proposals) n += c.has_assign_job() || c.has_assign_jobs() ? 1 : 0;
    return n;
  }

  // worker -> jobs assigned to it, and the order of assignments.
  std::vector<std::uint64_t> assignments() const {
    std::vector<std::uint64_t> out;
    for (const auto& a : assigned()) out.push_back(a.worker_id());
    return out;
  }
  // Every assignment proposed, in order, whichever entry carried it.
  std::vector<logpb::AssignJobCommand> assigned() const {
    std::vector<logpb::AssignJobCommand> out;
    for (const auto& c : log->proposals) {
      if (c.has_assign_job()) out.push_back(c.assign_job());
      for (const auto& a : c.assign_jobs().assignments()) out.push_back(a);
    }
    return out;
  }
  // Every re-queue proposed, in order, whichever entry carried it.
  std::vector<logpb::RequeueJobCommand> requeued() const {
    std::vector<logpb::RequeueJobCommand> out;
    for (const auto& c : log->proposals) {
      if (c.has_requeue_job()) out.push_back(c.requeue_job());
      for (const auto& r : c.requeue_jobs().requeues()) out.push_back(r);
    }
    return out;
  }
  std::size_t requeues_for(const std::string& id) const {
    std::size_t n = 0;
    for (const auto& r : requeued()) n += r.job_id() == id ? 1 : 0;
    return n;
  }
  // Entries of each kind: {requeue_job, requeue_jobs}.
  std::pair<std::size_t, std::size_t> requeue_entries() const {
    std::pair<std::size_t, std::size_t> n{0, 0};
    for (const auto& c : log->proposals) {
      n.first += c.has_requeue_job() ? 1 : 0;
      n.second += c.has_requeue_jobs() ? 1 : 0;
    }
    return n;
  }
  // Workers 1 and 2 with `held` slots each get 2 * held jobs (worker 2 the
  // even ids) past a new leader's grace; returns the worker list in which
  // worker 1 reports its own and worker 2 is dead, for the test to send.
  worker_list two_workers_then_2_dead(int held) {
    auto wl = live_workers({1, 2}, static_cast<std::uint32_t>(held));
    self->send(dispatcher, wl);
    settle();
    pass(config::dead_after(node_config_for(1, 3, dir->path)));
    for (int i = 1; i <= 2 * held; ++i) commit(submit(job_id(i), 1000 + i));
    wl.workers[0].report.running_jobs.clear();
    for (int i = 1; i <= 2 * held; i += 2) wl.workers[0].report.running_jobs.push_back(job_id(i));
    wl.workers[1].alive = false;
    return wl;
  }
  // Lets `d` of test time pass in dispatcher ticks (each one looks at the jobs).
  void pass(milliseconds d) {
    for (auto t = milliseconds(0); t < d; t += config::dispatcher_tick) {
      sched.clock().advance_time(config::dispatcher_tick);
      settle();
    }
  }
  // Delayed messages (ticks) scheduled, not request timeouts (the test clock
  // keeps those of answered requests until they are due).
  std::size_t ticks_pending() {
    std::size_t n = 0;
    for (const auto& [at, e] : sched.clock().schedule())
      n += e->subtype == caf::detail::simple_actor_clock::actor_msg_type ? 1 : 0;
    return n;
  }
  std::size_t proposals_for(const std::string& id) const {
    std::size_t n = 0;
    for (const auto& a : assigned())
      if (a.job_id() == id) ++n;
    return n;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(dispatcher_tests, dispatcher_fixture)

CAF_TEST(pending jobs go to the least loaded worker round robin among equals up to capacity) {
  self->send(dispatcher, live_workers({1, 2, 3}, 2));
  settle();
  for (int i = 1; i <= 7; ++i) commit(submit(job_id(i), 1000 + i));
  // Six slots: 1,2,3 then 1,2,3 again; the seventh job waits for a free slot.
  CAF_CHECK_EQUAL(assignments(), (std::vector<std::uint64_t>{1, 2, 3, 1, 2, 3}));
  CAF_CHECK_EQUAL(proposals_for(job_id(7)), 0u);
  // A job ends on worker 2: the waiting job goes there.
  commit(report(job_id(2), 2, scheduler::JOB_STATUS_FAILED, 5000));
  CAF_CHECK_EQUAL(last(assignments()), 2u);
  CAF_CHECK_EQUAL(proposals_for(job_id(7)), 1u);
}

CAF_TEST(raft_node hears while jobs wait for a slot and when none does or this node stops leading) {
  auto waits = [&] { return !log->backlog.empty() && log->backlog.back(); };
  self->send(dispatcher, live_workers({1}, 1));
  settle();
  commit(submit(job_id(1), 1001));
  CAF_CHECK(!waits());  // placed: nothing waits
  commit(submit(job_id(2), 1002));
  commit(submit(job_id(3), 1003));
  CAF_CHECK(waits());  // jobs 2 and 3 wait for worker 1's one slot
  commit(report(job_id(1), 1, scheduler::JOB_STATUS_COMPLETED, 5000));
  CAF_CHECK_EQUAL(proposals_for(job_id(2)), 1u);
  CAF_CHECK(waits());  // job 3 still does
  commit(report(job_id(2), 1, scheduler::JOB_STATUS_COMPLETED, 6000));
  CAF_CHECK_EQUAL(proposals_for(job_id(3)), 1u);
  CAF_CHECK(!waits());
  commit(submit(job_id(4), 1004));
  CAF_CHECK(waits());
  self->send(dispatcher, role_change{raft::role::follower, 2, 2});
  settle();
  CAF_CHECK(!waits());
  // Told on a change only.
  for (std::size_t i = 1; i < log->backlog.size(); ++i) CAF_CHECK_NOT_EQUAL(log->backlog[i], log->backlog[i - 1]);
}

CAF_TEST(every job placed in one pass goes in one assign_jobs entry) {
  // No live worker yet: five jobs wait.
  for (int i = 1; i <= 5; ++i) commit(submit(job_id(i), 1000 + i));
  CAF_CHECK(assigned().empty());
  self->send(dispatcher, live_workers({1, 2, 3}, 2));
  settle();
  std::size_t entries = 0;
  for (const auto& c : log->proposals) entries += c.has_assign_jobs() ? 1 : 0;
  CAF_CHECK_EQUAL(entries, 1u);
  CAF_CHECK_EQUAL(assignments(), (std::vector<std::uint64_t>{1, 2, 3, 1, 2}));
  for (int i = 1; i <= 5; ++i) CAF_CHECK_EQUAL(proposals_for(job_id(i)), 1u);
  // The next job fills the last slot, in an entry of its own.
  commit(submit(job_id(6), 2000));
  CAF_CHECK_EQUAL(last(assignments()), 3u);
  CAF_CHECK_EQUAL(proposals_for(job_id(6)), 1u);
}

CAF_TEST(while a member runs an older build each assignment goes in an assign_job entry of its own) {
  // A rolling upgrade: node 3 still reports feature level 1, which would
  // apply assign_jobs as a no-op.
  auto wl = live_workers({1, 2, 3}, 2);
  wl.workers[2].report.feature_level = 1;
  self->send(dispatcher, wl);
  settle();
  for (int i = 1; i <= 4; ++i) commit(submit(job_id(i), 1000 + i));
  CAF_CHECK_EQUAL(assigned().size(), 4u);
  for (const auto& c : log->proposals) CAF_CHECK(!c.has_assign_jobs());
  // The last node upgraded: batches again.
  wl.workers[2].report.feature_level = feature_level;
  self->send(dispatcher, wl);
  settle();
  for (int i = 5; i <= 6; ++i) commit(submit(job_id(i), 1000 + i));
  std::size_t batches = 0;
  for (const auto& c : log->proposals) batches += c.has_assign_jobs() ? 1 : 0;
  CAF_CHECK_EQUAL(batches, 2u);
  CAF_CHECK_EQUAL(assigned().size(), 6u);
}

CAF_TEST(a submit is placed in its own entry while a worker has a free slot and no older job waits) {
  self->send(dispatcher, live_workers({1, 2, 3}, 1));
  settle();
  for (int i = 1; i <= 4; ++i) CAF_REQUIRE(submit_through(job_id(i), 1000 + i)->value);
  // One slot each: the first three are placed round robin in their submit
  // entries, with no assignment entry; the fourth finds every worker full.
  CAF_CHECK_EQUAL(placed_in_submits(), (std::vector<std::uint64_t>{1, 2, 3, 0}));
  CAF_CHECK_EQUAL(assign_entries(), 0u);
  auto listed = ask<list_reply>(table, list_atom::value, list_request{});
  CAF_REQUIRE(listed->value);
  const auto& jobs = listed->value->result.jobs;
  CAF_REQUIRE_EQUAL(jobs.size(), 4u);
  for (std::size_t i = 0; i < 3; ++i) {
    CAF_CHECK(jobs[i].status == jobs::job_status::assigned);
    CAF_CHECK_EQUAL(jobs[i].assigned_worker, i + 1);
    CAF_CHECK_EQUAL(jobs[i].attempts, 1u);
  }
  CAF_CHECK(jobs[3].status == jobs::job_status::pending);
  // With a job waiting, the next submit is not placed ahead of it, even
  // once a slot frees: the waiting one takes the slot, by assign_jobs.
  CAF_REQUIRE(submit_through(job_id(5), 2000)->value);
  CAF_CHECK_EQUAL(last(placed_in_submits()), 0u);
  commit(report(job_id(2), 2, scheduler::JOB_STATUS_COMPLETED, 5000));
  CAF_CHECK_EQUAL(assign_entries(), 1u);
  const auto assigned_to = assigned();
  CAF_REQUIRE_EQUAL(assigned_to.size(), 1u);
  CAF_CHECK_EQUAL(assigned_to[0].job_id(), job_id(4));
  CAF_CHECK_EQUAL(assigned_to[0].worker_id(), 2u);
  CAF_CHECK_EQUAL(proposals_for(job_id(5)), 0u);
}

CAF_TEST(a submit is placed in its own entry while the jobs that were pending are in the assign_jobs entry on its way) {
  auto waits = [&] { return !log->backlog.empty() && log->backlog.back(); };
  self->send(dispatcher, live_workers({1}, 2));
  settle();
  // Job 1 comes unplaced (as from a follower's forward, or an older build's
  // leader); its assignment waits to commit.
  log->hold_assigns = true;
  commit(submit(job_id(1), 1001));
  CAF_REQUIRE_EQUAL(assigned().size(), 1u);
  CAF_CHECK(!waits());  // job 1 has its slot
  // Job 2 comes meanwhile: nothing waits for a slot, and one is free.
  CAF_REQUIRE(submit_through(job_id(2), 1002)->value);
  CAF_CHECK_EQUAL(last(placed_in_submits()), 1u);
  // Job 3: worker 1's two slots are job 1's (on its way) and job 2's.
  CAF_REQUIRE(submit_through(job_id(3), 1003)->value);
  CAF_CHECK_EQUAL(last(placed_in_submits()), 0u);
  CAF_CHECK(waits());
  CAF_CHECK_EQUAL(assign_entries(), 1u);  // job 3 waits for the entry in flight
  // Job 1's assignment commits; job 3 still waits for a slot, job 4 behind it.
  self->send(raft, tick_atom::value);
  settle();
  CAF_REQUIRE(submit_through(job_id(4), 1004)->value);
  CAF_CHECK_EQUAL(last(placed_in_submits()), 0u);
  CAF_CHECK_EQUAL(proposals_for(job_id(3)), 0u);
  CAF_CHECK(waits());
  // A slot frees: job 3 (the older) takes it.
  commit(report(job_id(1), 1, scheduler::JOB_STATUS_COMPLETED, 5000));
  CAF_CHECK_EQUAL(proposals_for(job_id(3)), 1u);
  CAF_CHECK_EQUAL(proposals_for(job_id(4)), 0u);
}

CAF_TEST(submits are passed on unplaced by a follower and while a member runs an older build) {
  auto wl = live_workers({1, 2, 3}, 4);
  wl.workers[2].report.feature_level = 2;  // applies SubmitJobCommand without assign_to
  self->send(dispatcher, wl);
  settle();
  CAF_REQUIRE(submit_through(job_id(1), 1000)->value);
  CAF_CHECK_EQUAL(placed_in_submits(), (std::vector<std::uint64_t>{0}));
  CAF_CHECK_EQUAL(proposals_for(job_id(1)), 1u);  // placed by assign_jobs, as before
  wl.workers[2].report.feature_level = feature_level;
  self->send(dispatcher, wl);
  self->send(dispatcher, role_change{raft::role::follower, 2, 2});
  settle();
  CAF_REQUIRE(submit_through(job_id(2), 1001)->value);
  CAF_CHECK_EQUAL(placed_in_submits(), (std::vector<std::uint64_t>{0, 0}));
  self->send(dispatcher, role_change{raft::role::leader, 3, 1});
  settle();
  CAF_REQUIRE(submit_through(job_id(3), 1002)->value);
  CAF_CHECK_NOT_EQUAL(last(placed_in_submits()), 0u);
}

CAF_TEST(a placed submit that fails frees its slot) {
  self->send(dispatcher, live_workers({1}, 2));
  settle();
  CAF_REQUIRE(submit_through(job_id(1), 1000)->value);
  // Placed in the second slot, then refused on apply (a duplicate id).
  CAF_CHECK(submit_through(job_id(1), 1000)->error);
  // So that slot is free again for the next job, and then the worker is full.
  CAF_REQUIRE(submit_through(job_id(2), 2000)->value);
  CAF_REQUIRE(submit_through(job_id(3), 3000)->value);
  CAF_CHECK_EQUAL(placed_in_submits(), (std::vector<std::uint64_t>{1, 1, 1, 0}));
}

CAF_TEST(a worker drained in the table gets no new job and undrained gets work again) {
  self->send(dispatcher, live_workers({1, 2, 3}, 4));
  settle();
  logpb::Command drain;
  drain.mutable_set_worker_draining()->set_worker_id(2);
  drain.mutable_set_worker_draining()->set_draining(true);
  commit(drain);
  for (int i = 1; i <= 6; ++i) commit(submit(job_id(i), 1000 + i));
  for (auto w : assignments()) CAF_CHECK_NOT_EQUAL(w, 2u);
  CAF_CHECK_EQUAL(assignments().size(), 6u);
  drain.mutable_set_worker_draining()->set_draining(false);
  commit(drain);
  commit(submit(job_id(7), 2000));
  CAF_CHECK_EQUAL(last(assignments()), 2u);  // now the least loaded
}

CAF_TEST(an idle leader has no timer; a finished job is evicted when it reaches retention) {
  self->send(dispatcher, reporting(1, {}));
  settle();
  // Nothing pending, placed or finished: nothing to look at, no tick coming.
  CAF_CHECK_EQUAL(ticks_pending(), 0u);
  commit(submit(job_id(1), 1000));
  CAF_REQUIRE_EQUAL(assignments(), (std::vector<std::uint64_t>{1}));
  CAF_CHECK_EQUAL(ticks_pending(), 1u);  // a placed job: its worker is watched
  commit(running(job_id(1), 1));
  commit(report(job_id(1), 1, scheduler::JOB_STATUS_COMPLETED, 5000 /* long past retention */, 1));
  auto evictions = [&] {
    std::size_t n = 0;
    for (const auto& c : log->proposals) n += c.has_evict_jobs() ? 1 : 0;
    return n;
  };
  CAF_CHECK_EQUAL(evictions(), 0u);  // not at once: at the next tick
  pass(2 * config::dispatcher_tick);
  CAF_CHECK_EQUAL(evictions(), 1u);
  auto j = ask<job_lookup>(table, get_atom::value, job_id(1));
  CAF_REQUIRE(j->value.has_value());
  CAF_CHECK(!j->value->found);
  // Nothing left to watch or evict: the timer stops, and no eviction repeats.
  CAF_CHECK_EQUAL(ticks_pending(), 0u);
  pass(10 * config::dispatcher_tick);
  CAF_CHECK_EQUAL(evictions(), 1u);
}

CAF_TEST(a pending job absent from a restored snapshot is never proposed again) {
  // No live worker yet: both jobs stay pending in the dispatcher's view.
  commit(submit(job_id(1), 1000));
  commit(submit(job_id(2), 1001));
  // A snapshot (say from InstallSnapshot) in which job 1 no longer exists.
  jobs::job_table other;
  other.apply(1, submit(job_id(2), 1001));
  snapshot_blob blob;
  blob.snap.meta.index = 100;
  blob.snap.data = other.snapshot();
  log->next_index = 101;
  self->send(table, restore_atom::value, blob);
  settle();
  self->send(dispatcher, live_workers({1, 2, 3}, 4));
  settle();
  self->send(dispatcher, tick_atom::value);
  settle();
  CAF_CHECK_EQUAL(proposals_for(job_id(1)), 0u);
  CAF_CHECK_EQUAL(proposals_for(job_id(2)), 1u);
}

CAF_TEST(a running job its live worker does not report is re-queued after a heartbeat window and not before) {
  const auto cfg = node_config_for(1, 3, dir->path);
  self->send(dispatcher, reporting(1, {}));
  settle();
  commit(submit(job_id(1), 1000));
  CAF_REQUIRE_EQUAL(assignments(), (std::vector<std::uint64_t>{1}));
  commit(running(job_id(1), 1));
  // Reported: however long it runs, nothing is proposed.
  self->send(dispatcher, reporting(1, {job_id(1)}));
  settle();
  pass(4 * config::unreported_assigned_grace(cfg));
  CAF_CHECK_EQUAL(requeues_for(job_id(1)), 0u);
  // The worker stops mentioning it (its result was lost, say): within the
  // window nothing happens, after it the job is re-queued, attempts kept.
  self->send(dispatcher, reporting(1, {}));
  settle();
  pass(config::unreported_running_grace(cfg) - config::dispatcher_tick);
  CAF_CHECK_EQUAL(requeues_for(job_id(1)), 0u);
  pass(2 * config::dispatcher_tick);
  CAF_REQUIRE_EQUAL(requeues_for(job_id(1)), 1u);
  for (const auto& r : requeued()) {
    CAF_CHECK_EQUAL(r.max_attempts(), cfg.worker.max_attempts);
    CAF_CHECK_EQUAL(r.reason(), "worker 1 did not report the job for " +
                                    std::to_string(config::unreported_running_grace(cfg).count()) +
                                    " ms (its assignment or result was lost)");
  }
  // Re-queued in the table, then assigned again (attempt 2) by the dispatcher.
  auto j = ask<job_lookup>(table, get_atom::value, job_id(1));
  CAF_REQUIRE(j->value.has_value());
  CAF_CHECK_EQUAL(j->value->job.attempts, 2u);
  CAF_CHECK(j->value->job.status == jobs::job_status::assigned);
  CAF_CHECK_EQUAL(proposals_for(job_id(1)), 2u);
}

CAF_TEST(an assigned job not yet reported gets the longer grace before it is re-queued) {
  const auto cfg = node_config_for(1, 3, dir->path);
  self->send(dispatcher, reporting(1, {}));
  settle();
  pass(config::dead_after(cfg));  // a new leader judges no worker before this
  commit(submit(job_id(2), 1000));
  CAF_REQUIRE_EQUAL(assignments(), (std::vector<std::uint64_t>{1}));
  // Past the running job's window, still within the assignment's grace: the
  // worker may not have applied the assignment yet.
  pass(config::unreported_running_grace(cfg) + 2 * config::dispatcher_tick);
  CAF_CHECK_EQUAL(requeues_for(job_id(2)), 0u);
  pass(config::unreported_assigned_grace(cfg) - config::unreported_running_grace(cfg));
  CAF_CHECK_EQUAL(requeues_for(job_id(2)), 1u);
}

CAF_TEST(find_unreported names only jobs on live workers missing for longer than their grace) {
  placed_map active;
  auto job = [&](const std::string& id, jobs::job_status s, std::uint64_t w) {
    active[id] = placed_job{w, 1, s};
  };
  job("run-reported", jobs::job_status::running, 1);
  job("run-missing", jobs::job_status::running, 1);
  job("assigned-missing", jobs::job_status::assigned, 1);
  job("on-dead-worker", jobs::job_status::running, 2);
  job("pending", jobs::job_status::pending, 0);
  auto wl = live_workers({1, 2}, 4);
  wl.workers[0].report.running_jobs = {"run-reported"};
  wl.workers[1].alive = false;
  unreported_map missing;
  const unreported_graces g{milliseconds(5000), milliseconds(11000)};
  const std::chrono::steady_clock::time_point t0{};
  CAF_CHECK(find_unreported(active, wl, missing, t0, g).empty());
  CAF_CHECK_EQUAL(missing.size(), 2u);  // run-missing, assigned-missing
  CAF_CHECK(find_unreported(active, wl, missing, t0 + milliseconds(4999), g).empty());
  CAF_CHECK_EQUAL(find_unreported(active, wl, missing, t0 + milliseconds(5000), g),
                  (std::vector<std::string>{"run-missing"}));
  // A new attempt starts the clock again.
  active["run-missing"].attempts = 2;
  CAF_CHECK(find_unreported(active, wl, missing, t0 + milliseconds(9000), g).empty());
  CAF_CHECK_EQUAL(find_unreported(active, wl, missing, t0 + milliseconds(11000), g),
                  (std::vector<std::string>{"assigned-missing"}));
  // Reported again: forgotten.
  wl.workers[0].report.running_jobs = {"run-reported", "run-missing", "assigned-missing"};
  CAF_CHECK(find_unreported(active, wl, missing, t0 + milliseconds(60000), g).empty());
  CAF_CHECK(missing.empty());
}

CAF_TEST(the jobs of a worker removed from the configuration are re-queued as for a dead worker) {
  const auto cfg = node_config_for(1, 3, dir->path);
  self->send(dispatcher, live_workers({1, 2}, 1));
  settle();
  pass(config::dead_after(cfg));  // a new leader judges no worker before this
  commit(submit(job_id(1), 1000));
  commit(submit(job_id(2), 1001));
  CAF_REQUIRE_EQUAL(assignments(), (std::vector<std::uint64_t>{1, 2}));
  commit(running(job_id(2), 2));
  // troupe member remove 2: the tracker's list (the configuration's voters) no longer has it.
  auto after = live_workers({1}, 1);
  after.workers.front().report.running_jobs = {job_id(1)};
  self->send(dispatcher, after);
  settle();
  pass(2 * config::dispatcher_tick);
  CAF_CHECK_EQUAL(requeues_for(job_id(2)), 1u);
  CAF_CHECK_EQUAL(requeues_for(job_id(1)), 0u);
  for (const auto& r : requeued()) CAF_CHECK_EQUAL(r.reason(), "worker 2 was removed from the cluster");
}

CAF_TEST(the jobs of a dead worker are re-queued in one requeue_jobs entry in id order) {
  const auto cfg = node_config_for(1, 3, dir->path);
  auto wl = live_workers({1, 2}, 4);
  self->send(dispatcher, wl);
  settle();
  pass(config::dead_after(cfg));  // a new leader judges no worker before this
  for (int i = 1; i <= 6; ++i) commit(submit(job_id(i), 1000 + i));
  CAF_REQUIRE_EQUAL(assignments(), (std::vector<std::uint64_t>{1, 2, 1, 2, 1, 2}));
  // Worker 2 dies holding jobs 2, 4 and 6; worker 1 still runs its own.
  wl.workers[0].report.running_jobs = {job_id(1), job_id(3), job_id(5)};
  wl.workers[1].alive = false;
  self->send(dispatcher, wl);
  settle();
  pass(2 * config::dispatcher_tick);
  CAF_CHECK_EQUAL(requeue_entries(), (std::pair<std::size_t, std::size_t>{0, 1}));
  std::vector<std::string> ids;
  for (const auto& r : requeued()) {
    ids.push_back(r.job_id());
    CAF_CHECK_EQUAL(r.reason(), "worker 2 stopped responding");
    CAF_CHECK_EQUAL(r.max_attempts(), cfg.worker.max_attempts);
  }
  CAF_CHECK_EQUAL(ids, (std::vector<std::string>{job_id(2), job_id(4), job_id(6)}));
  // Applied: all three back to pending, and worker 1's free slot took the
  // oldest (its second attempt).
  for (int i : {2, 4, 6}) {
    auto j = ask<job_lookup>(table, get_atom::value, job_id(i));
    CAF_REQUIRE(j->value.has_value());
    CAF_CHECK(j->value->job.status == (i == 2 ? jobs::job_status::assigned : jobs::job_status::pending));
    CAF_CHECK_EQUAL(j->value->job.attempts, i == 2 ? 2u : 1u);
  }
  const auto last = assigned().back();
  CAF_CHECK_EQUAL(last.job_id(), job_id(2));
  CAF_CHECK_EQUAL(last.worker_id(), 1u);
}

CAF_TEST(while a member runs a build before requeue_jobs each re-queue goes in an entry of its own) {
  const auto cfg = node_config_for(1, 3, dir->path);
  auto wl = live_workers({1, 2}, 4);
  wl.workers[0].report.feature_level = feature_level_requeue_jobs - 1;  // would apply requeue_jobs as a no-op
  self->send(dispatcher, wl);
  settle();
  pass(config::dead_after(cfg));
  for (int i = 1; i <= 4; ++i) commit(submit(job_id(i), 1000 + i));
  CAF_REQUIRE_EQUAL(assignments(), (std::vector<std::uint64_t>{1, 2, 1, 2}));
  wl.workers[0].report.running_jobs = {job_id(1), job_id(3)};
  wl.workers[1].alive = false;
  self->send(dispatcher, wl);
  settle();
  pass(2 * config::dispatcher_tick);
  CAF_CHECK_EQUAL(requeue_entries(), (std::pair<std::size_t, std::size_t>{2, 0}));
  CAF_CHECK_EQUAL(requeues_for(job_id(2)), 1u);
  CAF_CHECK_EQUAL(requeues_for(job_id(4)), 1u);
}

CAF_TEST(a requeue_jobs entry holds at most requeue_batch_jobs re-queues) {
  const int held = static_cast<int>(config::requeue_batch_jobs) + 50;
  self->send(dispatcher, two_workers_then_2_dead(held));
  settle();
  pass(2 * config::dispatcher_tick);
  std::vector<int> sizes;
  for (const auto& c : log->proposals)
    if (c.has_requeue_jobs()) sizes.push_back(c.requeue_jobs().requeues_size());
  CAF_CHECK_EQUAL(sizes, (std::vector<int>{static_cast<int>(config::requeue_batch_jobs), 50}));
  CAF_CHECK_EQUAL(requeued().size(), static_cast<std::size_t>(held));
}

CAF_TEST(the jobs of a dead worker are found in one walk: one finished before its entry is left out and one placed there since follows) {
  const int held = static_cast<int>(config::requeue_batch_jobs) + 50;
  auto wl = two_workers_then_2_dead(held);
  log->hold_requeues = true;
  self->send(dispatcher, wl);
  settle();
  pass(2 * config::dispatcher_tick);  // ticks while the first entry waits: nothing more proposed
  auto first = requeued();
  CAF_REQUIRE_EQUAL(first.size(), config::requeue_batch_jobs);
  CAF_CHECK_EQUAL(first.back().job_id(), job_id(2 * static_cast<int>(config::requeue_batch_jobs)));
  // Before the first entry commits, the last of worker 2's jobs reports its
  // end, and a new job is assigned to worker 2 (an assignment proposed
  // before its death, say): neither is among the ids the walk found.
  commit(report(job_id(2 * held), 2, scheduler::JOB_STATUS_COMPLETED, 3000, 1));
  commit(submit(job_id(9000), 9000));
  logpb::Command late;
  late.mutable_assign_job()->set_job_id(job_id(9000));
  late.mutable_assign_job()->set_worker_id(2);
  commit(late);
  auto commit_held = [&] {
    self->send(raft, tick_atom::value);
    settle();
  };
  commit_held();  // the first entry: the next comes from the same walk
  CAF_REQUIRE_EQUAL(requeued().size(), config::requeue_batch_jobs + 49);
  commit_held();  // the second: the walk is used up, a new one finds the late job
  auto then = requeued();
  CAF_REQUIRE_EQUAL(then.size(), config::requeue_batch_jobs + 50);
  CAF_CHECK_EQUAL(then.back().job_id(), job_id(9000));
  commit_held();
  pass(2 * config::dispatcher_tick);
  CAF_CHECK_EQUAL(requeued().size(), config::requeue_batch_jobs + 50);
  CAF_CHECK_EQUAL(requeues_for(job_id(2 * held)), 0u);
  for (int i = 2; i < 2 * held; i += 2) CAF_CHECK_EQUAL(requeues_for(job_id(i)), 1u);
  std::vector<std::string> ids;
  for (const auto& r : requeued()) ids.push_back(r.job_id());
  CAF_CHECK(std::is_sorted(ids.begin(), ids.end() - 1));  // id order, the late job last
}

CAF_TEST(re-queues beyond the entry size limit go in further entries one after the other) {
  // A dispatcher whose entries hold about two re-queues.
  self->send_exit(dispatcher, caf::exit_reason::kill);
  settle();
  auto cfg = node_config_for(1, 3, dir->path);
  cfg.raft.max_append_bytes = 500;  // 250 bytes an entry
  start_dispatcher(cfg);
  auto wl = live_workers({1, 2}, 8);
  self->send(dispatcher, wl);
  settle();
  pass(config::dead_after(cfg));
  for (int i = 1; i <= 10; ++i) commit(submit(job_id(i), 1000 + i));
  wl.workers[0].report.running_jobs = {job_id(1), job_id(3), job_id(5), job_id(7), job_id(9)};
  wl.workers[1].alive = false;
  self->send(dispatcher, wl);
  settle();
  pass(2 * config::dispatcher_tick);
  // Five jobs, every one re-queued exactly once, in several entries.
  const auto [single, batches] = requeue_entries();
  CAF_CHECK_EQUAL(single, 0u);
  CAF_CHECK_GREATER(batches, 1u);
  for (const auto& c : log->proposals)
    if (c.has_requeue_jobs()) CAF_CHECK_LESS_OR_EQUAL(c.ByteSizeLong(), config::assign_batch_bytes(cfg) + 16);
  for (int i : {2, 4, 6, 8, 10}) CAF_CHECK_EQUAL(requeues_for(job_id(i)), 1u);
}

CAF_TEST(pending jobs are placed oldest first by creation time; one cancelled while pending is skipped; a re-queued one goes back to its place) {
  // No worker yet: submitted out of creation order, two created in the same
  // nanosecond (the id decides between them).
  commit(submit(job_id(3), 3000));
  commit(submit(job_id(1), 1000));
  commit(submit(job_id(2), 2000));
  commit(submit(job_id(4), 1000));
  commit(submit(job_id(5), 5000));
  CAF_CHECK(assigned().empty());
  self->send(dispatcher, live_workers({1}, 1));  // one slot: one job at a time
  settle();
  auto ids = [&] {
    std::vector<std::string> out;
    for (const auto& a : assigned()) out.push_back(a.job_id());
    return out;
  };
  auto fail = [&](const std::string& id) { commit(report(id, 1, scheduler::JOB_STATUS_FAILED, 9000)); };
  CAF_CHECK_EQUAL(ids(), (std::vector<std::string>{job_id(1)}));
  logpb::Command cancel;
  cancel.mutable_cancel_job()->set_job_id(job_id(2));  // cancelled while pending, between others
  cancel.mutable_cancel_job()->set_cancelled_at_ns(8000);
  commit(cancel);
  fail(job_id(1));
  fail(job_id(4));
  CAF_CHECK_EQUAL(ids(), (std::vector<std::string>{job_id(1), job_id(4), job_id(3)}));
  // Job 3 re-queued (say, its worker was lost): older than job 5, it goes first again.
  logpb::Command requeue;
  requeue.mutable_requeue_job()->set_job_id(job_id(3));
  requeue.mutable_requeue_job()->set_reason("test");
  requeue.mutable_requeue_job()->set_max_attempts(3);
  requeue.mutable_requeue_job()->set_at_ns(9500);
  commit(requeue);
  CAF_CHECK_EQUAL(ids(), (std::vector<std::string>{job_id(1), job_id(4), job_id(3), job_id(3)}));
  fail(job_id(3));
  CAF_CHECK_EQUAL(ids(), (std::vector<std::string>{job_id(1), job_id(4), job_id(3), job_id(3), job_id(5)}));
  CAF_CHECK_EQUAL(proposals_for(job_id(2)), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
