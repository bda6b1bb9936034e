// job_supervisor against fakes of its neighbours: status batches are settled
// only by the answer to their own seq (a late answer for a batch resent after
// a leader change clears nothing), non-final answers are resent, and a node
// shutdown stops running jobs without reporting them.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/job_supervisor.hpp"
#include "config/limits.hpp"
#include "runtime/common/wall_clock.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/exec/process_backend.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

// peer_transport plus three test controls: the log of batches sent
// ("seq@leader:jobs;"), the jobs whose updates carried a start time
// ("id;", or "id (after its end);"), and answering one of the batches.
using fake_transport_actor = peer_transport_actor::extend<caf::replies_to<get_atom>::with<std::string>,
                                                          caf::replies_to<stats_atom>::with<std::string>,
                                                          caf::reacts_to<done_atom, std::uint64_t, bool>>;

struct fake_transport_state {
  std::string log;
  std::string started;
  std::map<std::uint64_t, caf::typed_response_promise<report_ack>> pending;
};

fake_transport_actor::behavior_type fake_transport(fake_transport_actor::stateful_pointer<fake_transport_state> self) {
  return {
      [](send_atom, const raft_outbox&) {},
      [](const role_change&) {},
      [=](report_atom, std::uint64_t leader, const status_batch& b) -> caf::result<report_ack> {
        std::string jobs;
        for (const auto& u : b.updates) {
          jobs += u.job_id() + "/" + scheduler::JobStatus_Name(u.status()) + ",";
          if (u.started_at_ns() != 0)
            self->state.started += u.job_id() + (u.started_at_ns() > u.at_ns() ? " (after its end);" : ";");
        }
        self->state.log += std::to_string(b.seq) + "@" + std::to_string(leader) + ":" + jobs + ";";
        auto rp = self->make_response_promise<report_ack>();
        self->state.pending[b.seq] = rp;
        return rp;
      },
      [](heartbeat_atom, std::uint64_t, const worker_report&) { return heartbeat_reply{}; },
      [](output_atom, std::uint64_t, const std::string&) { return job_output{}; },
      [](drain_atom, std::uint64_t, std::uint64_t, bool) { return std::uint64_t{0}; },
      [=](get_atom) { return self->state.log; },
      [=](stats_atom) { return self->state.started; },
      [=](done_atom, std::uint64_t seq, bool final) {
        auto it = self->state.pending.find(seq);
        if (it == self->state.pending.end()) return;
        it->second.deliver(report_ack{seq, final, final ? "applied" : "retry"});
        self->state.pending.erase(it);
      },
  };
}

// raft_node and job_table: only what the supervisor asks of them at start.
// `held`: the jobs the table holds when the supervisor subscribes.
caf::behavior fake_neighbour(caf::event_based_actor* self, std::vector<jobs::job> held) {
  self->set_default_handler(caf::drop);
  // Answers a scoped subscription as the real table does (its view is tested
  // against the table in tests/actors/job_table_view_test.cpp).
  return {[held](subscribe_atom, const change_listener&, const listener_scope& scope) {
            listener_view v;
            for (const auto& j : held) {
              if (scope.ids) v.ids.push_back(j.id);
              if (scope.active && !jobs::is_terminal(j.status) &&
                  (scope.active_on == 0 || j.assigned_worker == scope.active_on))
                v.active.push_back(j);
            }
            return v;
          },
          [held](held_atom, const id_list& asked) {
            id_list out;
            for (const auto& id : asked.ids)
              for (const auto& j : held)
                if (j.id == id) out.ids.push_back(id);
            return out;
          },
          [](subscribe_atom, const role_listener&) {}};
}

executor_result finished(const std::string& job) {
  executor_result r;
  r.job_id = job;
  r.attempt = 1;
  r.update.set_job_id(job);
  r.update.set_attempt(1);
  r.update.set_status(scheduler::JOB_STATUS_COMPLETED);
  return r;
}

struct fixture {
  caf::actor_system_config acfg;
  caf::actor_system sys{acfg};
  caf::scoped_actor self{sys};
  fake_transport_actor transport = sys.spawn(fake_transport);
  job_supervisor_actor supervisor;
  std::string dir = "/tmp/troupe-supervisor-test-" + std::to_string(::getpid());
  std::shared_ptr<exec::start_journal> journal;

