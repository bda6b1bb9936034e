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
  // The snapshot being encoded a piece per write_atom (compact_atom), the
  // index it holds, and its reply.
  std::uint64_t snapshot_index = 0;
  caf::typed_response_promise<snapshot_blob> snapshot_taken;
};

// What job_table handles: its interface, and the next piece of a snapshot's
// encode, which it sends itself.
using job_table_impl = job_table_actor::extend<caf::reacts_to<write_atom>>;

job_table_impl::behavior_type job_table(job_table_impl::stateful_pointer<job_table_state> self);

}  // namespace troupe
