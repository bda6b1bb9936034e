// actors/prefetch_gauge: the prefetch a worker reports, from its completions.
#include "actors/prefetch_gauge.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using troupe::prefetch_gauge;

namespace {
const prefetch_gauge::clock::time_point t0{};

void complete(prefetch_gauge& g, int n, prefetch_gauge::clock::time_point at) {
  for (int i = 0; i < n; ++i) g.completed(at);
}
}  // namespace

TEST_CASE("prefetch: the floor until a period of completions is measured") {
  prefetch_gauge g(4, 50ms, 1024, t0);
  CHECK(g.prefetch(t0) == 4);
  complete(g, 1000, t0);
  CHECK(g.prefetch(t0 + 999ms) == 4);  // the period is not over: nothing measured yet
  // 1,000 jobs in 1 s: 50 per 50 ms window.
  CHECK(g.prefetch(t0 + 1000ms) == 50);
  CHECK(g.prefetch(t0 + 1500ms) == 50);  // the last closed period's rate holds until the next closes
}

TEST_CASE("prefetch: what one window completes at the rate, rounded up, never below the floor") {
  prefetch_gauge g(4, 50ms, 1024, t0);
  complete(g, 600, t0);  // 300 per s over 2 s: 15 per window
  CHECK(g.prefetch(t0 + 2s) == 15);
  complete(g, 61, t0 + 2s);  // 30.5 per s: 1.5 per window, under the floor
  CHECK(g.prefetch(t0 + 4s) == 4);
  complete(g, 201, t0 + 4s);  // 100.5 per s: 5.025 per window, rounded up
  CHECK(g.prefetch(t0 + 6s) == 6);
}

TEST_CASE("prefetch: long jobs, or none, leave it at the floor; a quiet period brings it back there") {
  prefetch_gauge g(4, 50ms, 1024, t0);
  complete(g, 2, t0);  // two one-second jobs per slot
  CHECK(g.prefetch(t0 + 2s) == 4);
  complete(g, 4000, t0 + 2s);
  CHECK(g.prefetch(t0 + 4s) == 100);
  CHECK(g.prefetch(t0 + 6s) == 4);  // nothing completed in the last period
}

TEST_CASE("prefetch: at most the cap; 0 keeps prefetching off whatever the rate") {
  prefetch_gauge capped(4, 50ms, 32, t0);
  complete(capped, 100000, t0);
  CHECK(capped.prefetch(t0 + 1s) == 32);
  prefetch_gauge off(0, 50ms, 1024, t0);
  complete(off, 100000, t0);
  CHECK(off.prefetch(t0 + 1s) == 0);
  prefetch_gauge floor_above_cap(8, 50ms, 2, t0);  // a cap below the floor is the floor
  CHECK(floor_above_cap.prefetch(t0 + 1s) == 8);
}

TEST_CASE("prefetch: a burst after a quiet spell is measured from its first completion") {
  prefetch_gauge g(4, 50ms, 1024, t0);
  CHECK(g.prefetch(t0 + 1500ms) == 4);  // a heartbeat closes a quiet period
  complete(g, 1, t0 + 2400ms);          // the burst begins 900 ms into the next
  complete(g, 299, t0 + 3399ms);
  CHECK(g.prefetch(t0 + 3399ms) == 4);  // under a period since the burst began: nothing measured yet
  // 300 in the second since the burst began, 15 per window; from the quiet
  // period's start (1.9 s) it would read 8.
  CHECK(g.prefetch(t0 + 3400ms) == 15);
}