  explicit fixture(bool caught_up = true, std::vector<jobs::job> held = {},
                   std::function<void(config::node_config&)> tweak = {}) {
    std::filesystem::create_directories(dir + "/outputs");
    config::node_config cfg;
    cfg.id = 1;
    cfg.members = {{1, "127.0.0.1:1", "", ""}, {2, "127.0.0.1:2", "", ""}, {3, "127.0.0.1:3", "", ""}};
    cfg.data_dir = dir;
    cfg.executor.timeout_s = 300;
    if (tweak) tweak(cfg);
    auto raft = caf::actor_cast<raft_node_actor>(sys.spawn(fake_neighbour, std::vector<jobs::job>{}));
    auto table = caf::actor_cast<job_table_actor>(sys.spawn(fake_neighbour, std::move(held)));
    journal = std::make_shared<exec::start_journal>(dir + "/outputs");
    supervisor = sys.spawn(job_supervisor, cfg, std::shared_ptr<exec::backend>(exec::make_process_backend({})),
                           journal, transport, raft, table);
    self->send(supervisor, role_change{raft::role::follower, 1, 2, caught_up});
  }
  ~fixture() {
    for (caf::actor a : {caf::actor_cast<caf::actor>(supervisor), caf::actor_cast<caf::actor>(transport)})
      self->send_exit(a, caf::exit_reason::user_shutdown);
    self->wait_for(supervisor, transport);
    // An executor's detached writer may still be finishing a file in there
    // (a killed supervisor does not wait for it): retry rather than throw
    // from a destructor when a file vanishes mid-removal.
    std::error_code ec;
    for (int i = 0; i < 50; ++i) {
      std::filesystem::remove_all(dir, ec);
      if (!ec) break;
      std::this_thread::sleep_for(20ms);
    }
  }

