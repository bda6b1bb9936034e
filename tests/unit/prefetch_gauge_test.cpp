// actors/prefetch_gauge: the prefetch a worker reports, from its slots' pace.
#include "actors/prefetch_gauge.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using troupe::prefetch_gauge;

namespace {
const prefetch_gauge::clock::time_point t0{};

// n jobs ending at `at`, each after holding its slot for `ran`.
void complete(prefetch_gauge& g, int n, prefetch_gauge::clock::time_point at, prefetch_gauge::clock::duration ran) {
  for (int i = 0; i < n; ++i) g.completed(at, ran);
}
}  // namespace

TEST_CASE("prefetch: the floor until a period of completions is measured") {
  prefetch_gauge g(4, 4, 50ms, 1024, t0);
  CHECK(g.prefetch(t0) == 4);
  complete(g, 1000, t0, 4ms);
  CHECK(g.prefetch(t0 + 999ms) == 4);  // the period is not over: nothing measured yet
  // Four slots at 4 ms a job: 50 jobs per 50 ms window.
  CHECK(g.prefetch(t0 + 1000ms) == 50);
  CHECK(g.prefetch(t0 + 1500ms) == 50);  // the last closed period's value holds until the next closes
}

TEST_CASE("prefetch: what the slots get through in one window, rounded up, never below the floor") {
  prefetch_gauge g(4, 2, 50ms, 1024, t0);
  complete(g, 600, t0, 10ms);  // two slots at 10 ms: 10 per window
  CHECK(g.prefetch(t0 + 2s) == 10);
  complete(g, 61, t0 + 2s, 40ms);  // 2.5 per window, under the floor
  CHECK(g.prefetch(t0 + 4s) == 4);
  complete(g, 3, t0 + 4s, 18ms);  // 5.55 per window, rounded up
  CHECK(g.prefetch(t0 + 6s) == 6);
}

TEST_CASE("prefetch: the slots' pace, not the jobs completed: slots that ran dry do not keep it low") {
  // Ten 5 ms jobs in a second: the slots sat idle most of it (too small a
  // prefetch does that), but while they ran, four of them got through 40 per
  // window.
  prefetch_gauge g(4, 4, 50ms, 1024, t0);
  complete(g, 10, t0, 5ms);
  CHECK(g.prefetch(t0 + 1s) == 40);
}

TEST_CASE("prefetch: long jobs, or none, leave it at the floor; a quiet period brings it back there") {
  prefetch_gauge g(4, 4, 50ms, 1024, t0);
  complete(g, 8, t0, 1s);  // one-second jobs: a fifth of one per window
  CHECK(g.prefetch(t0 + 2s) == 4);
  complete(g, 4000, t0 + 2s, 2ms);
  CHECK(g.prefetch(t0 + 4s) == 100);
  CHECK(g.prefetch(t0 + 6s) == 4);  // nothing completed in the last period
}

TEST_CASE("prefetch: a period starts at its first completion") {
  prefetch_gauge g(4, 4, 50ms, 1024, t0);
  CHECK(g.prefetch(t0 + 1500ms) == 4);  // a heartbeat closes a quiet period
  complete(g, 1, t0 + 2400ms, 5ms);     // a burst begins 900 ms into the next
  complete(g, 299, t0 + 3399ms, 5ms);
  CHECK(g.prefetch(t0 + 3399ms) == 4);  // not a period since the burst began: nothing measured yet
  CHECK(g.prefetch(t0 + 3400ms) == 40);
}

TEST_CASE("prefetch: at most the cap; 0 keeps prefetching off whatever the pace") {
  prefetch_gauge capped(4, 4, 50ms, 32, t0);
  complete(capped, 100000, t0, 1ms);
  CHECK(capped.prefetch(t0 + 1s) == 32);
  prefetch_gauge off(0, 4, 50ms, 1024, t0);
  complete(off, 100000, t0, 1ms);
  CHECK(off.prefetch(t0 + 1s) == 0);
  prefetch_gauge floor_above_cap(8, 4, 50ms, 2, t0);  // a cap below the floor is the floor
  CHECK(floor_above_cap.prefetch(t0 + 1s) == 8);
  prefetch_gauge instant(4, 4, 50ms, 1024, t0);  // run times of 0 do not divide by zero
  complete(instant, 10, t0, 0ms);
  CHECK(instant.prefetch(t0 + 1s) == 1024);
}
