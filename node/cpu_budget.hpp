// How many CPUs this process may use, which sizes CAF's scheduler: the
// online CPUs, narrowed by the affinity mask (taskset, cpusets) and by the
// CPU quota of its cgroup and the cgroup's ancestors (cgroup v2 `cpu.max`,
// v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`). A container limited to 2 CPUs
// on a 64-core host would otherwise run 64 CAF workers, and a burst that
// wakes them all spends the period's quota at once, after which the kernel
// throttles the whole node, Raft heartbeats included, until the next
// period (what Go's runtime did in containers until it read the quota too).
#pragma once

#include <optional>
#include <string>

namespace troupe::node {

struct cpu_budget {
  unsigned online = 1;          // CPUs online on the machine
  unsigned allowed = 1;         // of them, in this process's affinity mask
  std::optional<double> quota;  // CPUs' worth of time per period, when a cgroup limits it

  // min(allowed, quota rounded up), at least 1.
  unsigned usable() const;
  // "2 online, 2 allowed, no CPU quota" or "..., a CPU quota of 1.5 CPUs".
  std::string describe() const;
};

// Reads the budget from the running system: <proc>/self/cgroup names this
// process's cgroups, their limits are read under <cgroup_root> (both
// parameters for tests). An unreadable or malformed file counts as no limit.
cpu_budget read_cpu_budget(const std::string& proc = "/proc", const std::string& cgroup_root = "/sys/fs/cgroup");

// The contents of a cgroup v2 `cpu.max` ("max 100000", "150000 100000") as
// CPUs: nullopt when unlimited or malformed.
std::optional<double> parse_cpu_max(const std::string& text);

}  // namespace troupe::node
