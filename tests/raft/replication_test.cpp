// §5.3 Log replication: consistency check, backtracking, batching, pipelining.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

TEST_CASE("§5.3 proposals are replicated, committed by a majority and applied everywhere") {
  test_cluster c(3);
  c.elect(1);
  for (int i = 0; i < 5; ++i) REQUIRE(c.node(1).propose("cmd" + std::to_string(i)).error == propose_error::none);
  c.drain(1);
  c.deliver_all();
  c.tick_all(1);
  std::vector<std::string> want{"cmd0", "cmd1", "cmd2", "cmd3", "cmd4"};
  for (node_id id : {1, 2, 3}) {
    CHECK(c.node(id).commit_index() == 6);
    CHECK(test::data_of(c.applied(id)) == want);
    CHECK(c.disk(id).last_index() == 6);
  }
}

TEST_CASE("§5.3 followers refuse proposals") {
  test_cluster c(3);
  c.elect(1);
  auto r = c.node(2).propose("x");
  CHECK(r.error == propose_error::not_leader);
  CHECK(c.node(2).last_index() == 1);
}

TEST_CASE("batching: many proposals before take_ready travel in one append per follower") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.drop_all();
  for (int i = 0; i < 100; ++i) c.node(1).propose("p" + std::to_string(i));
  c.drain(1);
  CHECK(c.count(msg_type::append, 2) == 1);
  CHECK(c.count(msg_type::append, 3) == 1);
  REQUIRE(!c.queue().empty());
  CHECK(c.queue().front().entries.size() == 100);
}

TEST_CASE("pipelining: a replicating follower gets up to max_inflight_appends appends before answering") {
  test_cluster c(3, [](config& k) {
    k.max_entries_per_append = 1;
    k.max_inflight_appends = 4;
  });
  c.elect(1);
  c.tick_all(1);
  c.drop_all();
  for (int i = 0; i < 10; ++i) {
    c.node(1).propose("p" + std::to_string(i));
    c.drain(1);
  }
  CHECK(c.count(msg_type::append, 2) == 4);  // window full, the rest waits
  c.deliver_all();
  c.tick_all(3);
  CHECK(c.node(2).commit_index() == 11);
}

TEST_CASE("§5.3 a follower with a divergent log is repaired and conflicting entries are removed") {
  // Node 3 was leader in term 2 and wrote 20 entries nobody else has.
  test_cluster c(3);
  restored_state common;
  common.hs = hard_state{1, 1, 1};
  common.entries = {entry{1, 1, entry_type::noop, {}}};
  restored_state diverged = common;
  diverged.hs = hard_state{2, 3, 1};
  for (index_t i = 2; i <= 21; ++i) diverged.entries.push_back(entry{2, i, entry_type::normal, "stale"});
  restored_state ahead = common;
  ahead.hs = hard_state{3, 1, 1};
  for (index_t i = 2; i <= 4; ++i) ahead.entries.push_back(entry{3, i, entry_type::normal, "good"});
  c.boot(1, ahead);
  c.boot(2, ahead);
  c.boot(3, diverged);
  c.elect(1);
  REQUIRE(c.node(1).state() == role::leader);
  int rejections = 0;
  for (int i = 0; i < 1000 && !c.queue().empty(); ++i) {
    if (c.queue().front().type == msg_type::append_response && c.queue().front().reject) ++rejections;
    c.deliver_one();
  }
  c.tick_all(2);
  CHECK(c.node(3).last_index() == 5);
  CHECK(c.node(3).term_at(4) == 3);
  CHECK(c.node(3).commit_index() == 5);
  CHECK(c.disk(3).last_index() == 5);
  CHECK(c.disk(3).entries.back().term == 4);
  // Fast backtracking skips the whole stale term at once, not one entry per round trip.
  CHECK(rejections <= 2);
}

TEST_CASE("§5.3 a follower missing entries reports a hint and catches up") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.isolate(3);
  for (int i = 0; i < 30; ++i) c.node(1).propose("p" + std::to_string(i));
  c.drain(1);
  c.deliver_all();
  c.heal();
  c.tick_all(5);
  CHECK(c.node(3).last_index() == 31);
  CHECK(test::data_of(c.applied(3)).size() == 30);
}
