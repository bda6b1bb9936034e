// Wall-clock time for the actors that stamp entries (leader: job creation,
// assignment, cancellation; workers: start and completion). The pure cores
// never call it: times reach them inside log entries.
#pragma once

#include <chrono>
#include <cstdint>

namespace troupe {

inline std::int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace troupe
