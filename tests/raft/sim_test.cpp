// The simulation itself: a few seeds in-process, and the checker catching
// violations it is fed on purpose (a checker that cannot fail proves nothing).
#include <doctest/doctest.h>

#include <memory>

#include "runtime/raft/core.hpp"
#include "tests/raft/sim/checker.hpp"
#include "tests/raft/sim/simulation.hpp"

using namespace troupe::raft;

TEST_CASE("simulation: 3- and 5-node runs keep every invariant and stay live") {
  for (int nodes : {3, 5}) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      sim::sim_options o;
      o.seed = seed;
      o.nodes = nodes;
      auto r = sim::run_simulation(o);
      INFO("seed " << seed << " nodes " << nodes << ": " << r.failure);
      CHECK(r.ok);
      CHECK(r.committed > 0);
    }
  }
}

// log_store's write order for one ready, with raft_node's asynchronous
// driver and crashes between the writes: writing the hard state before the
// entries (log_store before issue 10) lets a node restart with a commit index
// over stale entries. Seed 113726 is one such run (such seeds are rare, and
// move whenever the cores' elections change: it was 10788 until pre-vote
// ties went to the lower id); the range around it shows the old order caught
// and the new one clean over many seeds. With the driver of that time
// (persist, then send): the leader-sends-first driver does not reach this
// state in 25,000 seeds, so it would prove nothing here; the new order is
// also checked with it.
TEST_CASE("simulation: hard state before entries violates State Machine Safety; entries first is clean") {
  sim::sim_options o;
  o.seed = 113726;
  o.nodes = 3;
  o.leader_sends_first = false;
  o.order = sim::write_order::hard_state_first;
  auto old_order = sim::run_simulation(o);
  INFO(old_order.failure);
  CHECK_FALSE(old_order.ok);
  CHECK(old_order.failure.find("State Machine Safety") != std::string::npos);
  o.order = sim::write_order::entries_first;
  auto new_order = sim::run_simulation(o);
  INFO(new_order.failure);
  CHECK(new_order.ok);

  int old_failures = 0, new_failures = 0;
  for (std::uint64_t seed = 113701; seed <= 113800; ++seed) {
    o.seed = seed;
    o.order = sim::write_order::hard_state_first;
    auto a = sim::run_simulation(o);
    if (!a.ok) {
      ++old_failures;
      CHECK(a.failure.find("State Machine Safety") != std::string::npos);
    }
    o.order = sim::write_order::entries_first;
    for (bool sends_first : {false, true}) {
      o.leader_sends_first = sends_first;
      auto b = sim::run_simulation(o);
      INFO("seed " << seed << " leader_sends_first " << sends_first << ": " << b.failure);
      CHECK(b.ok);
      if (!b.ok) ++new_failures;
    }
    o.leader_sends_first = false;
  }
  CHECK(old_failures >= 1);
  CHECK(new_failures == 0);
}

TEST_CASE("simulation: the same seed replays identically") {
  sim::sim_options o;
  o.seed = 77;
  o.nodes = 5;
  auto a = sim::run_simulation(o);
  auto b = sim::run_simulation(o);
  CHECK(a.messages == b.messages);
  CHECK(a.committed == b.committed);
  CHECK(a.crashes == b.crashes);
}

TEST_CASE("checker: two leaders in one term violate Election Safety") {
  sim::checker chk(3);
  auto single_leader = [](node_id id) {
    config k;
    k.id = id;
    k.voters = {id};
    auto c = std::make_unique<core>(k, [] { return std::uint64_t{0}; });
    for (int i = 0; i < 20 && c->state() != role::leader; ++i) c->tick();
    return c;
  };
  auto a = single_leader(1);
  auto b = single_leader(2);
  REQUIRE(a->term() == b->term());
  chk.on_node_state(*a);
  CHECK_THROWS_AS(chk.on_node_state(*b), sim::safety_violation);
}

TEST_CASE("checker: conflicting applies violate State Machine Safety; lost entries violate durability") {
  sim::checker chk(3);
  chk.on_apply(1, entry{1, 1, entry_type::normal, "a"}, 11);
  CHECK_THROWS_AS(chk.on_apply(2, entry{2, 1, entry_type::normal, "b"}, 12), sim::safety_violation);
  CHECK_THROWS_AS(chk.on_read_state(1, 3, 4), sim::safety_violation);
}
