// The dispatcher's pending jobs in placement order: (created_at_ns, id)
// ascending, the order the job table lists them in (jobs::creation_order),
// so the oldest pending job is placed first.
//
// Why not a std::set<std::pair<created, id>> and a map id -> created: every
// insert and erase there descends red-black trees comparing strings and
// allocates nodes, and with tens of thousands of jobs pending that showed in
// the leader's profile (issue #12). Here:
//  - the order is a deque sorted by (created_at_ns, id). The leader stamps
//    jobs from its clock as it proposes them, so a new job nearly always goes
//    at the back, and placement takes the oldest, at the front: both O(1).
//    A job re-queued after a dead worker goes back near the front (its
//    creation time is old), which a deque also inserts cheaply;
//  - an id -> creation time hash index answers "is it queued" and gives the
//    key to find its entry by binary search;
//  - removal marks the entry dead in place (lazy deletion) instead of moving
//    the entries after it: a dead entry keeps its key, so the deque stays
//    sorted and searchable. Dead entries are dropped as they reach either end,
//    and all at once when they outnumber the live ones, so memory stays
//    proportional to the jobs queued.
// Not thread-safe; pure (no clock, no I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

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
    for (const auto& e : order_)
      if (e.live && !f(e.created_at_ns, e.id)) return;
  }

  // Entries held, dead ones included (for tests: memory stays bounded).
  std::size_t entries() const { return order_.size(); }

 private:
  struct entry {
    std::int64_t created_at_ns;
    std::string id;
    bool live;
  };
  // Dead entries are compacted away once there are more than this many and
  // more dead than live ones.
  static constexpr std::size_t compact_above = 1024;

  void trim();

  std::deque<entry> order_;                              // sorted by (created_at_ns, id); dead ones kept in place
  // queued id -> created_at_ns; open addressing (never iterated, so its
  // order cannot leak into placement)
  absl::flat_hash_map<std::string, std::int64_t> index_;
  std::size_t dead_ = 0;                                 // dead entries in order_
};

}  // namespace troupe
