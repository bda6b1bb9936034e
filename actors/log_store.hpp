// log_store: the only actor that touches the Raft log files. It persists what
// raft_node's ready bundle says (snapshot, hard state, entries) and fsyncs once
// per bundle, so one fsync covers every entry that arrived meanwhile (group
// commit: raft_node keeps one bundle in flight and batches the rest).
// Spawned detached: fsync blocks, and must not block a scheduler thread.
// This node's own snapshots are written by snapshot_writer, on a thread of
// its own; log_store installs each once finished.
#pragma once

#include <memory>
#include <string>

#include "actors/interfaces.hpp"
#include "runtime/storage/segmented_log.hpp"
#include "runtime/storage/state_files.hpp"

namespace troupe {

struct log_store_state {
  static inline const char* name = "log_store";
  std::shared_ptr<storage::segmented_log> log;
  std::string dir;
  raft::hard_state saved;  // what the hard state file holds
  raft::index_t snapshot_index = 0;  // the snapshot file's (0: none)
};

log_store_actor::behavior_type log_store(log_store_actor::stateful_pointer<log_store_state> self,
                                        std::shared_ptr<storage::segmented_log> log, std::string dir,
                                        raft::hard_state saved, raft::index_t snapshot_index);

}  // namespace troupe
