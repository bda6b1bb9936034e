// Deterministic simulation of a Raft cluster: N cores on a simulated network
// that drops, delays, reorders and duplicates messages, partitions and heals,
// and crashes nodes (losing what was not persisted). Everything derives from
// one seed, so a failing run replays exactly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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
  // raft_node's driver sends a leader's messages while it persists
  // (ready::messages_before_persist); false: every node persists, then sends
  // (the driver before issue 12). The write-order check uses false: its
  // planted bug shows up with that driver, not (in 25,000 seeds) with this one.
  bool leader_sends_first = true;
  // Fuzzing (fuzz/raft_fuzz.cpp): when non-empty, every random choice of the
  // run (fault profile, drop, duplicate, delay and so reordering of each
  // message, partitions, crashes and their timing, proposals, the cores' own
  // randomness) takes one byte of `choices`; the seeded generator takes over
  // once they run out.
  std::string_view choices;
  // Arbitrary choices can starve an election forever (e.g. equal randomized
  // timeouts on every node) without any bug, so a fuzzer checks safety only:
  // false ends the run after the chaos phase, skipping heal and liveness.
  bool check_liveness = true;
  // Configuration changes (thesis ch. 4) under the same faults: two spare
  // servers start with no configuration (join) and the leader, from time to
  // time, adds one as a learner (the core promotes it once caught up) or
  // removes a member, itself included. Removed servers keep running.
  bool membership = false;
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
  std::uint64_t conf_changes = 0;  // configuration entries committed (adds, promotions, removals)
};

sim_result run_simulation(const sim_options& opts);

}  // namespace troupe::raft::sim
