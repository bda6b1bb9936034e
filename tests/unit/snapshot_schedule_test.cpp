// actors/snapshot_schedule: where each node takes its next snapshot by count.
#include "actors/snapshot_schedule.hpp"

#include <set>

#include <doctest/doctest.h>

using troupe::next_snapshot_index;
using troupe::snapshot_place;
using troupe::snapshot_place_of;

TEST_CASE("snapshot schedule: three voters compact a third of the interval apart, then every interval") {
  const auto voters = troupe::raft::membership::of_voters({1, 2, 3});
  std::set<std::uint64_t> firsts;
  for (std::uint64_t id : {1, 2, 3}) {
    const auto place = snapshot_place_of(voters, id);
    const auto first = next_snapshot_index(0, 10000, place);
    CHECK(first >= 10000);  // never sooner than snapshot_every
    CHECK(first < 20000);
    firsts.insert(first);
    // Once on its lattice, a node snapshots exactly every interval.
    CHECK(next_snapshot_index(first, 10000, place) == first + 10000);
    CHECK(next_snapshot_index(first + 10000, 10000, place) == first + 20000);
  }
  CHECK(firsts == std::set<std::uint64_t>{10000, 13333, 16666});
}

TEST_CASE("snapshot schedule: a node off its lattice returns to it, never sooner than an interval") {
  const snapshot_place second{1, 3};  // phase 3,333 of 10,000
  // An installed leader's snapshot, or one the byte rule made late.
  CHECK(next_snapshot_index(10000, 10000, second) == 23333);  // 20,000 is the earliest
  CHECK(next_snapshot_index(13333, 10000, second) == 23333);
  CHECK(next_snapshot_index(13334, 10000, second) == 33333);
  for (std::uint64_t last = 0; last < 40000; last += 777) {
    const auto next = next_snapshot_index(last, 10000, second);
    CHECK(next >= last + 10000);
    CHECK(next < last + 20000);
    CHECK(next % 10000 == 3333);
  }
}

TEST_CASE("snapshot schedule: one node, or an interval of one, is as before") {
  const snapshot_place alone{0, 1};
  CHECK(next_snapshot_index(0, 10000, alone) == 10000);
  CHECK(next_snapshot_index(10000, 10000, alone) == 20000);
  for (std::size_t rank = 0; rank < 5; ++rank) CHECK(next_snapshot_index(41, 1, snapshot_place{rank, 5}) == 42);
}

TEST_CASE("snapshot schedule: a node's place is its rank among the voters, or one more place if it is not one") {
  auto voters = troupe::raft::membership::of_voters({2, 5, 9});
  voters.put({4, false, "127.0.0.1:4", "", ""});  // a learner counts for no voter's rank
  CHECK(snapshot_place_of(voters, 2).rank == 0);
  CHECK(snapshot_place_of(voters, 5).rank == 1);
  CHECK(snapshot_place_of(voters, 9).rank == 2);
  CHECK(snapshot_place_of(voters, 9).nodes == 3);
  for (std::uint64_t outside : {4, 7}) {  // the learner, and a node not in the configuration
    const auto place = snapshot_place_of(voters, outside);
    CHECK(place.nodes == 4);
    CHECK(place.rank == 3);
  }
  CHECK(snapshot_place_of(troupe::raft::membership{}, 1).nodes == 1);
}
