// §5.2 Leader election and §5.6 timing.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

TEST_CASE("§5.2 a single-node cluster elects itself and commits its noop after advance") {
  test_cluster c(1);
  c.elect(1);
  REQUIRE(c.node(1).state() == role::leader);
  CHECK(c.node(1).term() == 1);
  CHECK(c.node(1).commit_index() == 1);  // the noop, committed once durable
  auto r = c.node(1).propose("x");
  REQUIRE(r.error == propose_error::none);
  CHECK(c.node(1).commit_index() == 1);  // not before it is persisted
  c.drain(1);
  CHECK(c.node(1).commit_index() == 2);
  CHECK(test::data_of(c.applied(1)) == std::vector<std::string>{"x"});
}

TEST_CASE("§5.2 a follower that times out becomes candidate, wins a majority and leads") {
  test_cluster c(3);
  c.elect(1);
  REQUIRE(c.node(1).state() == role::leader);
  CHECK(c.node(1).term() == 1);
  for (node_id id : {2, 3}) {
    CHECK(c.node(id).state() == role::follower);
    CHECK(c.node(id).term() == 1);
    CHECK(c.node(id).vote() == 1);
  }
  c.tick_all(1);  // heartbeats carry the leader's commit to followers
  CHECK(c.node(2).leader() == 1);
  CHECK(c.node(2).commit_index() == 1);
}

TEST_CASE("§5.2 a vote is durable before the response that grants it is sent") {
  test_cluster c(3, [](config& k) { k.pre_vote = false; });
  c.tick(1, 20);
  REQUIRE(c.node(1).state() == role::candidate);
  REQUIRE(c.deliver_one([](const message& m) { return m.to == 2; }));
  const ready& r = c.history(2).back();
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].type == msg_type::vote_response);
  CHECK_FALSE(r.messages[0].reject);
  REQUIRE(r.hard_state.has_value());  // same ready: persisted before the send
  CHECK(r.hard_state->vote == 1);
  CHECK(r.hard_state->term == 1);
}

TEST_CASE("§5.2 each server votes for at most one candidate per term") {
  test_cluster c(3, [](config& k) { k.pre_vote = false; k.check_quorum = false; });
  c.tick(1, 20);
  c.tick(3, 20);
  REQUIRE(c.node(1).state() == role::candidate);
  REQUIRE(c.node(3).state() == role::candidate);
  REQUIRE(c.node(1).term() == c.node(3).term());
  REQUIRE(c.deliver_one([](const message& m) { return m.from == 1 && m.to == 2; }));
  REQUIRE(c.deliver_one([](const message& m) { return m.from == 3 && m.to == 2; }));
  CHECK(c.node(2).vote() == 1);
  const ready& r = c.history(2).back();
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].to == 3);
  CHECK(r.messages[0].reject);
}

TEST_CASE("§5.2 election timeouts are randomized in [election_tick, 2*election_tick) from the injected rng") {
  for (std::uint64_t draw : {0u, 3u, 9u, 13u}) {
    config k;
    k.id = 1;
    k.voters = {1, 2, 3};
    core n(k, [draw] { return draw; });
    const int expected = 10 + static_cast<int>(draw % 10);
    for (int t = 1; t < expected; ++t) n.tick();
    CHECK(n.state() == role::follower);
    n.tick();
    CHECK(n.state() == role::pre_candidate);
  }
}

TEST_CASE("§5.6 heartbeats keep followers from starting elections") {
  test_cluster c(3);
  c.elect(1);
  REQUIRE(c.node(1).state() == role::leader);
  c.tick_all(100);  // 10 election timeouts
  CHECK(c.node(1).state() == role::leader);
  CHECK(c.node(1).term() == 1);
  CHECK(c.node(2).state() == role::follower);
  CHECK(c.node(3).state() == role::follower);
}

TEST_CASE("§5.2 a candidate that hears from the new leader of its term steps down") {
  test_cluster c(3, [](config& k) { k.pre_vote = false; });
  c.elect(1);
  c.tick(3, 20);  // 3 times out, but nothing from 3 is delivered yet
  REQUIRE(c.node(3).state() == role::candidate);
  c.drop_all();
  c.isolate(3);
  c.tick_all(1);
  c.heal();
  // 3 is in term 2, the leader in term 1: the leader learns the term and a new election follows.
  c.tick_all(1);
  for (int i = 0; i < 60 && !(c.node(1).state() == role::leader || c.node(2).state() == role::leader ||
                              c.node(3).state() == role::leader); ++i) {
    c.tick_all(1);
  }
  int leaders = 0;
  for (node_id id : {1, 2, 3}) leaders += c.node(id).state() == role::leader ? 1 : 0;
  CHECK(leaders == 1);
}
