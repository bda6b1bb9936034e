// The dispatcher's pending jobs in placement order: (created_at_ns, id)
// ascending, the order the job table lists them in (jobs::creation_order),
// so the oldest pending job is placed first.
//
// Why a B-tree of (created, id) beside an id -> created hash index: a
// std::set there descends a red-black tree and allocates a node per job,
// which showed in the leader's profile with tens of thousands of jobs pending
// (issue #12). The sorted deque with lazy deletion that replaced it made
// pushes at either end O(1), but a job re-queued after its worker was lost
// goes back to its place by creation time, usually the middle: each such
// insert moved half the deque, and a lost worker's 5,600 jobs (one
// requeue_jobs entry) into 100,000 pending stalled the dispatcher, and every
// submit behind it, for 1.6-2.5 s (bench/scale.sh). A B-tree inserts
// anywhere in O(log n) touching a few contiguous nodes, allocates per node of
// many entries, and erases in place, so nothing is left to compact. At the
// ends it costs ~0.3 us more per job than the deque (bench_pending_queue),
// nothing beside the ~1.3 ms a job costs the nodes.
// Not thread-safe; pure (no clock, no I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <absl/container/btree_set.h>
#include <absl/container/flat_hash_map.h>

namespace troupe {

class pending_queue {
 public:
  // Queues a job; false (and no change) when it is queued already.
  bool push(const std::string& id, std::int64_t created_at_ns);
  // Removes a job; false when it was not queued.
  bool erase(const std::string& id);
  bool contains(const std::string& id) const { return index_.count(id) != 0; }
  std::size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  void clear();

  // Calls f(created_at_ns, id) for each queued job, oldest first, while f
  // returns true. f must not change the queue.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [created_at_ns, id] : order_)
      if (!f(created_at_ns, id)) return;
  }

 private:
  // (created_at_ns, id) ascending: jobs::creation_order.
  absl::btree_set<std::pair<std::int64_t, std::string>> order_;
  // queued id -> created_at_ns, the key of its entry; open addressing (never
  // iterated, so its order cannot leak into placement)
  absl::flat_hash_map<std::string, std::int64_t> index_;
};

}  // namespace troupe
