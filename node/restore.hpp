// troupe-node --restore FILE: seeds an empty data dir from a backup file
// (troupe snapshot save) so that the node, started normally afterwards,
// begins a NEW cluster whose members are the ones in its configuration and
// whose job table is the backup's. Like `etcdutl snapshot restore`, it only
// writes the dir and returns; nothing listens.
//
// The dir is written through the same code a node uses when it installs a
// snapshot from its leader (runtime/storage/state_files: atomic, fsynced
// files): <data_dir>/raft/snapshot at the backup's index and term with this
// configuration's members as voters, and <data_dir>/raft/hard_state at that
// term, no vote, commit = the index. The log is empty; the node's start
// creates it as for any node whose log a snapshot replaced.
//
// The job table is the backup's with its old workers forgotten
// (jobs::job_table::forget_workers): every assigned or running job goes back
// to pending and runs again in the new cluster, no worker stays drained.
// Restore every member from the same file (the result is the same bytes on
// each); a member started with an empty dir instead could win an election
// with an empty log.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/node_config.hpp"
#include "runtime/backup/backup_file.hpp"

namespace troupe::node {

// The data dir holds something already (a restore never overwrites a node).
struct data_dir_not_empty : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct restore_summary {
  backup::metadata meta;
  std::size_t requeued = 0;             // assigned or running jobs that went back to pending
  std::vector<std::uint64_t> voters;    // the new cluster's members
  std::string raft_dir;
};

// Verifies `file` completely before it touches the data dir. Throws
// backup::backup_error (the file), data_dir_not_empty, node::data_dir_in_use
// (a node runs on it), storage::storage_error (writing the dir).
restore_summary restore_data_dir(const config::node_config& cfg, const std::string& file);

}  // namespace troupe::node
