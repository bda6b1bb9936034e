// A CPU list in the kernel's syntax (cpuset.cpus, taskset -c, Slurm's
// CpuSpecList): "1", "0-3", "0,2,4-7". [executor.process] cpus uses it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace troupe::config {

// The largest CPU number a list may name (CPU_SETSIZE - 1: what
// sched_setaffinity's cpu_set_t holds).
constexpr unsigned max_cpu = 1023;

// The CPUs the list names, ascending and without repeats; nullopt with
// `error` set when it is not a list ("" is not one either). Spaces around
// items are allowed.
std::optional<std::vector<unsigned>> parse_cpu_list(const std::string& text, std::string& error);

}  // namespace troupe::config
