// What this build writes into the replicated log, as one number. Every node
// reports it in WorkerHeartbeat; the leader writes what is new only once
// every member reported at least that level, so that during a rolling
// upgrade an older node never meets an entry it would apply differently (an
// old node applies an unknown command as a no-op, and its table diverges).
//   1: before the level existed (a heartbeat without it)
//   2: assign_jobs (log command 13), JobStatusUpdate.started_at_ns (field 16),
//      configuration entries (Raft entry type 2), snapshot file version 2
//   3: SubmitJobCommand.assign_to (field 13): a job placed in its submit entry
//   4: requeue_jobs (log command 14)
//   5: a member's wire address in configuration entries and snapshots
//      (membership encoding version 2, runtime/raft/membership.hpp)
#pragma once

#include <cstdint>

namespace troupe {

inline constexpr std::uint32_t feature_level = 5;
inline constexpr std::uint32_t feature_level_assign_jobs = 2;
inline constexpr std::uint32_t feature_level_membership = 2;
inline constexpr std::uint32_t feature_level_submit_assign = 3;
inline constexpr std::uint32_t feature_level_requeue_jobs = 4;
inline constexpr std::uint32_t feature_level_member_wire = 5;

}  // namespace troupe
