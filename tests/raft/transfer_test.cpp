// Thesis 3.10 Leadership transfer.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

TEST_CASE("transfer to an up-to-date follower: timeout_now, and the target leads the next term") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  REQUIRE(c.node(1).transfer_leadership(2));
  CHECK(c.node(1).transfer_target() == 2);
  c.drain(1);
  CHECK(c.count(msg_type::timeout_now, 2) == 1);
  c.deliver_all();
  CHECK(c.node(2).state() == role::leader);
  CHECK(c.node(2).term() == 2);
  CHECK(c.node(1).state() == role::follower);
  CHECK(c.node(1).transfer_target() == no_node);
}

TEST_CASE("transfer to a lagging follower: proposals refused until it caught up and took over") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.isolate(3);
  for (int i = 0; i < 10; ++i) c.node(1).propose("p");
  c.drain(1);
  c.deliver_all();
  c.heal();
  REQUIRE(c.node(1).transfer_leadership(3));
  CHECK(c.node(1).propose("refused").error == propose_error::transfer_in_progress);
  c.drain(1);
  CHECK(c.count(msg_type::timeout_now) == 0);  // first bring it up to date
  c.deliver_all();
  c.tick_all(2);
  CHECK(c.node(3).state() == role::leader);
  CHECK(c.node(3).last_index() >= 12);
}

TEST_CASE("transfer with target 0 picks the most up-to-date follower") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.isolate(2);
  c.node(1).propose("p");
  c.drain(1);
  c.deliver_all();
  c.tick_all(1);
  REQUIRE(c.node(1).transfer_leadership(0));
  CHECK(c.node(1).transfer_target() == 3);
}

TEST_CASE("transfer to an unreachable target aborts after an election timeout") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.isolate(3);
  REQUIRE(c.node(1).transfer_leadership(3));
  for (int i = 0; i < 10; ++i) {
    c.tick(1);
    c.deliver_all();
  }
  CHECK(c.node(1).transfer_target() == no_node);
  CHECK(c.node(1).state() == role::leader);
  CHECK(c.node(1).propose("ok").error == propose_error::none);
}

TEST_CASE("transfer is impossible on followers, to self, to strangers and in single-node clusters") {
  test_cluster c(3);
  c.elect(1);
  CHECK_FALSE(c.node(2).transfer_leadership(3));
  CHECK_FALSE(c.node(1).transfer_leadership(1));
  CHECK_FALSE(c.node(1).transfer_leadership(9));
  test_cluster one(1);
  one.elect(1);
  CHECK_FALSE(one.node(1).transfer_leadership(0));
}
