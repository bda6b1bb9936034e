// The one order every listing uses: (created_at_ns, id) ascending. Ids break
// ties between jobs created in the same nanosecond, so the order is total and
// identical on every node. Neither field changes while a job is indexed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <absl/container/btree_set.h>

#include "runtime/jobs/job.hpp"

namespace troupe::jobs {

// A position in the creation order; what a page token carries.
struct list_cursor {
  std::int64_t created_at_ns = 0;
  std::string id;

  friend bool operator==(const list_cursor& a, const list_cursor& b) {
    return a.created_at_ns == b.created_at_ns && a.id == b.id;
  }
};

// A creation time alone, for range bounds: lower_bound(created_time{t}) is the
// first job created at or after t, upper_bound(created_time{t}) the first after t.
struct created_time {
  std::int64_t ns;
};

// One job in an index. The creation time is copied into the tree node so a
// lookup descends comparing plain integers; the job (and its id) is only
// dereferenced to break ties. At a million jobs that is the difference between
// one cache miss per tree level and three.
struct index_entry {
  std::int64_t created_at_ns;
  const job* j;

  explicit index_entry(const job* jp) : created_at_ns(jp->created_at_ns), j(jp) {}
  const job& operator*() const { return *j; }
  const job* operator->() const { return j; }
};

struct creation_order {
  using is_transparent = void;  // lets set::lower_bound take a cursor or a time

  bool operator()(const index_entry& a, const index_entry& b) const {
    if (a.created_at_ns != b.created_at_ns) return a.created_at_ns < b.created_at_ns;
    return a.j->id < b.j->id;
  }
  bool operator()(const index_entry& a, const list_cursor& c) const {
    if (a.created_at_ns != c.created_at_ns) return a.created_at_ns < c.created_at_ns;
    return a.j->id < c.id;
  }
  bool operator()(const list_cursor& c, const index_entry& b) const {
    if (c.created_at_ns != b.created_at_ns) return c.created_at_ns < b.created_at_ns;
    return c.id < b.j->id;
  }
  bool operator()(const index_entry& a, created_time t) const { return a.created_at_ns < t.ns; }
  bool operator()(created_time t, const index_entry& b) const { return t.ns < b.created_at_ns; }

  static bool less(std::int64_t at_a, std::string_view id_a, std::int64_t at_b, std::string_view id_b) {
    if (at_a != at_b) return at_a < at_b;
    return id_a < id_b;
  }
};

// B-trees, not red-black trees: every status change finds and moves a job in
// three to five of these indexes, and at a million jobs a std::set lookup
// missed the cache at each of its ~20 levels (the most sampled code while a
// restarted node's failure reports were applied). A B-tree node holds many
// entries: a lookup touches a few nodes, and an entry costs its 16 bytes
// plus slack instead of a 48-byte node and malloc's header. bench_scale at
// 1M jobs: 659 -> 492 bytes per job, a re-queue entry's apply 3.7 -> 1.8 ms.
using job_set = absl::btree_set<index_entry, creation_order>;

// Terminal jobs by (completed_at_ns, created_at_ns, id): eviction takes a prefix.
struct completion_entry {
  std::int64_t completed_at_ns;
  index_entry by_creation;

  explicit completion_entry(const job* jp) : completed_at_ns(jp->completed_at_ns.value_or(0)), by_creation(jp) {}
};

struct completion_order {
  bool operator()(const completion_entry& a, const completion_entry& b) const {
    if (a.completed_at_ns != b.completed_at_ns) return a.completed_at_ns < b.completed_at_ns;
    return creation_order{}(a.by_creation, b.by_creation);
  }
};

}  // namespace troupe::jobs
