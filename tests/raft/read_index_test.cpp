// Thesis 6.4 ReadIndex.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

TEST_CASE("read index: released only after a quorum confirms leadership, at the commit index") {
  test_cluster c(3);
  c.elect(1);
  c.node(1).propose("w");
  c.drain(1);
  c.deliver_all();
  c.tick_all(1);
  REQUIRE(c.node(1).commit_index() == 2);
  c.node(1).read_index("req-1");
  c.drain(1);
  CHECK(c.reads(1).empty());
  REQUIRE(c.count(msg_type::heartbeat) == 2);
  // One heartbeat answer plus the leader itself make a quorum of 3.
  REQUIRE(c.deliver_one([](const message& m) { return m.to == 2; }));
  CHECK(c.reads(1).empty());
  REQUIRE(c.deliver_one([](const message& m) { return m.type == msg_type::heartbeat_response; }));
  REQUIRE(c.reads(1).size() == 1);
  CHECK(c.reads(1)[0].context == "req-1");
  CHECK(c.reads(1)[0].index == 2);
}

TEST_CASE("read index: an isolated leader never confirms a read") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.isolate(1);
  c.node(1).read_index("stale?");
  c.tick_all(30);
  CHECK(c.reads(1).empty());
}

TEST_CASE("read index: waits for the new leader's first commit; single node answers alone") {
  test_cluster c(1);
  c.node(1).tick();
  for (int i = 0; i < 20 && c.node(1).state() != role::leader; ++i) c.node(1).tick();
  REQUIRE(c.node(1).state() == role::leader);
  c.node(1).read_index("early");  // noop not yet durable, nothing committed in this term
  CHECK(c.reads(1).empty());
  c.drain(1);
  REQUIRE(c.reads(1).size() == 1);
  CHECK(c.reads(1)[0].index == 1);
}

TEST_CASE("read index: followers drop requests") {
  test_cluster c(3);
  c.elect(1);
  c.node(2).read_index("x");
  c.tick_all(3);
  CHECK(c.reads(2).empty());
}
