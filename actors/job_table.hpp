// job_table: the applied state. Applies committed entries to the pure
// jobs::job_table, answers queries, and publishes every change, in commit
// order, to its subscribers (dispatcher, supervisor, StreamJobs, dashboard).
#pragma once

#include <vector>

#include "actors/interfaces.hpp"

namespace troupe {

struct job_table_state {
  static inline const char* name = "job_table";
  jobs::job_table table;
  std::uint64_t applied = 0;  // includes noop entries, which the table never sees
  std::uint64_t applied_term = 0;  // the term of the entry at `applied` (a backup names it)
  std::vector<change_listener> listeners;
  std::uint64_t snapshot_index = 0;  // the snapshot in progress holds the table at this index
};

job_table_actor::behavior_type job_table(job_table_actor::stateful_pointer<job_table_state> self);

}  // namespace troupe