  // Waits (bounded) until the batch log contains `part`.
  bool wait_contains(const std::string& part) {
    auto until = std::chrono::steady_clock::now() + 5s;
    while (log().find(part) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  std::string log() {
    std::string out;
    self->request(transport, 5s, get_atom::value).receive([&](std::string& s) { out = s; }, [](caf::error&) {});
    return out;
  }
  std::string started() {
    std::string out;
    self->request(transport, 5s, stats_atom::value).receive([&](std::string& s) { out = s; }, [](caf::error&) {});
    return out;
  }
  // This node's worker report, as the heartbeat asks for it.
  worker_report report() {
    worker_report r;
    self->request(supervisor, 5s, workers_atom::value)
        .receive([&](worker_report& w) { r = std::move(w); }, [](caf::error& e) { FAIL(caf::to_string(e)); });
    return r;
  }
  // Waits (bounded) until the batch log reads `expected`.
  std::string wait_log(const std::string& expected) {
    auto until = std::chrono::steady_clock::now() + 5s;
    auto now = log();
    while (now != expected && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(20ms);
      now = log();
    }
    return now;
  }
};

}  // namespace

TEST_CASE("a late answer for an older batch never settles a newer one") {
  fixture f;
  f.self->send(f.supervisor, done_atom::value, finished("A"));
  CHECK(f.wait_log("1@2:A/JOB_STATUS_COMPLETED,;") == "1@2:A/JOB_STATUS_COMPLETED,;");
  // The leader changes: A goes again, to the new leader, as batch 2.
  f.self->send(f.supervisor, role_change{raft::role::follower, 2, 3, true});
  CHECK(f.wait_log("1@2:A/JOB_STATUS_COMPLETED,;2@3:A/JOB_STATUS_COMPLETED,;") ==
        "1@2:A/JOB_STATUS_COMPLETED,;2@3:A/JOB_STATUS_COMPLETED,;");
  f.self->send(f.supervisor, done_atom::value, finished("B"));
  // Batch 1's (final) answer arrives late: batch 2 stays in flight, B waits.
  f.self->send(f.transport, done_atom::value, std::uint64_t{1}, true);
  std::this_thread::sleep_for(500ms);  // a few supervisor ticks
  CHECK(f.log() == "1@2:A/JOB_STATUS_COMPLETED,;2@3:A/JOB_STATUS_COMPLETED,;");
  // Batch 2's own answer settles it; B follows as batch 3.
  f.self->send(f.transport, done_atom::value, std::uint64_t{2}, true);
  auto three = "1@2:A/JOB_STATUS_COMPLETED,;2@3:A/JOB_STATUS_COMPLETED,;3@3:B/JOB_STATUS_COMPLETED,;";
  CHECK(f.wait_log(three) == three);
  // Not final (e.g. not the leader yet): B is kept and resent as batch 4.
  f.self->send(f.transport, done_atom::value, std::uint64_t{3}, false);
  auto four = std::string(three) + "4@3:B/JOB_STATUS_COMPLETED,;";
  CHECK(f.wait_log(four) == four);
}

TEST_CASE("a backlog of reports goes out in order, in batches of at most status_batch_updates") {
  fixture f;
  // A restarted node's failure reports arrive like this, thousands at once;
  // small updates, so the count, not the bytes, cuts the batches.
  const std::size_t n = 2 * config::status_batch_updates + 2;
  for (std::size_t i = 0; i < n; ++i) f.self->send(f.supervisor, done_atom::value, finished("J" + std::to_string(i)));
  // Each batch is answered once sent; the next follows.
  std::vector<std::vector<std::string>> batches;
  std::size_t reported = 0;
  for (std::uint64_t seq = 1; reported < n && seq <= n; ++seq) {
    const std::string head = std::to_string(seq) + "@2:";
    REQUIRE(f.wait_contains(head));
    const auto log = f.log();
    const auto from = log.find(head) + head.size();
    std::vector<std::string> ids;
    for (auto at = from; log[at] != ';'; at = log.find(',', at) + 1) ids.push_back(log.substr(at, log.find('/', at) - at));
    reported += ids.size();
    batches.push_back(std::move(ids));
    f.self->send(f.transport, done_atom::value, seq, true);
  }
  REQUIRE(reported == n);
  std::vector<std::string> sent, expected;
  std::size_t largest = 0;
  for (const auto& b : batches) {
    largest = std::max(largest, b.size());
    sent.insert(sent.end(), b.begin(), b.end());
  }
  for (std::size_t i = 0; i < n; ++i) expected.push_back("J" + std::to_string(i));
  CHECK(sent == expected);
  CHECK(largest == config::status_batch_updates);
}

// Output cut inline (the limit is 0), so stored: its meta.json shows when a
// job has ended.
static void store_all_output(config::node_config& c) { c.executor.output_inline_bytes = 0; }

TEST_CASE("a job that ends while an earlier batch is in flight is reported once, its RUNNING folded in") {
  fixture f(true, {}, store_all_output);
  f.self->send(f.supervisor, done_atom::value, finished("A"));
  CHECK(f.wait_log("1@2:A/JOB_STATUS_COMPLETED,;") == "1@2:A/JOB_STATUS_COMPLETED,;");
  // Batch 1 stays unanswered while job B is assigned here, starts and ends.
  jobs::job b;
  b.id = "5e1f0c1a-0000-4000-8000-0000000000b0";
  b.command = "echo done";
  b.status = jobs::job_status::assigned;
  b.assigned_worker = 1;
  b.attempts = 1;
  job_changes jc;
  jc.changes.push_back(jobs::job_change{7, jobs::change_kind::updated, jobs::job_status::pending, b});
  f.self->send(f.supervisor, jc);
  // Its output file is written once it ended: by then its final update waits.
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!std::filesystem::exists(f.dir + "/outputs/" + b.id + "/meta.json") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(200ms);
  f.self->send(f.transport, done_atom::value, std::uint64_t{1}, true);
  auto two = "1@2:A/JOB_STATUS_COMPLETED,;2@2:" + b.id + "/JOB_STATUS_COMPLETED,;";
  CHECK(f.wait_log(two) == two);
}

// A job assigned here running `sleep 987.6` (unique, so pgrep finds only it).
jobs::job long_job() {
  jobs::job j;
  j.id = "5e1f0c1a-0000-4000-8000-000000000001";
  j.command = "sleep 987.6";
  j.status = jobs::job_status::assigned;
  j.assigned_worker = 1;
  j.attempts = 1;
  return j;
}

bool process_running(const std::string& cmdline) {
  return std::system(("pgrep -f '^" + cmdline + "$' > /dev/null").c_str()) == 0;
}

// Waits (bounded, 5 s) until `cmdline` is running, or until it is not.
bool process_becomes(const std::string& cmdline, bool running) {
  auto until = std::chrono::steady_clock::now() + 5s;
  while (process_running(cmdline) != running) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A job reported RUNNING has been spawned, but its shell may not have exec'd
// the command yet (seen on a loaded machine).
bool process_appears(const std::string& cmdline) { return process_becomes(cmdline, true); }

bool job_process_gone() { return process_becomes("sleep 987.6", false); }

jobs::job assigned_here(const std::string& id, const std::string& command) {
  jobs::job j;
  j.id = id;
  j.command = command;
  j.status = jobs::job_status::assigned;
  j.assigned_worker = 1;
  j.attempts = 1;
  return j;
}

TEST_CASE("a job that ends within the RUNNING hold is reported once, by its final update with its start time") {
  // A hold far longer than `true` takes, even on a loaded machine.
  fixture f(true, {}, [](config::node_config& c) { c.worker.running_report_hold_ms = 2000; });
  auto j = assigned_here("5e1f0c1a-0000-4000-8000-0000000000c1", "true");
  const auto t0 = std::chrono::steady_clock::now();
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, j}}, {}});
  auto completed = "1@2:" + j.id + "/JOB_STATUS_COMPLETED,;";
  CHECK(f.wait_log(completed) == completed);
  CHECK(f.started() == j.id + ";");
  // Nothing more comes when its hold ends: the job is no longer here.
  f.self->send(f.transport, done_atom::value, std::uint64_t{1}, true);
  std::this_thread::sleep_until(t0 + 2500ms);
  CHECK(f.log() == completed);
}

