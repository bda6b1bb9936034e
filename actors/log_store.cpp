#include "actors/log_store.hpp"

#include <chrono>

#include "runtime/common/log.hpp"
#include "runtime/storage/state_files.hpp"

namespace troupe {

namespace {

// The installed snapshot's data, mapped from its file (see persist_done).
// Not being able to map it costs memory, not correctness: the core keeps
// the leader's snapshot it already holds in memory; for one of ours, which
// the core does not hold, the file is read instead.
void map_installed(const log_store_state& st, raft::index_t index, persist_done& done, bool read_if_unmapped) {
  done.snapshot_index = index;
  try {
    done.snapshot_file = storage::map_snapshot_data(st.dir, index);
    return;
  } catch (const storage::storage_error& e) {
    TLOG(warn, "log_store") << "cannot map the snapshot at index " << index << " (" << e.what() << "); "
                            << (read_if_unmapped ? "reading it into memory" : "keeping it in memory");
  }
  if (read_if_unmapped) done.snapshot_file = storage::load_snapshot(st.dir).value().data;
}

}  // namespace

log_store_actor::behavior_type log_store(log_store_actor::stateful_pointer<log_store_state> self,
                                        std::shared_ptr<storage::segmented_log> log, std::string dir,
                                        raft::hard_state saved, raft::index_t snapshot_index) {
  self->state.log = std::move(log);
  self->state.dir = std::move(dir);
  self->state.saved = saved;
  self->state.snapshot_index = snapshot_index;
  return {
      [=](persist_atom, persist_request& req) -> persist_done {
        auto& st = self->state;
        auto t0 = std::chrono::steady_clock::now();
        persist_done done;
        if (req.snapshot) {
          // A snapshot from the leader replaces the whole stored log; the
          // entries that follow it arrive in this same request. One of our
          // own that snapshot_writer may be writing is older (the core
          // installs a snapshot only past what it has applied): install_atom
          // will remove it.
          storage::save_snapshot(st.dir, *req.snapshot);
          st.snapshot_index = req.snapshot->meta.index;
          if (!st.log->empty()) st.log->truncate_suffix(st.log->first_index());
          st.log->sync();
          map_installed(st, st.snapshot_index, done, false);
        }
        // Entries before the hard state: a hard state that moved term and
        // commit together with a repairing append must never be durable
        // without those entries, or a crash between the two writes restarts
        // the node with the new commit over stale entries (it would apply
        // entries that never committed). The other order is safe: the entries
        // alone are just an uncommitted tail, and no message depending on
        // this bundle's term or vote has been sent yet (a leader sends before
        // persisting only when its term and vote are already durable).
        if (!req.entries.empty()) {
          st.log->append(req.entries);
          st.log->sync();
        }
        // Only term and vote must be durable before we answer (Figure 2); the
        // commit index is recovered from the leader, so a hard state that only
        // moved its commit index is not worth three fsyncs.
        if (req.hard_state &&
            (req.hard_state->term != st.saved.term || req.hard_state->vote != st.saved.vote)) {
          storage::save_hard_state(st.dir, *req.hard_state);
          st.saved = *req.hard_state;
        }
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        done.last_index = st.log->last_index();
        done.fsync_us = static_cast<std::uint64_t>(us);
        return done;
      },
      // A snapshot of our own, which snapshot_writer has finished: installed
      // only over an older one, so the file never goes back, nor the log
      // behind it. raft_node has one in flight at most.
      [=](install_atom, raft::index_t index) -> persist_done {
        auto& st = self->state;
        persist_done done;
        if (index > st.snapshot_index) {
          storage::install_snapshot_file(st.dir, index);
          st.snapshot_index = index;
          st.log->compact_prefix(index);
          TLOG(debug, "log_store") << "snapshot saved at index " << index << ", log now starts at "
                                   << st.log->first_index();
          map_installed(st, index, done, true);
        } else {
          storage::remove_snapshot_file(st.dir, index);  // the leader's, newer, came meanwhile
        }
        done.last_index = st.log->last_index();
        return done;
      },
  };
}

}  // namespace troupe
