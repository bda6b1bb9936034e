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

// Milliseconds since the epoch, for the fields the original system's clients
// read (created_at_ms, completed_at_ms, ...), from troupe's nanoseconds.
inline std::int64_t ns_to_ms(std::int64_t ns) { return ns / 1000000; }
inline std::int64_t ms_to_ns(std::int64_t ms) { return ms * 1000000; }

}  // namespace troupe
