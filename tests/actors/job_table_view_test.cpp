// job_table's scoped subscription (listener_view): the dispatcher and the
// supervisor start from it instead of a copy of every job, so it must hold
// exactly what they would have taken from the full job_snapshot_view. And its
// snapshot in pieces, with entries applied in between.
#define CAF_SUITE job_table_view
#include "tests/actors/fixture.hpp"

#include <algorithm>

#include "actors/backup_taker.hpp"
#include "config/limits.hpp"
#include "runtime/backup/spool_file.hpp"

using namespace troupe;
using namespace troupe::test;

namespace {

logpb::Command submit(const std::string& id, std::int64_t created_ns) {
  logpb::Command c;
  auto* s = c.mutable_submit_job();
  s->set_job_id(id);
  s->set_command("true");
  s->set_created_at_ns(created_ns);
  return c;
}

logpb::Command assign(const std::string& id, std::uint64_t worker) {
  logpb::Command c;
  auto* a = c.mutable_assign_job();
  a->set_job_id(id);
  a->set_worker_id(worker);
  a->set_assigned_at_ns(1);
  return c;
}

logpb::Command report(const std::string& id, std::uint64_t worker, scheduler::JobStatus s, std::int64_t at_ns) {
  logpb::Command c;
  auto* u = c.mutable_batch_update_job_status()->add_updates();
  u->set_job_id(id);
  u->set_status(s);
  u->set_executed_by(worker);
  u->set_attempt(1);
  u->set_at_ns(at_ns);
  return c;
}

logpb::Command cancel(const std::string& id) {
  logpb::Command c;
  c.mutable_cancel_job()->set_job_id(id);
  c.mutable_cancel_job()->set_cancelled_at_ns(5);
  return c;
}

logpb::Command drain(std::uint64_t worker) {
  logpb::Command c;
  c.mutable_set_worker_draining()->set_worker_id(worker);
  c.mutable_set_worker_draining()->set_draining(true);
  return c;
}

change_listener::behavior_type silent_listener() {
  return {[](const job_changes&) {}};
}

struct view_fixture : sim_fixture {
  job_table_actor table = own(sys.spawn(job_table));
  change_listener listener = own(sys.spawn(silent_listener));
  std::uint64_t next_index = 1;

  void commit(const logpb::Command& cmd) {
    raft::entry e;
    e.term = 1;
    e.index = next_index++;
    e.data = cmd.SerializeAsString();
    self->send(table, apply_atom::value, entry_batch{{e}});
    settle();
  }

  // n submits in one batch: <prefix>0, <prefix>1, ..., created at created, created + 1, ...
  void commit_submits(const std::string& prefix, int n, std::int64_t created) {
    std::vector<raft::entry> batch;
    for (int i = 0; i < n; ++i) {
      raft::entry e;
      e.term = 1;
      e.index = next_index++;
      e.data = submit(prefix + std::to_string(i), created + i).SerializeAsString();
      batch.push_back(std::move(e));
    }
    self->send(table, apply_atom::value, entry_batch{batch});
    settle();
  }

  // Jobs on workers 1 and 2 in every status, created out of id order; worker 2 drained.
  void fill() {
    for (std::uint64_t w : {1, 2}) {
      logpb::Command c;
      c.mutable_register_worker()->set_worker_id(w);
      c.mutable_register_worker()->set_address("127.0.0.1:" + std::to_string(50050 + w));
      commit(c);
    }
    for (int i = 0; i < 24; ++i) {
      const std::string id = "job-" + std::to_string(100 - i);
      const std::uint64_t w = 1 + i % 2;
      commit(submit(id, 1000 + i / 2));  // pairs share a creation time
      switch (i % 6) {
        case 0: break;  // pending
        case 1: commit(assign(id, w)); break;
        case 2: commit(assign(id, w)), commit(report(id, w, scheduler::JOB_STATUS_RUNNING, 10)); break;
        case 3: commit(assign(id, w)), commit(report(id, w, scheduler::JOB_STATUS_COMPLETED, 9000 - i)); break;
        case 4: commit(assign(id, w)), commit(report(id, w, scheduler::JOB_STATUS_FAILED, 9000 + i)); break;
        case 5: commit(cancel(id)); break;
      }
    }
    commit(drain(2));
  }

