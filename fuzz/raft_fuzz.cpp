// The Raft core (runtime/raft) under the deterministic simulation of
// tests/raft/sim, with the fuzzer's bytes as every random choice: the fault
// profile, which messages are dropped, duplicated or delayed (and so
// reordered), partitions, crashes at each stage of a ready, proposals,
// compactions, transfers, reads, and the cores' randomized timeouts. The
// simulation's checker runs after every step (Election Safety, Leader
// Append-Only, Log Matching, Leader Completeness, State Machine Safety,
// durability of committed entries, ReadIndex); any violation, or any
// exception out of a core, is a failure. Liveness is not checked: chosen
// bytes can legitimately starve elections (simulation.hpp).
#include <algorithm>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "tests/raft/sim/simulation.hpp"

namespace troupe::fuzz {

void raft_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  raft::sim::sim_options o;
  o.nodes = (data[0] & 1) ? 5 : 3;
  o.choices = std::string_view(reinterpret_cast<const char*>(data + 1), size - 1);
  // About one tick per eight choices, so the run ends soon after the scripted
  // part does instead of spending the time on the seeded generator.
  o.chaos_ticks = static_cast<int>(std::min<std::size_t>(10 + size / 8, 300));
  o.check_liveness = false;
  const raft::sim::sim_result r = raft::sim::run_simulation(o);
  require(r.ok, "raft_fuzz", r.failure);
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::raft_one)
