// log_store writes a snapshot a piece per message: the appends that arrive
// meanwhile are persisted between the pieces, not after the whole file, and
// a snapshot from the leader persisted in between drops the older local one.
// Either, once installed, comes back mapped from its file.
#define CAF_SUITE log_store
#include "tests/actors/fixture.hpp"

#include "config/limits.hpp"
#include "runtime/storage/state_files.hpp"

using namespace troupe;
using namespace troupe::test;

namespace {

std::vector<raft::entry> entries(raft::index_t from, raft::index_t to) {
  std::vector<raft::entry> out;
  for (raft::index_t i = from; i <= to; ++i) out.push_back(raft::entry{1, i, raft::entry_type::normal, "e"});
  return out;
}

// Three pieces of config::snapshot_write_piece_bytes, the last one short.
raft::snapshot local_snapshot(raft::index_t index) {
  return raft::snapshot{{index, 1, raft::membership::of_voters({1})},
                        std::string(2 * config::snapshot_write_piece_bytes + 100, 's')};
}

struct log_store_fixture : sim_fixture {
  temp_dir dir;
  std::shared_ptr<storage::segmented_log> log =
      std::make_shared<storage::segmented_log>(storage::segmented_log::open(dir.path));
  log_store_actor store = own(sys.spawn(log_store, log, dir.path, raft::hard_state{}, raft::index_t{0}));

  // Sends a request without running anything; the answer lands once it ran.
  template <class... Ts>
  std::shared_ptr<answer<persist_done>> send_request(Ts... xs) {
    auto a = std::make_shared<answer<persist_done>>();
    sys.spawn([=](caf::event_based_actor* s) {
      s->request(store, caf::infinite, xs...).then([=](persist_done& v) { a->value = v; },
                                                   [=](caf::error& e) { a->error = describe(e); });
    });
    return a;
  }

  // Runs one message at a time until `done`; false if nothing is left to run first.
  template <class Predicate>
  bool run_until(Predicate done) {
    while (!done())
      if (!sched.try_run_once()) return false;
    return true;
  }

  std::string tmp_file(raft::index_t index) const {
    return storage::snapshot_path(dir.path) + "." + std::to_string(index) + ".tmp";
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(log_store_tests, log_store_fixture)

CAF_TEST(an append waits for one piece of a snapshot write not for the whole file) {
  auto first = ask<persist_done>(store, persist_atom::value, persist_request{std::nullopt, std::nullopt, entries(1, 10)});
  CAF_REQUIRE(first->value);
  auto snap = send_request(compact_atom::value, snapshot_blob{local_snapshot(5)});
  auto append = send_request(persist_atom::value, persist_request{std::nullopt, std::nullopt, entries(11, 12)});
  // The append is on disk while the snapshot is still being written, beside
  // the files a restart reads.
  CAF_REQUIRE(run_until([&] { return log->last_index() == 12; }));
  CAF_CHECK(std::filesystem::exists(tmp_file(5)));
  CAF_CHECK(!storage::load_snapshot(dir.path));
  // Another append, once the write is under way, also goes before its end.
  CAF_REQUIRE(sched.try_run_once());
  // Straight into the mailbox, behind the next piece (the test coordinator
  // runs the store until its mailbox is empty, before any requester).
  caf::anon_send(store, persist_atom::value, persist_request{std::nullopt, std::nullopt, entries(13, 13)});
  CAF_REQUIRE(run_until([&] { return log->last_index() == 13; }));
  CAF_CHECK(std::filesystem::exists(tmp_file(5)));
  CAF_CHECK(!storage::load_snapshot(dir.path));
  settle();
  CAF_REQUIRE(snap->value);
  auto saved = storage::load_snapshot(dir.path);
  CAF_REQUIRE(saved);
  CAF_CHECK_EQUAL(saved->meta.index, 5u);
  CAF_CHECK(saved->data == local_snapshot(5).data.view());
  CAF_CHECK(!std::filesystem::exists(tmp_file(5)));
  CAF_CHECK(append->value);
  CAF_CHECK_EQUAL(log->last_index(), 13u);
  // The reply maps the installed file for the core; an append's has none.
  CAF_CHECK_EQUAL(snap->value->snapshot_index, 5u);
  CAF_CHECK(snap->value->snapshot_file == local_snapshot(5).data.view());
  CAF_CHECK(append->value->snapshot_file.empty());
}

CAF_TEST(a snapshot from the leader persisted during a local write drops it) {
  auto first = ask<persist_done>(store, persist_atom::value, persist_request{std::nullopt, std::nullopt, entries(1, 10)});
  CAF_REQUIRE(first->value);
  auto local = send_request(compact_atom::value, snapshot_blob{local_snapshot(5)});
  const raft::snapshot from_leader{{20, 2, raft::membership::of_voters({1})}, "leader's state"};
  auto installed = send_request(persist_atom::value, persist_request{std::nullopt, from_leader, entries(21, 22)});
  CAF_REQUIRE(run_until([&] { return log->last_index() == 22; }));
  // The local write, older, was dropped there and then: its file is gone
  // and nothing of it is installed later; the log holds what followed the
  // leader's snapshot.
  CAF_CHECK(!std::filesystem::exists(tmp_file(5)));
  settle();
  CAF_REQUIRE(installed->value);
  CAF_REQUIRE(local->value);
  auto saved = storage::load_snapshot(dir.path);
  CAF_REQUIRE(saved);
  CAF_CHECK_EQUAL(saved->meta.index, 20u);
  CAF_CHECK(saved->data == "leader's state");
  CAF_CHECK(!std::filesystem::exists(tmp_file(5)));
  CAF_CHECK_EQUAL(log->read(21, 23).size(), 2u);
  // The leader's snapshot comes back mapped from its file; the dropped
  // local one has nothing to map.
  CAF_CHECK_EQUAL(installed->value->snapshot_index, 20u);
  CAF_CHECK(installed->value->snapshot_file == "leader's state");
  CAF_CHECK(local->value->snapshot_file.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
