// Thesis 9.6 (PreVote) and 6.2 / 4.2.3 (CheckQuorum and the leader lease).
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

TEST_CASE("prevote: a partitioned node does not bump its term and does not disrupt on rejoin") {
  test_cluster c(3);
  c.elect(1);
  c.isolate(3);
  c.tick(3, 100);  // many election timeouts alone
  CHECK(c.node(3).term() == 1);
  CHECK(c.node(3).state() == role::pre_candidate);
  c.tick_all(5);
  c.heal();
  c.tick_all(30);
  CHECK(c.node(1).state() == role::leader);
  CHECK(c.node(1).term() == 1);
  CHECK(c.node(3).leader() == 1);
}

TEST_CASE("without prevote the same partition forces a new election (the contrast)") {
  test_cluster c(3, [](config& k) {
    k.pre_vote = false;
    k.check_quorum = false;
  });
  c.elect(1);
  c.isolate(3);
  c.tick(3, 100);
  CHECK(c.node(3).term() > 1);
  c.heal();
  c.tick_all(30);
  CHECK(c.node(1).term() > 1);
}

TEST_CASE("check quorum: a leader that cannot reach a majority steps down within an election timeout") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(2);
  c.isolate(1);
  for (int i = 0; i < 21 && c.node(1).state() == role::leader; ++i) c.tick(1);
  CHECK(c.node(1).state() == role::follower);
  CHECK(c.node(1).leader() == no_node);
}

TEST_CASE("check quorum: a leader with a majority stays") {
  test_cluster c(3);
  c.elect(1);
  c.isolate(3);
  c.tick_all(50);
  CHECK(c.node(1).state() == role::leader);
}

TEST_CASE("lease: a follower that heard from its leader ignores a higher-term vote request") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  message m;
  m.type = msg_type::vote;
  m.from = 3;
  m.to = 2;
  m.term = 5;
  m.index = 100;
  m.log_term = 5;
  c.node(2).step(m);
  CHECK(c.node(2).term() == 1);
  CHECK(c.node(2).vote() == 1);
  CHECK(c.node(2).leader() == 1);
  SUBCASE("but a leadership-transfer campaign goes through") {
    m.context = transfer_context;
    c.node(2).step(m);
    CHECK(c.node(2).term() == 5);
    CHECK(c.node(2).vote() == 3);
  }
}

TEST_CASE("a stale leader learns the higher term from a follower and steps down") {
  test_cluster c(3);
  c.elect(1);
  c.tick_all(1);
  c.isolate(1);
  c.tick(2, 25);  // lease expires, 2 campaigns
  c.heal();
  c.isolate(1);
  c.deliver_all();
  c.tick_all(0);
  for (int i = 0; i < 40 && c.node(2).state() != role::leader && c.node(3).state() != role::leader; ++i) {
    c.tick(2);
    c.tick(3);
    c.deliver_all();
  }
  REQUIRE((c.node(2).state() == role::leader || c.node(3).state() == role::leader));
  c.heal();
  // Old leader (if it still thinks it leads) sends a heartbeat and is told the new term.
  c.tick(1);
  c.deliver_all();
  c.tick_all(2);
  CHECK(c.node(1).state() == role::follower);
  CHECK(c.node(1).term() == c.node(2).term());
}

// Node 1 leads three, its followers hear from it once, and it dies.
namespace {
void lose_leader(test_cluster& c) {
  c.elect(1);
  c.tick_all(1);
  c.crash(1);
}

// Ticks node `id` alone (its messages queue undelivered) until it pre-campaigns.
void tick_until_pre_candidate(test_cluster& c, node_id id) {
  for (int i = 0; i < 40 && c.node(id).state() != role::pre_candidate; ++i) c.tick(id);
  REQUIRE(c.node(id).state() == role::pre_candidate);
}
}  // namespace

// The leader dies and both followers' timers fire before either hears the
// other's pre-vote (~10 ms apart under load, seen in bench/failover.sh). If
// each granted the other, both would stand for term 2 and split its votes:
// no leader until another randomized timeout.
TEST_CASE("prevote: two pre-candidates with equal logs elect the lower id in one round") {
  test_cluster c(3);
  lose_leader(c);
  for (int i = 0; i < 40; ++i) {
    if (c.node(2).state() != role::pre_candidate) c.tick(2);
    if (c.node(3).state() != role::pre_candidate) c.tick(3);
  }
  REQUIRE(c.node(2).state() == role::pre_candidate);
  REQUIRE(c.node(3).state() == role::pre_candidate);
  c.deliver_all();
  CHECK(c.node(2).state() == role::leader);
  CHECK(c.node(2).term() == 2);
  CHECK(c.node(3).state() == role::follower);
  CHECK(c.node(3).term() == 2);
  CHECK(c.node(3).leader() == 2);
}

// A follower that backed node 3's pre-vote and whose own timer is due next
// tick: without a restarted timer it would stand too, and its pre-vote can
// reach node 3 before its grant does (votes travel as separate calls), so
// node 3 (the higher id) would back it and both would split term 2.
TEST_CASE("prevote: a follower that backs a pre-vote restarts its election timer") {
  test_cluster c(3);
  lose_leader(c);
  tick_until_pre_candidate(c, 3);
  // Node 2 one tick before its own campaign, past the lease.
  for (int i = 0; i < 40 && c.node(2).ticks_until_due() > 1; ++i) c.tick(2);
  REQUIRE(c.node(2).ticks_until_due() == 1);
  REQUIRE(c.deliver_one([](const message& m) { return m.type == msg_type::pre_vote && m.to == 2; }));
  REQUIRE(c.count(msg_type::pre_vote_response, 3) == 1);
  REQUIRE(!c.queue().back().reject);  // node 2 was out of its lease and backed node 3
  c.tick(2);
  CHECK(c.node(2).state() == role::follower);
  CHECK(c.count(msg_type::pre_vote, 3) == 0);  // it did not stand against node 3
  c.deliver_all();
  CHECK(c.node(3).state() == role::leader);
  CHECK(c.node(3).term() == 2);
  CHECK(c.node(2).leader() == 3);
}

// Node 2 campaigns first, but node 3 still hears the dead leader's last
// heartbeat as a lease and ignores node 2's pre-vote; node 3 then campaigns
// too and node 2, the lower id, refuses it. Unless node 2 asks again, neither
// wins until another randomized timeout.
TEST_CASE("prevote: the lower id asks again a pre-candidate that ignored it under a lease") {
  test_cluster c(3);
  lose_leader(c);
  tick_until_pre_candidate(c, 2);
  REQUIRE(c.deliver_one([](const message& m) { return m.type == msg_type::pre_vote && m.to == 3; }));
  REQUIRE(c.count(msg_type::pre_vote_response, 2) == 0);  // ignored: node 3 is in its lease
  tick_until_pre_candidate(c, 3);
  c.deliver_all();
  CHECK(c.node(2).state() == role::leader);
  CHECK(c.node(2).term() == 2);
  CHECK(c.node(3).leader() == 2);
}
