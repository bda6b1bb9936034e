// backup_taker: one backup (AdminService.SaveSnapshot). Asks the job table
// for its image a piece at a time (the table serves applies and queries
// between the pieces, as during a compaction), writes each piece to a spool
// file in the data directory (runtime/backup/spool_file.hpp: the image is
// never on the heap whole), then answers the image and exits. Spawned
// detached for a single request: the writes run on a thread of its own. Its
// end, for any reason, drops the backup in the table.
#pragma once

#include <cstdint>
#include <string>

#include "actors/interfaces.hpp"

namespace troupe {

using backup_taker_actor = caf::typed_actor<caf::replies_to<backup_atom>::with<table_image>>;

struct backup_taker_state {
  static inline const char* name = "backup_taker";
};

// `min_index`: the image must cover at least this index (the ReadIndex the
// caller waited for); the table answering below it is an internal error.
backup_taker_actor::behavior_type backup_taker(backup_taker_actor::stateful_pointer<backup_taker_state> self,
                                               job_table_actor table, std::string spool_dir,
                                               std::uint64_t min_index);

}  // namespace troupe
