// Transparent huge pages for the node's heap. A node holds its whole job
// table on the heap (~470 MiB at a million jobs), and a restart builds it
// anew: with 4 KiB pages that is ~120,000 page faults, which cost ~10 µs
// each on a paravirtualised host (docs/BENCHMARKS.md, thirtieth round).
// glibc's malloc advises huge pages (MADV_HUGEPAGE on the memory it takes
// from the kernel for its main heap, 2 MiB at a time) only when its tunable
// glibc.malloc.hugetlb is 1, and reads its tunables from GLIBC_TUNABLES once,
// as a process starts. So a node execs itself once -- the same binary,
// arguments and pid -- with that tunable added, unless the environment
// already chose it: GLIBC_TUNABLES=glibc.malloc.hugetlb=0 keeps 4 KiB pages.
// glibc gives the advice only when the kernel's THP mode is "madvise"
// (/sys/kernel/mm/transparent_hugepage/enabled); under "always" the kernel
// gives the heap huge pages without it, under "never" none, so in either the
// node does not exec.
//
// Only the main heap gets the advice, not the arenas glibc gives other
// threads (they grow 4 KiB at a time), so the node builds its table from a
// snapshot on the main thread (bootstrap.cpp, restore_table). All threads on
// the main heap (glibc.malloc.arena_max=1) was tried: a drain ran 10-20%
// slower. The node never forks (jobs start through posix_spawn and a fork
// server), so no copy-on-write of huge pages follows.
#pragma once

#include <optional>
#include <string>

namespace troupe::node {

// The GLIBC_TUNABLES value (`current`: the variable's value, null when
// unset) with glibc.malloc.hugetlb=1 added after it; nullopt when `current`
// already sets glibc.malloc.hugetlb, to whatever value.
std::optional<std::string> tunables_with_huge_pages(const char* current);

// The kernel's THP mode ("always", "madvise", "never") as `path` names it
// between brackets; empty when the file cannot be read (no THP).
std::string thp_mode(const std::string& path = "/sys/kernel/mm/transparent_hugepage/enabled");

// When the THP mode is "madvise": execs /proc/self/exe with `argv` and
// GLIBC_TUNABLES from tunables_with_huge_pages, at most once (a variable
// marks the second start, and is removed by it), and the process keeps its
// name (its comm, not "exe"). Call it first in main, before any thread
// starts.
// Returns when no exec was needed (another mode, the tunable already set,
// or this is the second start), or when it failed (then the environment
// is as it was and the node runs with 4 KiB pages: a line on stderr says
// why).
void exec_with_huge_pages(char** argv);

// For the node's log: "glibc.malloc.hugetlb=1, kernel THP mode madvise".
std::string describe_huge_pages();

}  // namespace troupe::node
