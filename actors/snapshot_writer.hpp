// snapshot_writer: writes this node's own snapshot file a piece at a time as
// job_table encodes it (<raft dir>/snapshot.<index>.tmp), and completes it
// with its fsync. Spawned detached, beside log_store rather than inside it:
// the pieces' writes and the final fsync took 16-44 ms of log_store's time
// per compaction at 64 submits in flight, and up to 73 ms a piece at a
// million jobs, time every append then waited (docs/BENCHMARKS.md). Which
// snapshot is current stays log_store's to say: it installs the finished file.
#pragma once

#include <memory>
#include <string>

#include "actors/interfaces.hpp"
#include "runtime/storage/state_files.hpp"

namespace troupe {

struct snapshot_writer_state {
  static inline const char* name = "snapshot_writer";
  std::string dir;
  std::unique_ptr<storage::snapshot_file_writer> file;  // the snapshot in progress
};

snapshot_writer_actor::behavior_type snapshot_writer(
    snapshot_writer_actor::stateful_pointer<snapshot_writer_state> self, std::string dir);

}  // namespace troupe