TEST_CASE("a job whose end reads before its start (the wall clock stepped back) is reported with a start at its end") {
  fixture f(true, {}, [](config::node_config& c) { c.worker.running_report_hold_ms = 5000; });
  auto j = assigned_here("5e1f0c1a-0000-4000-8000-0000000000c4", "sleep 987.4");
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, j}}, {}});
  // Its end as the executor stamps it, a minute before the start the
  // supervisor stamped (the actor takes the two messages in this order).
  auto end = finished(j.id);
  end.update.set_at_ns(wall_clock_ns() - 60'000'000'000);
  end.update.set_completed_at_ms(ns_to_ms(end.update.at_ns()));
  f.self->send(f.supervisor, done_atom::value, end);
  auto completed = "1@2:" + j.id + "/JOB_STATUS_COMPLETED,;";
  CHECK(f.wait_log(completed) == completed);
  CHECK(f.started() == j.id + ";");  // not one the leader would refuse
}

TEST_CASE("with no RUNNING hold a job is reported RUNNING as it starts, then by its end") {
  fixture f(true, {}, [](config::node_config& c) {
    c.worker.running_report_hold_ms = 0;
    store_all_output(c);
  });
  auto j = assigned_here("5e1f0c1a-0000-4000-8000-0000000000c2", "echo done");
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, j}}, {}});
  auto running = "1@2:" + j.id + "/JOB_STATUS_RUNNING,;";
  REQUIRE(f.wait_log(running) == running);
  // The job ends while batch 1 is unanswered; its final update goes next.
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!std::filesystem::exists(f.dir + "/outputs/" + j.id + "/meta.json") && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  f.self->send(f.transport, done_atom::value, std::uint64_t{1}, true);
  auto both = running + "2@2:" + j.id + "/JOB_STATUS_COMPLETED,;";
  CHECK(f.wait_log(both) == both);
}

