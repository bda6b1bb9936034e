// actors/prefetch_gauge: the prefetch a worker reports, from its completions.
#include "actors/prefetch_gauge.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using troupe::prefetch_gauge;

namespace {
const prefetch_gauge::clock::time_point t0{};

void complete(prefetch_gauge& g, int n) {
  for (int i = 0; i < n; ++i) g.completed();
}
}  // namespace

TEST_CASE("prefetch: the floor until a period of completions is measured") {
  prefetch_gauge g(4, 50ms, 1024, t0);
  CHECK(g.prefetch(t0) == 4);
  complete(g, 1000);
  CHECK(g.prefetch(t0 + 999ms) == 4);  // the period is not over: nothing measured yet
  // 1,000 jobs in 1 s: 50 per 50 ms window.
  CHECK(g.prefetch(t0 + 1000ms) == 50);
  CHECK(g.prefetch(t0 + 1500ms) == 50);  // the last closed period's rate holds until the next closes
}

TEST_CASE("prefetch: what one window completes at the rate, rounded up, never below the floor") {
  prefetch_gauge g(4, 50ms, 1024, t0);
  complete(g, 600);  // 300 per s over 2 s: 15 per window
  CHECK(g.prefetch(t0 + 2s) == 15);
  complete(g, 61);  // 30.5 per s: 1.5 per window, under the floor
  CHECK(g.prefetch(t0 + 4s) == 4);
  complete(g, 201);  // 100.5 per s: 5.025 per window, rounded up
  CHECK(g.prefetch(t0 + 6s) == 6);
}

TEST_CASE("prefetch: long jobs, or none, leave it at the floor; a quiet period brings it back there") {
  prefetch_gauge g(4, 50ms, 1024, t0);
  complete(g, 2);  // two one-second jobs per slot
  CHECK(g.prefetch(t0 + 2s) == 4);
  complete(g, 4000);
  CHECK(g.prefetch(t0 + 4s) == 100);
  CHECK(g.prefetch(t0 + 6s) == 4);  // nothing completed in the last period
}

TEST_CASE("prefetch: at most the cap; 0 keeps prefetching off whatever the rate") {
  prefetch_gauge capped(4, 50ms, 32, t0);
  complete(capped, 100000);
  CHECK(capped.prefetch(t0 + 1s) == 32);
  prefetch_gauge off(0, 50ms, 1024, t0);
  complete(off, 100000);
  CHECK(off.prefetch(t0 + 1s) == 0);
  prefetch_gauge floor_above_cap(8, 50ms, 2, t0);  // a cap below the floor is the floor
  CHECK(floor_above_cap.prefetch(t0 + 1s) == 8);
}
