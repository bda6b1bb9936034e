// How many jobs a worker lets the leader assign to it beyond its capacity
// ([worker] prefetch). They wait on the worker and start the moment a slot
// frees, so that a slot does not stay empty for the round through the leader
// that refills it: the ended job's result is held for a commit round
// (config::status_hold), committed, the freed slot seen by the dispatcher and
// its assignment committed in turn. A fixed prefetch too small for short jobs
// leaves slots empty for that round (4 with `true` jobs: a fifth of both CPUs
// idle in a drain); one large enough for them strands long jobs behind each
// other on one node while another frees up, and more of them on a node that
// dies. So the worker takes what it completes in one such round at its recent
// rate: [worker] prefetch is the floor (0 keeps prefetching off), and above it
// the jobs waiting on a node amount to about one refill window of its work
// (config::prefetch_window), whatever their length. docs/BENCHMARKS.md,
// twenty-sixth round. Pure: the caller passes the time.
#pragma once

#include <chrono>
#include <cstdint>

namespace troupe {

class prefetch_gauge {
 public:
  using clock = std::chrono::steady_clock;
  // The rate is measured over periods of at least this long (a heartbeat
  // asks for the prefetch every heartbeat interval, 2 s by default).
  static constexpr std::chrono::milliseconds rate_period{1000};

  prefetch_gauge(std::uint32_t floor, std::chrono::milliseconds window, std::uint32_t max, clock::time_point now);

  // One job ended on this node.
  void completed() { ++count_; }
  // The prefetch to report now: max(floor, jobs completed per window at the
  // rate of the last period of at least rate_period), at most max; 0 when the
  // floor is 0. Closes the current period once it is rate_period old.
  std::uint32_t prefetch(clock::time_point now);

 private:
  std::uint32_t floor_, max_;
  std::chrono::milliseconds window_;
  clock::time_point period_start_;
  std::uint64_t count_ = 0;  // completions since period_start_
  double per_window_ = 0;    // completions per window in the last closed period
};

}  // namespace troupe
