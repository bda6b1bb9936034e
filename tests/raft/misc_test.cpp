// Configuration validation, restore, names.
#include <doctest/doctest.h>

#include <stdexcept>

#include "runtime/raft/core.hpp"

using namespace troupe::raft;

namespace {
std::uint64_t zero() { return 0; }
}

TEST_CASE("bad configurations are refused with a precise reason") {
  config k;
  k.id = 4;
  k.voters = {1, 2, 3};
  CHECK_THROWS_WITH_AS(core(k, zero), "config.id 4 is not among config.voters", std::invalid_argument);
  k.voters = {1, 2, 2, 4};
  CHECK_THROWS_WITH_AS(core(k, zero), "config.voters lists node 2 twice", std::invalid_argument);
  k.voters = {4};
  k.election_tick = 1;
  CHECK_THROWS_WITH_AS(core(k, zero), "config.election_tick (1) must exceed heartbeat_tick (1)", std::invalid_argument);
  k.election_tick = 10;
  CHECK_THROWS_WITH_AS(core(k, nullptr), "core: random source must be set", std::invalid_argument);
}

TEST_CASE("restore: term, vote, log and commit come back; commit never exceeds the log") {
  config k;
  k.id = 1;
  k.voters = {1, 2, 3};
  restored_state s;
  s.hs = hard_state{7, 2, 9};
  s.snap = snapshot_meta{3, 5, membership::of_voters({1, 2, 3})};
  s.entries = {entry{6, 4, entry_type::normal, "a"}, entry{7, 5, entry_type::noop, {}}};
  core n(k, zero, s);
  CHECK(n.term() == 7);
  CHECK(n.vote() == 2);
  CHECK(n.first_index() == 4);
  CHECK(n.last_index() == 5);
  CHECK(n.commit_index() == 5);
  CHECK(n.applied_index() == 3);
  CHECK(n.term_at(3) == 5);
  CHECK(n.state() == role::follower);
  CHECK(n.has_ready());  // entries 4..5 are committed and must be (re)applied
  ready r = n.take_ready();
  REQUIRE(r.committed.size() == 2);
  CHECK(r.entries.empty());  // already durable
}

TEST_CASE("restore with a gap in the entries is refused") {
  config k;
  k.id = 1;
  k.voters = {1};
  restored_state s;
  s.entries = {entry{1, 2, entry_type::normal, "a"}};
  CHECK_THROWS_WITH_AS(core(k, zero, s), "raft_log: restored entry 0 has index 2, expected 1", std::invalid_argument);
}

TEST_CASE("names") {
  CHECK(std::string(to_string(role::pre_candidate)) == "pre_candidate");
  CHECK(std::string(to_string(msg_type::timeout_now)) == "timeout_now");
}
