// §7 Log compaction and chunked InstallSnapshot.
#include <doctest/doctest.h>

#include <stdexcept>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

namespace {
void commit_n(test_cluster& c, node_id lead, int n, const std::string& prefix) {
  for (int i = 0; i < n; ++i) c.node(lead).propose(prefix + std::to_string(i));
  c.drain(lead);
  c.deliver_all();
  c.tick_all(1);
}
}  // namespace

TEST_CASE("§7 compaction drops the log prefix and keeps later entries") {
  test_cluster c(3);
  c.elect(1);
  commit_n(c, 1, 10, "e");
  REQUIRE(c.node(1).applied_index() == 11);
  CHECK(c.node(1).compact(snapshot{snapshot_meta{8, 1, {}}, "state@8"}).conf == membership::of_voters({1, 2, 3}));
  CHECK(c.node(1).first_index() == 9);
  CHECK(c.node(1).last_index() == 11);
  CHECK(c.node(1).snapshot_metadata().index == 8);
  CHECK(c.node(1).snapshot_metadata().conf == membership::of_voters({1, 2, 3}));
  CHECK_FALSE(c.node(1).term_at(7).has_value());
  CHECK(c.node(1).term_at(8) == 1);
  CHECK(c.node(1).entries(9, 12).size() == 3);
}

TEST_CASE("§7 compacting past the applied index is refused with a precise error") {
  test_cluster c(1);
  c.elect(1);
  CHECK_THROWS_WITH_AS((void)c.node(1).compact(snapshot{snapshot_meta{5, 1, {}}, "s"}),
                       "compact: snapshot index 5 is beyond applied index 1", std::invalid_argument);
}

TEST_CASE("§7 a follower behind the compacted prefix receives the snapshot in chunks") {
  test_cluster c(3, [](config& k) { k.snapshot_chunk_bytes = 4; });
  c.elect(1);
  c.tick_all(1);
  c.isolate(3);
  commit_n(c, 1, 20, "e");
  REQUIRE(c.node(1).applied_index() == 21);
  const std::string state = "the-application-state-at-21";
  CHECK(c.node(1).compact(snapshot{snapshot_meta{21, 1, {}}, state}).index == 21);
  c.heal();
  int chunks = 0;
  for (int round = 0; round < 40 && c.node(3).last_index() < 21; ++round) {
    c.tick(1);
    for (int i = 0; i < 1000 && !c.queue().empty(); ++i) {
      if (c.queue().front().type == msg_type::snapshot) ++chunks;
      c.deliver_one();
    }
  }
  REQUIRE(c.installed(3).size() == 1);
  CHECK(c.installed(3)[0].data == state);
  CHECK(c.installed(3)[0].meta.index == 21);
  CHECK(chunks >= static_cast<int>((state.size() + 3) / 4));
  CHECK(c.node(3).applied_index() == 21);
  CHECK(c.disk(3).snap.meta.index == 21);
  CHECK(c.disk(3).entries.empty());
  commit_n(c, 1, 2, "after");
  CHECK(test::data_of(c.applied(3)) == std::vector<std::string>{"after0", "after1"});
}

TEST_CASE("§7 a follower that restarts mid-transfer starts the snapshot over") {
  test_cluster c(3, [](config& k) { k.snapshot_chunk_bytes = 2; });
  c.elect(1);
  c.tick_all(1);
  c.isolate(3);
  commit_n(c, 1, 5, "e");
  CHECK(c.node(1).compact(snapshot{snapshot_meta{6, 1, {}}, "0123456789"}).index == 6);
  c.heal();
  c.tick(1);
  for (int i = 0; i < 6; ++i) c.deliver_one();  // a few chunks in
  c.crash(3);
  c.restart(3);
  c.drop_all();
  for (int round = 0; round < 40 && c.installed(3).empty(); ++round) {
    c.tick(1);
    c.deliver_all();
  }
  REQUIRE(c.installed(3).size() == 1);
  CHECK(c.installed(3)[0].data == "0123456789");
}

TEST_CASE("§7 the stored snapshot's bytes can be swapped for the same bytes held elsewhere") {
  test_cluster c(3, [](config& k) { k.snapshot_chunk_bytes = 8; });
  c.elect(1);
  c.tick_all(1);
  CHECK_FALSE(c.node(1).replace_snapshot_data(0, snapshot_bytes("x")));  // nothing stored yet
  c.isolate(3);
  commit_n(c, 1, 10, "e");
  REQUIRE(c.node(1).compact(snapshot{snapshot_meta{11, 1, {}}, "state-at-11-on-the-heap"}).index == 11);
  // The app's file holds the same bytes; this test marks them (upper case)
  // only to see which ones the follower is sent. Owned by a shared string
  // as a mapping would be by its owner.
  auto file = std::make_shared<const std::string>("STATE-AT-11-ON-THE-HEAP");
  CHECK_FALSE(c.node(1).replace_snapshot_data(10, snapshot_bytes(*file, file)));  // another snapshot
  CHECK_FALSE(c.node(1).replace_snapshot_data(11, snapshot_bytes("short")));     // other bytes
  CHECK(c.node(1).replace_snapshot_data(11, snapshot_bytes(*file, file)));
  file.reset();  // the core's handle keeps the bytes alive
  c.heal();
  for (int round = 0; round < 40 && c.node(3).applied_index() < 11; ++round) {
    c.tick(1);
    c.deliver_all();
  }
  REQUIRE(c.installed(3).size() == 1);
  CHECK(c.installed(3)[0].data == "STATE-AT-11-ON-THE-HEAP");
}