  listener_view scoped(listener_scope scope) {
    auto a = ask<listener_view>(table, subscribe_atom::value, listener, scope);
    CAF_REQUIRE(a->value);
    return *a->value;
  }
  job_snapshot_view full() {
    auto a = ask<job_snapshot_view>(table, subscribe_atom::value, listener);
    CAF_REQUIRE(a->value);
    return *a->value;
  }
};

std::vector<std::string> ids_of(const std::vector<jobs::job>& js) {
  std::vector<std::string> out;
  for (const auto& j : js) out.push_back(j.id);
  return out;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(job_table_view_tests, view_fixture)

CAF_TEST(a scoped view holds what the full view holds filtered as asked) {
  fill();
  const job_snapshot_view all = full();
  CAF_REQUIRE_EQUAL(all.jobs.size(), 24u);

  // The dispatcher's scope: every non-terminal job in full, (completion, id) of the rest.
  listener_scope dispatcher;
  dispatcher.active = true;
  dispatcher.finished = true;
  const listener_view d = scoped(dispatcher);
  CAF_CHECK_EQUAL(d.applied_index, all.applied_index);
  CAF_CHECK_EQUAL(d.draining, all.draining);
  CAF_CHECK_EQUAL(d.draining, (std::set<std::uint64_t>{2}));
  std::vector<jobs::job> active;
  std::vector<std::pair<std::int64_t, std::string>> finished;
  for (const auto& j : all.jobs) {
    if (!jobs::is_terminal(j.status))
      active.push_back(j);
    else
      finished.emplace_back(j.completed_at_ns.value_or(j.created_at_ns), j.id);
  }
  std::sort(finished.begin(), finished.end());
  CAF_CHECK(d.active == active);  // same jobs, same (creation) order
  CAF_CHECK_EQUAL(d.finished, finished);
  CAF_CHECK(d.ids.empty());

  // The supervisor's scope on node 1: its non-terminal jobs and every id.
  listener_scope supervisor;
  supervisor.active = true;
  supervisor.active_on = 1;
  supervisor.ids = true;
  const listener_view s = scoped(supervisor);
  std::vector<jobs::job> mine;
  for (const auto& j : all.jobs)
    if (!jobs::is_terminal(j.status) && j.assigned_worker == 1) mine.push_back(j);
  CAF_CHECK(!mine.empty());
  CAF_CHECK(s.active == mine);
  CAF_CHECK_EQUAL(s.ids, ids_of(all.jobs));
  CAF_CHECK(s.finished.empty());

  // Nothing asked: only the applied index and the drains.
  const listener_view none = scoped(listener_scope{});
  CAF_CHECK(none.active.empty() && none.finished.empty() && none.ids.empty());
  CAF_CHECK_EQUAL(none.draining, all.draining);
}

CAF_TEST(a scoped subscriber gets the change stream like any other) {
  std::vector<job_changes> got;
  auto recorder = own(sys.spawn([&got]() -> change_listener::behavior_type {
    return {[&got](const job_changes& jc) { got.push_back(jc); }};
  }));
  auto a = ask<listener_view>(table, subscribe_atom::value, recorder, listener_scope{});
  CAF_REQUIRE(a->value);
  commit(submit("job-1", 1000));
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_REQUIRE_EQUAL(got[0].changes.size(), 1u);
  CAF_CHECK_EQUAL(got[0].changes[0].after.id, "job-1");
  CAF_CHECK(got[0].changes[0].kind == jobs::change_kind::created);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

// Takes a backup's pieces from the table one request at a time, when the
// test says (pull), so that the test can commit entries and take a
// compaction's pieces in between. It is the backup's taker: its end drops
// the backup.
struct pulled {
  std::uint64_t id = 0;
  std::vector<backup_piece> pieces;
  std::optional<error_info> error;
  std::string bytes() const {
    std::string b;
    for (const auto& p : pieces) b += p.bytes;
    return b;
  }
  bool last() const { return !pieces.empty() && pieces.back().last; }
};

caf::behavior backup_puller(caf::event_based_actor* self, job_table_actor table, std::shared_ptr<pulled> out) {
  return {[=](run_atom) {
    auto on_piece = [=](backup_piece& p) {
      out->id = p.id;
      out->pieces.push_back(std::move(p));
    };
    auto on_error = [=](caf::error& e) { out->error = describe(e); };
    if (out->id == 0)
      self->request(table, caf::infinite, backup_atom::value).then(on_piece, on_error);
    else
      self->request(table, caf::infinite, backup_atom::value, out->id).then(on_piece, on_error);
  }};
}

}  // namespace

// Snapshots are taken a piece per request, compactions and backups alike:
// entries committed meanwhile are applied between the pieces, and the pieces
// still make up the table as it was when it began.
struct snapshot_fixture : view_fixture {
  temp_dir spool_dir;

  // A whole backup, as AdminService.SaveSnapshot takes it (backup_taker),
  // and its bytes read back from the spool file.
  std::pair<table_image, std::string> backup(std::uint64_t min_index = 0) {
    auto taker = sys.spawn(backup_taker, table, spool_dir.path, min_index);
    auto a = ask<table_image>(taker, backup_atom::value);
    CAF_REQUIRE(a->value);
    CAF_REQUIRE(a->value->data);
    std::string bytes(a->value->data->size(), '\0');
    a->value->data->read(0, bytes.data(), bytes.size());
    return {*a->value, bytes};
  }

  std::shared_ptr<pulled> start_pulling(caf::actor& puller) {
    auto out = std::make_shared<pulled>();
    puller = sys.spawn(backup_puller, table, out);
    return out;
  }
  void pull(const caf::actor& puller) {
    self->send(puller, run_atom::value);
    settle();
  }
};

CAF_TEST_FIXTURE_SCOPE(job_table_snapshot_tests, snapshot_fixture)

CAF_TEST(entries apply between the pieces of a snapshot which holds the table as it began) {
  const int jobs_before = static_cast<int>(2 * config::snapshot_piece_jobs + 10);  // three pieces
  commit_submits("job-", jobs_before, 1000);
  const std::uint64_t index = next_index - 1;
  // A backup taken whole with nothing applied in between: the table at this index.
  auto [image, before] = backup(index);
  CAF_CHECK_EQUAL(image.index, index);
  CAF_CHECK_EQUAL(image.job_count, static_cast<std::uint64_t>(jobs_before));

  auto first = ask<snapshot_piece>(table, compact_atom::value);
  CAF_REQUIRE(first->value);
  CAF_CHECK(first->value->first);
  CAF_CHECK(!first->value->last);
  CAF_CHECK_EQUAL(first->value->meta.index, index);
  std::string bytes = first->value->bytes;
  // Between the pieces: a change, a cancel and a new job, none of them in
  // the snapshot.
  commit(cancel("job-5"));
  commit(submit("job-new", 500));
  auto during = ask<job_lookup>(table, get_atom::value, std::string("job-5"));
  CAF_REQUIRE(during->value && during->value->found);
  CAF_CHECK(during->value->job.status == jobs::job_status::cancelled);
  int pieces = 1;
  for (bool last = false; !last && pieces < 10; ++pieces) {
    auto next = ask<snapshot_piece>(table, write_atom::value);
    CAF_REQUIRE(next->value);
    CAF_CHECK(!next->value->first);
    CAF_CHECK_EQUAL(next->value->meta.index, index);
    bytes += next->value->bytes;
    last = next->value->last;
    if (pieces == 1) commit(cancel("job-20005"));  // in the last piece: kept as it was
  }
  CAF_CHECK_EQUAL(pieces, 3);
  CAF_CHECK(bytes == before);
  // Over: a further request says no snapshot is in progress.
  auto after = ask<snapshot_piece>(table, write_atom::value);
  CAF_REQUIRE(after->value);
  CAF_CHECK_EQUAL(after->value->meta.index, 0u);
}

CAF_TEST(a snapshot cancelled or replaced by one from the leader has no next piece) {
  commit(submit("job-1", 1000));
  auto begun = ask<snapshot_piece>(table, compact_atom::value);
  CAF_REQUIRE(begun->value);
  CAF_CHECK(begun->value->last);  // one job: one piece
  auto again = ask<snapshot_piece>(table, compact_atom::value);  // a new one begins
  CAF_REQUIRE(again->value);
  CAF_CHECK(again->value->bytes == begun->value->bytes);

  commit_submits("job-more-", static_cast<int>(config::snapshot_piece_jobs), 2000);  // a second piece
  auto cancelled = ask<snapshot_piece>(table, compact_atom::value);
  CAF_REQUIRE(cancelled->value);
  CAF_CHECK(!cancelled->value->last);
  self->send(table, cancel_atom::value, compact_atom::value);
  settle();
  auto none = ask<snapshot_piece>(table, write_atom::value);
  CAF_REQUIRE(none->value);
  CAF_CHECK_EQUAL(none->value->meta.index, 0u);

  auto replaced = ask<snapshot_piece>(table, compact_atom::value);
  CAF_REQUIRE(replaced->value);
  CAF_CHECK(!replaced->value->last);
  auto [image, bytes] = backup();
  raft::snapshot from_leader{{image.index, 1, {}}, bytes};
  auto restored = ask<std::uint64_t>(table, restore_atom::value, snapshot_blob{from_leader});
  CAF_REQUIRE(restored->value);
  none = ask<snapshot_piece>(table, write_atom::value);
  CAF_REQUIRE(none->value);
  CAF_CHECK_EQUAL(none->value->meta.index, 0u);
}

// A backup (AdminService.SaveSnapshot) and a compaction at once, each with
// its own image, while entries apply between every piece of either.
CAF_TEST(a backup and a compaction in progress at once each hold the table as it began) {
  commit_submits("job-", static_cast<int>(2 * config::snapshot_piece_jobs + 10), 1000);  // three pieces
  const std::uint64_t backup_index = next_index - 1;
  const std::string at_backup = backup().second;
  caf::actor puller;
  auto pulled = start_pulling(puller);
  pull(puller);
  CAF_REQUIRE(!pulled->error);
  CAF_REQUIRE_EQUAL(pulled->pieces.size(), 1u);

  commit(cancel("job-5"));  // already in the backup's first piece
  commit(cancel("job-15000"));  // still to come in it: kept as it was
  commit(submit("job-new", 500));  // added since: in neither image below
  const std::uint64_t compaction_index = next_index - 1;
  auto first = ask<snapshot_piece>(table, compact_atom::value);
  CAF_REQUIRE(first->value);
  CAF_CHECK_EQUAL(first->value->meta.index, compaction_index);
  const std::string at_compaction = backup().second;  // nothing applied since the compaction began
  CAF_CHECK(at_compaction != at_backup);
  std::string compacted = first->value->bytes;
  bool compaction_done = first->value->last;
  for (int round = 0; round < 10 && !(compaction_done && pulled->last()); ++round) {
    if (!pulled->last()) pull(puller);
    commit(cancel("job-" + std::to_string(20000 - round)));  // late in both images: kept by each as it was
    if (!compaction_done) {
      auto next = ask<snapshot_piece>(table, write_atom::value);
      CAF_REQUIRE(next->value);
      compacted += next->value->bytes;
      compaction_done = next->value->last;
    }
    commit(submit("job-later-" + std::to_string(round), 100 + round));
  }
  CAF_REQUIRE(!pulled->error);
  CAF_REQUIRE(pulled->last());
  CAF_REQUIRE(compaction_done);
  CAF_CHECK_EQUAL(pulled->pieces.size(), 3u);
  for (const auto& p : pulled->pieces) {
    CAF_CHECK_EQUAL(p.index, backup_index);
    CAF_CHECK_EQUAL(p.job_count, 2 * config::snapshot_piece_jobs + 10);
  }
  CAF_CHECK(pulled->bytes() == at_backup);
  CAF_CHECK(compacted == at_compaction);
  // Both over: a further request finds neither.
  auto after = ask<snapshot_piece>(table, write_atom::value);
  CAF_REQUIRE(after->value);
  CAF_CHECK_EQUAL(after->value->meta.index, 0u);
  pull(puller);
  CAF_REQUIRE(pulled->error);
  CAF_CHECK(pulled->error->code == errc::unavailable);
  anon_send_exit(puller, caf::exit_reason::user_shutdown);
  settle();
}

CAF_TEST(a backup is dropped when its taker ends or a snapshot from the leader replaces the table) {
  commit_submits("job-", static_cast<int>(config::snapshot_piece_jobs + 10), 1000);  // two pieces
  caf::actor puller;
  auto gone = start_pulling(puller);
  pull(puller);
  CAF_REQUIRE_EQUAL(gone->pieces.size(), 1u);
  anon_send_exit(puller, caf::exit_reason::user_shutdown);
  settle();
  caf::actor other;
  auto late = start_pulling(other);
  late->id = gone->id;  // its next piece, asked by someone else once the taker ended
  pull(other);
  CAF_REQUIRE(late->error);
  CAF_CHECK(late->error->code == errc::unavailable);
  anon_send_exit(other, caf::exit_reason::user_shutdown);

  auto replaced = start_pulling(puller);
  pull(puller);
  CAF_REQUIRE_EQUAL(replaced->pieces.size(), 1u);
  auto [image, bytes] = backup();
  raft::snapshot from_leader{{image.index, 1, {}}, bytes};
  auto restored = ask<std::uint64_t>(table, restore_atom::value, snapshot_blob{from_leader});
  CAF_REQUIRE(restored->value);
  pull(puller);
  CAF_REQUIRE(replaced->error);
  CAF_CHECK(replaced->error->code == errc::unavailable);
  CAF_CHECK_EQUAL(replaced->pieces.size(), 1u);
  anon_send_exit(puller, caf::exit_reason::user_shutdown);
  settle();

  // The table goes on, and a backup after all this is the table again.
  CAF_CHECK(backup().second == bytes);
}

CAF_TEST(a backup_taker refuses an image below the index it must cover) {
  commit(submit("job-1", 1000));
  auto taker = sys.spawn(backup_taker, table, spool_dir.path, next_index + 5);
  auto a = ask<table_image>(taker, backup_atom::value);
  CAF_REQUIRE(a->error);
  CAF_CHECK(a->error->code == errc::internal);
  CAF_CHECK(a->error->message.find("below the read index") != std::string::npos);
  // And one whose spool cannot be made says so.
  auto nowhere = sys.spawn(backup_taker, table, spool_dir.path + "/missing", std::uint64_t{0});
  auto b = ask<table_image>(nowhere, backup_atom::value);
  CAF_REQUIRE(b->error);
  CAF_CHECK(b->error->code == errc::internal);
  CAF_CHECK(b->error->message.find("cannot spool the backup") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
