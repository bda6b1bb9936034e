// job_table: the applied state. Applies committed entries to the pure
// jobs::job_table, answers queries, and publishes every change, in commit
// order, to its subscribers (dispatcher, supervisor, StreamJobs, dashboard).
#pragma once

#include <memory>
#include <vector>

#include "actors/interfaces.hpp"

namespace troupe {

struct job_table_state {
  static inline const char* name = "job_table";
  jobs::job_table table;
  std::uint64_t applied = 0;  // includes noop entries, which the table never sees
  std::uint64_t applied_term = 0;  // the term of the entry at `applied` (a backup names it)
  std::vector<change_listener> listeners;
  // The compaction in progress (0: none), which holds the table at snapshot_index.
  jobs::job_table::snapshot_id compaction = 0;
  std::uint64_t snapshot_index = 0;
  // Backups in progress, by the table's snapshot id: each is dropped when its
  // taker (the actor asking for its pieces) ends, whether it finished or not.
  struct backup {
    std::uint64_t index = 0, term = 0, job_count = 0;
    caf::actor_addr taker;
  };
  std::map<jobs::job_table::snapshot_id, backup> backups;
};

job_table_actor::behavior_type job_table(job_table_actor::stateful_pointer<job_table_state> self);

// A table a node restored from its snapshot file before spawning the actor,
// and the index and term of that snapshot.
struct restored_table {
  std::shared_ptr<jobs::job_table> table;
  std::uint64_t applied = 0, applied_term = 0;
};

// job_table, starting from `from` (its table is moved out).
job_table_actor::behavior_type job_table_from(job_table_actor::stateful_pointer<job_table_state> self,
                                              restored_table from);

}  // namespace troupe