TEST_CASE("a job still running when its RUNNING hold ends is reported RUNNING") {
  fixture f(true, {}, [](config::node_config& c) { c.worker.running_report_hold_ms = 100; });
  auto j = assigned_here("5e1f0c1a-0000-4000-8000-0000000000c3", "sleep 987.5");
  const auto t0 = std::chrono::steady_clock::now();
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, j}}, {}});
  auto running = "1@2:" + j.id + "/JOB_STATUS_RUNNING,;";
  REQUIRE(f.wait_log(running) == running);
  CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
  CHECK(f.started().empty());  // RUNNING carries its start as at_ns
  std::size_t stopped = 0;
  f.self->request(f.supervisor, 10s, shutdown_atom::value)
      .receive([&](std::size_t n) { stopped = n; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(stopped == 1);
}

TEST_CASE("beyond capacity a job waits here, in the report, and starts when a slot frees; cancelled, it never starts") {
  fixture f(true, {}, [](config::node_config& c) {
    c.worker.capacity = 1;
    c.worker.prefetch = 2;
  });
  auto job = [](char tag, const std::string& cmd) {
    jobs::job j;
    j.id = std::string("5e1f0c1a-0000-4000-8000-00000000000") + tag;
    j.command = cmd;
    j.status = jobs::job_status::assigned;
    j.assigned_worker = 1;
    j.attempts = 1;
    return j;
  };
  auto a = job('a', "sleep 987.7"), b = job('b', "sleep 987.8"), c = job('c', "sleep 987.9");
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, a},
                                          jobs::job_change{2, jobs::change_kind::created, {}, b},
                                          jobs::job_change{3, jobs::change_kind::created, {}, c}},
                                         {}});
  auto running_a = "1@2:" + a.id + "/JOB_STATUS_RUNNING,;";
  REQUIRE(f.wait_log(running_a) == running_a);  // one slot: only the first starts
  CHECK(process_appears("sleep 987.7"));
  worker_report r = f.report();
  CHECK(r.capacity == 1);
  CHECK(r.prefetch == 2);
  // The leader must not take the waiting ones for lost.
  CHECK(r.running_jobs == std::vector<std::string>{a.id, b.id, c.id});

  // B is cancelled while it waits; then A is cancelled: its slot goes to C.
  auto cancelled = [](jobs::job j) {
    j.status = jobs::job_status::cancelled;
    return j;
  };
  f.self->send(f.supervisor, job_changes{{jobs::job_change{4, jobs::change_kind::updated, jobs::job_status::assigned,
                                                           cancelled(b)}},
                                         {}});
  f.self->send(f.supervisor, job_changes{{jobs::job_change{5, jobs::change_kind::updated, jobs::job_status::assigned,
                                                           cancelled(a)}},
                                         {}});
  f.self->send(f.transport, done_atom::value, std::uint64_t{1}, true);
  // A's end goes as batch 2; C's RUNNING, held for [worker]
  // running_report_hold_ms after its start, follows once batch 2 is answered.
  CHECK(f.wait_contains("2@2:" + a.id + "/JOB_STATUS_CANCELLED"));
  f.self->send(f.transport, done_atom::value, std::uint64_t{2}, true);
  CHECK(f.wait_contains(c.id + "/JOB_STATUS_RUNNING"));
  CHECK(process_appears("sleep 987.9"));
  CHECK(f.log().find(b.id) == std::string::npos);  // never started, never reported
  CHECK_FALSE(process_running("sleep 987.8"));
  std::size_t stopped = 0;
  f.self->request(f.supervisor, 10s, shutdown_atom::value)
      .receive([&](std::size_t n) { stopped = n; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(stopped == 1);
}

TEST_CASE("with short jobs the report offers more prefetch than configured, and the floor again once they are done") {
  // A refill window (config::prefetch_window: the status hold plus 40 ms) of
  // over a second, so that a handful of `true` jobs measure above the floor.
  fixture f(true, {}, [](config::node_config& c) {
    c.worker.capacity = 4;
    c.worker.prefetch = 2;
    c.raft.status_hold_ms = 1000;
  });
  CHECK(f.report().prefetch == 2);  // nothing completed yet
  std::vector<jobs::job_change> changes;
  for (int i = 0; i < 20; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "5e1f0c1a-0000-4000-8000-0000000001%02d", i);
    changes.push_back({static_cast<std::uint64_t>(i + 1), jobs::change_kind::created, {}, assigned_here(id, "true")});
  }
  f.self->send(f.supervisor, job_changes{std::move(changes), {}});
  // The gauge closes a period of at least 1 s when asked: 20 jobs in periods
  // of 1-1.2 s (asked every 200 ms), at least 3 in one of them.
  std::uint32_t most = 0;
  for (auto until = std::chrono::steady_clock::now() + 10s; most <= 2 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(200ms);
    most = std::max(most, f.report().prefetch);
  }
  CHECK(most > 2);
  CHECK(most <= 21);  // 20 jobs in a period of 1 s or more, times 1.04
  std::uint32_t last = most;
  for (auto until = std::chrono::steady_clock::now() + 10s; last != 2 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(200ms);
    last = f.report().prefetch;
  }
  CHECK(last == 2);  // a period with no completion
}

