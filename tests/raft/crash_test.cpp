// §5.5 Follower and candidate crashes: restart from the durable store.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

TEST_CASE("§5.5 a crashed follower restarts from its disk and catches up") {
  test_cluster c(3);
  c.elect(1);
  c.node(1).propose("a");
  c.drain(1);
  c.deliver_all();
  c.tick_all(1);
  c.crash(3);
  c.node(1).propose("b");
  c.node(1).propose("c");
  c.drain(1);
  c.deliver_all();
  c.restart(3);
  CHECK(c.node(3).term() == 1);
  CHECK(c.node(3).last_index() == 2);
  CHECK(c.node(3).applied_index() == 0);  // no snapshot: the log is re-applied
  c.tick_all(3);
  CHECK(c.node(3).last_index() == 4);
  CHECK(test::data_of(c.applied(3)) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("§5.5 a restarted voter remembers its vote and cannot vote twice in a term") {
  test_cluster c(3, [](config& k) { k.pre_vote = false; k.check_quorum = false; });
  c.tick(1, 20);
  REQUIRE(c.deliver_one([](const message& m) { return m.to == 2; }));
  REQUIRE(c.node(2).vote() == 1);
  c.crash(2);
  c.restart(2);
  CHECK(c.node(2).vote() == 1);
  CHECK(c.node(2).term() == 1);
  // Node 3 campaigns in the same term: node 2 must refuse.
  message m;
  m.type = msg_type::vote;
  m.from = 3;
  m.to = 2;
  m.term = 1;
  m.index = 0;
  m.log_term = 0;
  c.node(2).step(m);
  c.drain(2);
  const ready& r = c.history(2).back();
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].reject);
}

TEST_CASE("§5.5 entries that never reached the disk are lost by a crash and replicated again") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.node(1).propose("x");
  c.drain(1);  // leader persisted, appends queued
  // Follower 2 steps the append but crashes before persisting the ready.
  REQUIRE(c.deliver_one([](const message& m) { return m.to == 3; }));
  message to2 = c.queue().front();
  c.queue().pop_front();
  c.node(2).step(to2);
  REQUIRE(c.node(2).last_index() == 2);
  c.crash(2);
  c.restart(2);
  CHECK(c.node(2).last_index() == 1);  // the in-memory append is gone
  c.deliver_all();
  c.tick_all(3);
  CHECK(c.node(2).last_index() == 2);
  CHECK(test::data_of(c.applied(2)) == std::vector<std::string>{"x"});
}

TEST_CASE("§5.5 a crashed candidate restarts as a follower in its persisted term") {
  test_cluster c(3, [](config& k) { k.pre_vote = false; });
  c.tick(1, 20);
  REQUIRE(c.node(1).state() == role::candidate);
  c.drop_all();
  c.crash(1);
  c.restart(1);
  CHECK(c.node(1).state() == role::follower);
  CHECK(c.node(1).term() == 1);
  CHECK(c.node(1).vote() == 1);
  c.elect(1);
  CHECK(c.node(1).state() == role::leader);
  CHECK(c.node(1).term() == 2);
}
