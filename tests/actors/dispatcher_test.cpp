// job_dispatcher in-process: placement (least loaded, round-robin among
// equals, up to capacity), drain read from the job table, and no proposals
// for jobs a restored snapshot no longer has. A real job_table; raft_node is
// a stand-in that applies every proposal to that table at once, as a leader
// whose entries always commit would.
#define CAF_SUITE job_dispatcher
#include "tests/actors/fixture.hpp"

#include "actors/job_dispatcher.hpp"
#include "runtime/jobs/job_table.hpp"

using namespace troupe;
using namespace troupe::test;
using std::chrono::milliseconds;

namespace {

struct applied_log {
  std::uint64_t next_index = 1;
  std::vector<logpb::Command> proposals;  // what the dispatcher proposed, in order
};

// raft_node as a leader whose every proposal commits and applies at once.
raft_node_actor::behavior_type instant_leader(raft_node_actor::pointer self, job_table_actor table,
                                              std::shared_ptr<applied_log> log) {
  return {
      [](tick_atom) {},
      [](step_atom, const raft::message&) {},
      [=](propose_atom, logpb::Command& cmd) -> caf::result<proposal_result> {
        log->proposals.push_back(cmd);
        raft::entry e;
        e.term = 1;
        e.index = log->next_index++;
        e.data = cmd.SerializeAsString();
        auto rp = self->make_response_promise<proposal_result>();
        self->request(table, caf::infinite, apply_atom::value, entry_batch{{e}})
            .then([=](apply_outcomes& out) mutable {
              const auto& o = out.results.at(0);
              if (o.refused != jobs::refusal::none)
                rp.deliver(make_error(errc::failed_precondition, o.error));
              else
                rp.deliver(proposal_result{o.index, {}, 0});
            });
        return rp;
      },
      [](status_atom) { return raft_status{}; },
      [](log_atom, std::uint64_t, std::uint32_t) { return log_page{}; },
      [](transfer_atom, std::uint64_t) { return std::uint64_t{0}; },
      [](read_atom) { return std::uint64_t{0}; },
      [=](subscribe_atom, role_listener l) { self->send(l, role_change{raft::role::leader, 1, 1}); },
  };
}

// heartbeat_tracker that says nothing by itself; tests send worker lists.
heartbeat_tracker_actor::behavior_type quiet_tracker() {
  return {
      [](tick_atom) {},
      [](const role_change&) {},
      [](heartbeat_atom, const worker_report&) { return heartbeat_reply{}; },
      [](workers_atom) { return worker_list{}; },
      [](subscribe_atom, worker_listener) {},
  };
}

worker_list live_workers(std::initializer_list<std::uint64_t> ids, std::uint32_t capacity) {
  worker_list wl;
  for (auto id : ids) {
    worker_state w;
    w.report.node_id = id;
    w.report.capacity = capacity;
    w.report.executor_ok = true;
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

  dispatcher_fixture() {
    dispatcher = own(sys.spawn(job_dispatcher, node_config_for(1, 3, dir->path), raft, table, tracker));
    settle();
  }

  // Commits `cmd` as the leader would (through the stand-in raft_node).
  void commit(const logpb::Command& cmd) {
    self->send(raft, propose_atom::value, cmd);
    settle();
  }

  // worker -> jobs assigned to it, and the order of assignments.
  std::vector<std::uint64_t> assignments() const {
    std::vector<std::uint64_t> out;
    for (const auto& c : log->proposals)
      if (c.has_assign_job()) out.push_back(c.assign_job().worker_id());
    return out;
  }
  std::size_t proposals_for(const std::string& id) const {
    std::size_t n = 0;
    for (const auto& c : log->proposals)
      if (c.has_assign_job() && c.assign_job().job_id() == id) ++n;
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
  logpb::Command done;
  auto* u = done.mutable_batch_update_job_status()->add_updates();
  u->set_job_id(job_id(2));
  u->set_status(scheduler::JOB_STATUS_FAILED);
  u->set_executed_by(2);
  u->set_at_ns(5000);
  commit(done);
  CAF_CHECK_EQUAL(assignments().back(), 2u);
  CAF_CHECK_EQUAL(proposals_for(job_id(7)), 1u);
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
  CAF_CHECK_EQUAL(assignments().back(), 2u);  // now the least loaded
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

CAF_TEST_FIXTURE_SCOPE_END()