TEST_CASE("shutdown stops a running job without reporting it") {
  fixture f;
  auto j = long_job();
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, j}}, {}});
  auto running = "1@2:" + j.id + "/JOB_STATUS_RUNNING,;";
  REQUIRE(f.wait_log(running) == running);
  f.self->send(f.transport, done_atom::value, std::uint64_t{1}, true);
  std::size_t stopped = 0;
  f.self->request(f.supervisor, 10s, shutdown_atom::value)
      .receive([&](std::size_t n) { stopped = n; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(stopped == 1);
  std::this_thread::sleep_for(500ms);
  CHECK(f.log() == running);  // no CANCELLED report
  CHECK(job_process_gone());
}

TEST_CASE("a job whose supervisor is gone is stopped") {
  fixture f;
  auto j = long_job();
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, j}}, {}});
  auto running = "1@2:" + j.id + "/JOB_STATUS_RUNNING,;";
  REQUIRE(f.wait_log(running) == running);
  f.self->send_exit(f.supervisor, caf::exit_reason::kill);
  CHECK(job_process_gone());
}

TEST_CASE("after a restart no job starts before the node has caught up; then only the latest state counts") {
  fixture f(false);  // raft_node has not reported caught_up yet
  // Replay from a stale restored commit: job A is seen ASSIGNED here, and
  // completes further on in the log; job B is still ASSIGNED at the end.
  auto a = long_job();
  auto b = long_job();
  b.id = "5e1f0c1a-0000-4000-8000-000000000002";
  f.self->send(f.supervisor, job_changes{{jobs::job_change{10, jobs::change_kind::created, {}, a},
                                          jobs::job_change{11, jobs::change_kind::created, {}, b}},
                                         {}});
  std::this_thread::sleep_for(500ms);  // a few supervisor ticks
  CHECK(f.log().empty());              // nothing started, nothing reported
  auto a_done = a;
  a_done.status = jobs::job_status::completed;
  f.self->send(f.supervisor, job_changes{{jobs::job_change{12, jobs::change_kind::updated, a.status, a_done}}, {}});
  f.self->send(f.supervisor, role_change{raft::role::follower, 1, 2, true});
  auto running = "1@2:" + b.id + "/JOB_STATUS_RUNNING,;";
  CHECK(f.wait_log(running) == running);  // B starts; A, completed, never ran again
  std::this_thread::sleep_for(300ms);
  CHECK(f.log() == running);
}

TEST_CASE("an attempt whose start this node recorded before a restart is reported failed, never started again") {
  auto j = long_job();
  // What an earlier process of this node left: the attempt's start record
  // (its RUNNING report never committed, so the table still says ASSIGNED).
  const std::string outputs = "/tmp/troupe-supervisor-test-" + std::to_string(::getpid()) + "/outputs";
  std::filesystem::create_directories(outputs);
  exec::start_journal(outputs).record(j.id, j.attempts);
  fixture f(true, {j});  // the restarted node's table holds the job
  auto failed = "1@2:" + j.id + "/JOB_STATUS_FAILED,;";
  CHECK(f.wait_log(failed) == failed);
  CHECK(std::system("pgrep -f '^sleep 987.6$' > /dev/null") != 0);  // not started
  // Kept until the table moves past the attempt: a second crash before the
  // failure commits must not run it either.
  CHECK(f.journal->recorded(j.id) == std::optional<std::uint32_t>(1));
  // A later attempt (the job re-queued back here) runs as usual.
  f.self->send(f.transport, done_atom::value, std::uint64_t{1}, true);
  j.attempts = 2;
  f.self->send(f.supervisor,
                job_changes{{jobs::job_change{2, jobs::change_kind::updated, jobs::job_status::assigned, j}}, {}});
  auto running = failed + "2@2:" + j.id + "/JOB_STATUS_RUNNING,;";
  CHECK(f.wait_log(running) == running);
  // The executor records the start before the job's process runs; the
  // RUNNING report is queued as it is spawned, so the record may come just after.
  auto recorded = [&] { return f.journal->recorded(j.id); };
  for (int i = 0; i < 250 && recorded() != std::optional<std::uint32_t>(2); ++i) std::this_thread::sleep_for(20ms);
  CHECK(recorded() == std::optional<std::uint32_t>(2));
}

