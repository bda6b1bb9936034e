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
