// §5.4 Safety: election restriction and committing entries from previous terms.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

namespace {
restored_state log_of(term_t term, std::vector<term_t> terms, index_t commit) {
  restored_state s;
  s.hs = hard_state{term, no_node, commit};
  for (std::size_t i = 0; i < terms.size(); ++i) {
    s.entries.push_back(entry{terms[i], i + 1, entry_type::normal, "e" + std::to_string(i + 1)});
  }
  return s;
}
}  // namespace

TEST_CASE("§5.4.1 a candidate whose log is less up-to-date cannot win") {
  test_cluster c(3);
  c.boot(1, log_of(2, {1}, 1));
  c.boot(2, log_of(2, {1, 2}, 1));
  c.boot(3, log_of(2, {1, 2}, 1));
  c.tick(1, 20);
  c.deliver_all();
  CHECK(c.node(1).state() != role::leader);
  CHECK(c.node(1).term() == 2);  // pre-vote failed: no term was burnt either
  c.elect(2);
  CHECK(c.node(2).state() == role::leader);
}

TEST_CASE("§5.4.1 a longer log of an older term is less up-to-date than a shorter newer one") {
  test_cluster c(3);
  c.boot(1, log_of(3, {1, 1, 1, 1}, 1));
  c.boot(2, log_of(3, {1, 2}, 1));
  c.boot(3, log_of(3, {1, 2}, 1));
  c.tick(1, 20);
  c.deliver_all();
  CHECK(c.node(1).state() != role::leader);
  c.elect(3);
  CHECK(c.node(3).state() == role::leader);
}

TEST_CASE("§5.4.2 (Figure 8) a leader never commits an older-term entry by counting replicas") {
  test_cluster c(3, [](config& k) { k.max_entries_per_append = 1; });
  // Node 1 holds entry 2 from term 1 that only it has; it is leader of term 3.
  c.boot(1, log_of(2, {1, 1}, 1));
  c.boot(2, log_of(2, {1}, 1));
  c.boot(3, log_of(2, {1}, 1));
  // Win the election but stop delivering as soon as node 1 leads.
  for (int i = 0; i < 20 && c.node(1).state() == role::follower; ++i) c.tick(1);
  for (int i = 0; i < 50 && c.node(1).state() != role::leader; ++i) c.deliver_one();
  REQUIRE(c.node(1).state() == role::leader);
  REQUIRE(c.node(1).term() == 3);
  c.isolate(3);
  // Deliver one message at a time until node 2 holds entry 2 but not the noop.
  for (int i = 0; i < 50 && c.node(2).last_index() < 2; ++i) c.deliver_one();
  REQUIRE(c.node(2).last_index() == 2);
  REQUIRE(c.deliver_one([](const message& m) { return m.type == msg_type::append_response && !m.reject; }));
  // Entry 2 is now on a majority (nodes 1, 2) but belongs to term 1: not committed.
  CHECK(c.node(1).commit_index() == 1);
  c.deliver_all();
  // Once the current-term noop is on a majority, both commit together.
  CHECK(c.node(1).commit_index() == 3);
}

TEST_CASE("§5.4.3 a new leader holds every committed entry (Leader Completeness)") {
  test_cluster c(3);
  c.elect(1);
  for (int i = 0; i < 3; ++i) c.node(1).propose("v" + std::to_string(i));
  c.drain(1);
  c.isolate(3);
  c.deliver_all();
  c.tick_all(1);
  REQUIRE(c.node(1).commit_index() == 4);
  c.crash(1);
  c.heal();
  c.isolate(1);
  c.tick(3, 20);
  c.deliver_all();
  CHECK(c.node(3).state() != role::leader);  // 3 lacks committed entries
  c.elect(2);
  REQUIRE(c.node(2).state() == role::leader);
  c.tick(2, 1);
  c.deliver_all();
  for (index_t i = 2; i <= 4; ++i) CHECK(c.node(3).term_at(i) == 1);
}
