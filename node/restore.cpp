#include "node/restore.hpp"

#include <algorithm>
#include <filesystem>

#include "node/data_dir_lock.hpp"
#include "runtime/jobs/job_table.hpp"
#include "runtime/storage/posix_file.hpp"
#include "runtime/storage/state_files.hpp"

namespace troupe::node {
namespace {

namespace fs = std::filesystem;

// Anything in the dir but the lock this process just took: a restore is for
// a new node, and must not mix a backup with a log or outputs already there.
void require_empty(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name != "LOCK") found.push_back(name);
  }
  if (ec) throw storage::storage_error("cannot list the data dir " + dir + ": " + ec.message());
  if (found.empty()) return;
  std::sort(found.begin(), found.end());
  std::string names;
  for (std::size_t i = 0; i < found.size() && i < 3; ++i) names += (i ? ", " : "") + found[i];
  if (found.size() > 3) names += ", ...";
  throw data_dir_not_empty("data dir " + dir + " is not empty (it holds " + names +
                           "); --restore only seeds a new, empty data dir: move it away or choose another --data-dir");
}

}  // namespace

restore_summary restore_data_dir(const config::node_config& cfg, const std::string& file) {
  // 1. The whole file is checked (checksum, job data, counts) before the
  // data dir is created or locked: a bad file leaves no trace.
  backup::contents backup = backup::read_backup_file(file);

  // 2. The node's own lock, then nothing else may be there.
  data_dir_lock lock(cfg.data_dir);
  require_empty(cfg.data_dir);

  // 3. The same jobs, with the old cluster's workers forgotten.
  restore_summary out;
  out.meta = backup.meta;
  jobs::job_table table;
  table.restore(backup.data);  // decoded already once; cannot fail differently now
  std::string().swap(backup.data);
  out.requeued = table.forget_workers();

  raft::snapshot snap;
  snap.meta.index = backup.meta.index;
  snap.meta.term = backup.meta.term;
  // The new cluster's configuration: the config's members, all voters, with
  // their addresses (the replicated configuration from now on).
  for (const auto& m : cfg.members) snap.meta.conf.put(raft::member{m.id, true, m.address, m.http_address, m.wire_address});
  snap.data = table.snapshot();
  out.voters = snap.meta.conf.voters();

  // 4. What a follower's log_store writes when it installs a snapshot
  // (data_dir/raft is what the bootstrap opens). The hard state keeps the
  // backup's term, so the new cluster's first election is at a later term
  // than every entry the snapshot covers; no vote; commit at the snapshot.
  out.raft_dir = cfg.data_dir + "/raft";
  storage::ensure_directory(out.raft_dir);
  std::error_code ec;
  fs::permissions(out.raft_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  storage::save_snapshot(out.raft_dir, snap);
  storage::save_hard_state(out.raft_dir, raft::hard_state{backup.meta.term, raft::no_node, backup.meta.index});
  return out;
}

}  // namespace troupe::node
