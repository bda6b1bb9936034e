// This node's own snapshot is written a piece per message by snapshot_writer,
// as the table encodes it, beside the log that log_store keeps appending to;
// log_store installs the finished file. A snapshot from the leader persisted
// in between wins: the older local one is removed, not installed. Either,
// once installed, comes back mapped from its file.
#define CAF_SUITE log_store
#include "tests/actors/fixture.hpp"

#include "runtime/storage/state_files.hpp"

using namespace troupe;
using namespace troupe::test;

namespace {

std::vector<raft::entry> entries(raft::index_t from, raft::index_t to) {
  std::vector<raft::entry> out;
  for (raft::index_t i = from; i <= to; ++i) out.push_back(raft::entry{1, i, raft::entry_type::normal, "e"});
  return out;
}

const raft::snapshot_meta local_meta{5, 1, raft::membership::of_voters({1})};

snapshot_piece piece(std::string bytes, bool first, bool last, const raft::snapshot_meta& meta = local_meta) {
  return snapshot_piece{meta, std::move(bytes), first, last};
}

struct log_store_fixture : sim_fixture {
  temp_dir dir;
  std::shared_ptr<storage::segmented_log> log =
      std::make_shared<storage::segmented_log>(storage::segmented_log::open(dir.path));
  log_store_actor store = own(sys.spawn(log_store, log, dir.path, raft::hard_state{}, raft::index_t{0}));
  snapshot_writer_actor writer = own(sys.spawn(snapshot_writer, dir.path));

  std::string tmp_file(raft::index_t index) const {
    return storage::snapshot_path(dir.path) + "." + std::to_string(index) + ".tmp";
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(log_store_tests, log_store_fixture)

CAF_TEST(appends go on while the pieces of a snapshot are written and log_store installs the finished file) {
  auto first = ask<persist_done>(store, persist_atom::value, persist_request{std::nullopt, std::nullopt, entries(1, 10)});
  CAF_REQUIRE(first->value);
  const std::string a(300000, 'a'), b(200000, 'b'), c(7, 'c');
  auto p1 = ask<std::uint64_t>(writer, write_atom::value, piece(a, true, false));
  CAF_REQUIRE(p1->value);
  CAF_CHECK_EQUAL(*p1->value, a.size());
  // Written beside the files a restart reads, not yet installed.
  CAF_CHECK(std::filesystem::exists(tmp_file(5)));
  CAF_CHECK(!storage::load_snapshot(dir.path));
  auto append = ask<persist_done>(store, persist_atom::value, persist_request{std::nullopt, std::nullopt, entries(11, 12)});
  CAF_REQUIRE(append->value);
  CAF_CHECK_EQUAL(log->last_index(), 12u);
  auto p2 = ask<std::uint64_t>(writer, write_atom::value, piece(b, false, false));
  CAF_REQUIRE(p2->value);
  auto p3 = ask<std::uint64_t>(writer, write_atom::value, piece(c, false, true));
  CAF_REQUIRE(p3->value);
  CAF_CHECK_EQUAL(*p3->value, a.size() + b.size() + c.size());
  // Finished and synced, still not the node's snapshot: installing is log_store's.
  CAF_CHECK(std::filesystem::exists(tmp_file(5)));
  CAF_CHECK(!storage::load_snapshot(dir.path));
  auto installed = ask<persist_done>(store, install_atom::value, raft::index_t{5});
  CAF_REQUIRE(installed->value);
  auto saved = storage::load_snapshot(dir.path);
  CAF_REQUIRE(saved);
  CAF_CHECK_EQUAL(saved->meta.index, 5u);
  CAF_CHECK(saved->meta.conf == local_meta.conf);
  CAF_CHECK(saved->data == a + b + c);
  CAF_CHECK(!std::filesystem::exists(tmp_file(5)));
  CAF_CHECK_EQUAL(log->last_index(), 12u);
  // The install's reply maps the installed file for the core; an append's has none.
  CAF_CHECK_EQUAL(installed->value->snapshot_index, 5u);
  CAF_CHECK(installed->value->snapshot_file == a + b + c);
  CAF_CHECK(append->value->snapshot_file.empty());
}

CAF_TEST(a snapshot from the leader persisted during a local write wins over it) {
  auto first = ask<persist_done>(store, persist_atom::value, persist_request{std::nullopt, std::nullopt, entries(1, 10)});
  CAF_REQUIRE(first->value);
  auto p1 = ask<std::uint64_t>(writer, write_atom::value, piece("local", true, false));
  CAF_REQUIRE(p1->value);
  CAF_CHECK(std::filesystem::exists(tmp_file(5)));
  const raft::snapshot from_leader{{20, 2, raft::membership::of_voters({1})}, "leader's state"};
  auto installed = ask<persist_done>(store, persist_atom::value, persist_request{std::nullopt, from_leader, entries(21, 22)});
  CAF_REQUIRE(installed->value);
  CAF_CHECK_EQUAL(log->read(21, 23).size(), 2u);
  // The leader's snapshot comes back mapped from its file.
  CAF_CHECK_EQUAL(installed->value->snapshot_index, 20u);
  CAF_CHECK(installed->value->snapshot_file == "leader's state");
  // The local write, older, is finished but not installed: removed, and the
  // reply carries no data for the core.
  auto p2 = ask<std::uint64_t>(writer, write_atom::value, piece(" state", false, true));
  CAF_REQUIRE(p2->value);
  auto refused = ask<persist_done>(store, install_atom::value, raft::index_t{5});
  CAF_REQUIRE(refused->value);
  CAF_CHECK(refused->value->snapshot_file.empty());
  CAF_CHECK(!std::filesystem::exists(tmp_file(5)));
  auto saved = storage::load_snapshot(dir.path);
  CAF_REQUIRE(saved);
  CAF_CHECK_EQUAL(saved->meta.index, 20u);
  CAF_CHECK(saved->data == "leader's state");
  CAF_CHECK_EQUAL(log->read(21, 23).size(), 2u);
}

CAF_TEST(a cancelled snapshot loses its file and refuses its next piece) {
  auto p1 = ask<std::uint64_t>(writer, write_atom::value, piece("local", true, false));
  CAF_REQUIRE(p1->value);
  CAF_CHECK(std::filesystem::exists(tmp_file(5)));
  caf::anon_send(writer, cancel_atom::value);
  sched.run();
  CAF_CHECK(!std::filesystem::exists(tmp_file(5)));
  auto p2 = ask<std::uint64_t>(writer, write_atom::value, piece(" state", false, true));
  CAF_CHECK(!p2->value);
  CAF_REQUIRE(p2->error);
  CAF_CHECK(p2->error->code == errc::unavailable);
  CAF_CHECK(p2->error->message.find("dropped") != std::string::npos);
  CAF_CHECK(!storage::load_snapshot(dir.path));
  // The next snapshot starts afresh.
  auto again = ask<std::uint64_t>(writer, write_atom::value, piece("whole", true, true));
  CAF_REQUIRE(again->value);
  auto installed = ask<persist_done>(store, install_atom::value, raft::index_t{5});
  CAF_REQUIRE(installed->value);
  CAF_CHECK(installed->value->snapshot_file == "whole");
}

CAF_TEST_FIXTURE_SCOPE_END()
