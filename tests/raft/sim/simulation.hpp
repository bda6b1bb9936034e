// Deterministic simulation of a Raft cluster: N cores on a simulated network
// that drops, delays, reorders and duplicates messages, partitions and heals,
// and crashes nodes (losing what was not persisted). Everything derives from
// one seed, so a failing run replays exactly.
#pragma once

#include <cstdint>
#include <string>

#include "tests/raft/sim/durable_store.hpp"

namespace troupe::raft::sim {

struct sim_options {
  std::uint64_t seed = 1;
  int nodes = 3;
  bool verbose = false;
  bool trace_messages = false;  // with verbose: print every delivered message
  int chaos_ticks = 300;      // ticks of faults before the network heals
  int settle_ticks = 200;     // bound for a leader to emerge once healed
  int commit_ticks = 100;     // bound for final proposals to commit everywhere
  int final_proposals = 5;
  // How the simulated log_store orders the writes of one ready; the old
  // order (hard state first) is kept to show that the checker catches it.
  write_order order = write_order::entries_first;
};

struct sim_result {
  bool ok = true;
  std::string failure;        // first violated property, with context
  std::uint64_t events = 0;
  std::uint64_t messages = 0;
  std::uint64_t committed = 0;
  std::uint64_t leaders = 0;  // distinct terms that had a leader
  std::uint64_t crashes = 0;
  std::uint64_t snapshots_installed = 0;
};

sim_result run_simulation(const sim_options& opts);

}  // namespace troupe::raft::sim