TEST_CASE("a finished job that ran here is never reported again, after it ends or after a restart") {
  auto j = long_job();
  // Its start record, left by the earlier process, outlived its completion.
  const std::string outputs = "/tmp/troupe-supervisor-test-" + std::to_string(::getpid()) + "/outputs";
  std::filesystem::create_directories(outputs);
  exec::start_journal(outputs).record(j.id, j.attempts);
  auto done = j;
  done.status = jobs::job_status::completed;
  done.executed_by = j.assigned_worker;
  fixture f(true, {done});  // the restarted node's table holds it, completed
  f.self->send(f.supervisor, job_changes{{jobs::job_change{1, jobs::change_kind::created, {}, done}}, {}});
  std::this_thread::sleep_for(500ms);  // a few supervisor ticks
  CHECK(f.log().empty());              // once reported "interrupted" for every completed job
  CHECK_FALSE(f.journal->recorded(j.id));  // and the record is dropped: the table is past it
}

namespace {
bool gone_within(const std::string& path, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::filesystem::exists(path)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}
}  // namespace

TEST_CASE("after a restart, start records of jobs no longer live here are dropped once caught up, not before") {
  auto live = long_job();  // the table holds it, ASSIGNED here: its record decides it is not run again
  const std::string gone = "5e1f0c1a-0000-4000-8000-000000000009";  // evicted while the node was down
  const std::string outputs = "/tmp/troupe-supervisor-test-" + std::to_string(::getpid()) + "/outputs";
  std::filesystem::create_directories(outputs);
  {
    exec::start_journal earlier(outputs);
    earlier.record(live.id, live.attempts);
    earlier.record(gone, 4);
  }
  fixture f(false, {live});  // raft_node has not reported caught_up yet
  std::this_thread::sleep_for(300ms);
  // The table may still be behind the records: nothing is dropped yet.
  CHECK(f.journal->recorded(gone) == std::optional<std::uint32_t>(4));
  CHECK(f.journal->recorded(live.id) == std::optional<std::uint32_t>(1));
  f.self->send(f.supervisor, role_change{raft::role::follower, 1, 2, true});
  auto failed = "1@2:" + live.id + "/JOB_STATUS_FAILED,;";
  CHECK(f.wait_log(failed) == failed);
  for (int i = 0; i < 100 && f.journal->recorded(gone); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(f.journal->recorded(gone));
  CHECK(f.journal->recorded(live.id) == std::optional<std::uint32_t>(1));  // until the failure commits
}

TEST_CASE("the output of evicted jobs is deleted, and after a restart that of jobs the table no longer holds") {
  const std::string outputs = "/tmp/troupe-supervisor-test-" + std::to_string(::getpid()) + "/outputs";
  const std::string while_down = outputs + "/5e1f0c1a-0000-4000-8000-000000000003";
  std::filesystem::create_directories(while_down);
  std::ofstream(while_down + "/stdout") << "evicted while the node was down";
  std::filesystem::create_directories(outputs + "/not-a-job-id");
  fixture f;  // caught up, and the table holds no job
  CHECK(gone_within(while_down, 5000ms));
  CHECK(std::filesystem::exists(outputs + "/not-a-job-id"));  // not ours to judge

  jobs::job j;
  j.id = "5e1f0c1a-0000-4000-8000-000000000004";
  j.command = "true";
  j.status = jobs::job_status::completed;
  j.assigned_worker = 1;
  j.attempts = 1;
  const std::string evicted = outputs + "/" + j.id;
  std::filesystem::create_directories(evicted);
  std::ofstream(evicted + "/stdout") << "done";
  f.self->send(f.supervisor, job_changes{{jobs::job_change{20, jobs::change_kind::created, {}, j}}, {}});
  std::this_thread::sleep_for(200ms);
  CHECK(std::filesystem::exists(evicted));  // still in the table: kept
  f.self->send(f.supervisor,
               job_changes{{jobs::job_change{21, jobs::change_kind::evicted, jobs::job_status::completed, j}}, {}});
  CHECK(gone_within(evicted, 5000ms));
}
